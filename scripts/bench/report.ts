/** Results model, terminal/markdown tables with ratios, and the JSON/SVG files. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RanAs, Sample } from './methods.js';
import { type Summary, formatNs, formatRatio, summarize } from './stats.js';
import { type BarRow, type Panel, barChartSvg, cdfPlotSvg } from './svg.js';

export interface MethodResult {
  id: string;
  label: string;
  cycles: number;
  /** Cycles the engine reported as failed (not in the samples). */
  failures: number;
  cpuPerCycleNs: number;
  /** The daemon's CPU time per cycle, where the method measures it (the sidecar). */
  daemonCpuPerCycleNs?: number;
  /** Round trips to a Node HTTP server that does no work, in the same rounds (the sidecar's floor). */
  floor?: Summary;
  /** How the samples really ran, checked while they ran. */
  ranAs: RanAs;
  freeze: Summary;
  thaw: Summary;
  resume: Summary;
  /** The spinner's wait for a CPU within the resume, where every sample recorded it. */
  cpuWait?: Summary;
  samples: Sample[];
}

export interface CaseResult {
  id: string;
  group: 'scratch' | 'container' | 'batch';
  title: string;
  mode: 'v1' | 'v2';
  /** Tasks in the cgroup (scratch), or containers in one call (batch). */
  size: number;
  warm: boolean;
  methods: MethodResult[];
}

export interface StuckRun {
  method: string;
  deadlineMs: number;
  elapsedNs: number;
  cpuNs: number;
  code: string;
  rolledBack: boolean;
  thawedAfter: boolean;
}

export interface BenchReport {
  tool: 'cgfreeze-bench';
  startedAt: string;
  finishedAt: string;
  options: Record<string, unknown>;
  machine: Record<string, unknown>;
  cases: CaseResult[];
  stuck: StuckRun[];
  /** Parts that could not run here and why (not failures of the harness). */
  notes: string[];
  errors: string[];
}

/** A method's samples and how it ran, summarized. */
export function methodResult(run: {
  id: string;
  label: string;
  samples: Sample[];
  cpuPerCycleNs: number;
  daemonCpuPerCycleNs?: number;
  floorNs?: number[];
  failures?: number;
  ranAs?: RanAs;
}): MethodResult {
  const { samples } = run;
  return {
    id: run.id,
    label: run.label,
    cycles: samples.length,
    failures: run.failures ?? 0,
    cpuPerCycleNs: run.cpuPerCycleNs,
    ...(run.daemonCpuPerCycleNs === undefined ? {} : { daemonCpuPerCycleNs: run.daemonCpuPerCycleNs }),
    ...(run.floorNs === undefined ? {} : { floor: summarize(run.floorNs) }),
    ranAs: run.ranAs ?? {},
    freeze: summarize(samples.map((s) => s.freezeNs)),
    thaw: summarize(samples.map((s) => s.thawNs)),
    resume: summarize(samples.map((s) => s.resumeNs)),
    ...cpuWait(samples),
    samples,
  };
}

function cpuWait(samples: readonly Sample[]): { cpuWait?: Summary } {
  const waits = samples.flatMap((s) => (s.cpuWaitNs === undefined ? [] : [s.cpuWaitNs]));
  return waits.length === samples.length && waits.length > 0 ? { cpuWait: summarize(waits) } : {};
}

/** A method's name in the tables and plots: its label, and its failed cycles if any. */
export const shownLabel = (m: MethodResult): string =>
  m.failures === 0 ? m.label : `${m.label} (${m.failures} failed)`;

type Row = string[];

function renderTable(header: Row, rows: Row[], markdown: boolean): string {
  if (markdown) {
    const line = (r: Row): string => `| ${r.join(' | ')} |`;
    return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: Row): string =>
    r.map((c, i) => (i < 2 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  return [line(header), widths.map((w) => '─'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

const find = (c: CaseResult, id: string): MethodResult | undefined => c.methods.find((m) => m.id === id);

/** A method of a case: one side of a comparison. */
interface Operand {
  c: CaseResult;
  m: MethodResult;
}

const operand = (c: CaseResult | undefined, id: string): Operand | undefined => {
  const m = c === undefined ? undefined : find(c, id);
  return c === undefined || m === undefined ? undefined : { c, m };
};

/**
 * Why a method did not run as its label and its case's label say, or
 * undefined when it did: a keepWarm case's samples must all have run beside
 * the frozen keepWarm cgroup, a keep-alive method must open no connection
 * during its samples.
 */
export function labelMiss({ c, m }: Operand): string | undefined {
  const where = `${shownLabel(m)} in "${c.title}"`;
  if (c.warm) {
    const warm = m.ranAs.warmSamples;
    if (warm === undefined) return `${where} did not record whether its samples ran warm`;
    if (warm < m.cycles)
      return `${where}: ${m.cycles - warm} of ${m.cycles} samples ran without the keepWarm cgroup frozen (cold)`;
  }
  const opened = m.ranAs.newConnections ?? 0;
  if (opened > 0) return `${where}: opened ${opened} connection(s) during its samples (labelled keep-alive)`;
  return undefined;
}

/** Every method of the run that did not run as labelled: each one fails the run. */
export function labelMisses(report: BenchReport): string[] {
  return report.cases.flatMap((c) => c.methods.flatMap((m) => labelMiss({ c, m }) ?? []));
}

/**
 * Methods whose resume was, in most samples, mostly the workload or its
 * observer waiting for a CPU: on a loaded machine their figures measure the
 * run queue, not the freezer. Reported, not judged (load is the machine's,
 * not a false label).
 */
export function loadBound(report: BenchReport): string[] {
  return report.cases.flatMap((c) =>
    c.methods.flatMap((m) =>
      m.cpuWait === undefined || !isLoadBound(m)
        ? []
        : [
            `${shownLabel(m)} in "${c.title}": ${waitedResumes(m)} of ${m.cycles} resumes spent over half their ` +
              `time waiting for a CPU (wait p50 ${formatNs(m.cpuWait.p50)}, resume p50 ${formatNs(m.resume.p50)})`,
          ],
    ),
  );
}

/** Resumes that spent over half their time waiting for a CPU. */
const waitedResumes = (m: MethodResult): number =>
  m.samples.filter((s) => s.cpuWaitNs !== undefined && s.cpuWaitNs > s.resumeNs / 2).length;

const isLoadBound = (m: MethodResult): boolean => waitedResumes(m) > m.cycles / 2;

/**
 * `a ÷ base` on `pick`; invalid when either side did not run as labelled,
 * load-bound when either side mostly waited for a CPU.
 */
interface Comparison {
  value: number;
  invalid: boolean;
  loadBound: boolean;
}

function compare(a: Operand, base: Operand, pick: (m: MethodResult) => number): Comparison {
  return {
    value: pick(a.m) / pick(base.m),
    invalid: labelMiss(a) !== undefined || labelMiss(base) !== undefined,
    loadBound: isLoadBound(a.m) || isLoadBound(base.m),
  };
}

/** The marker a table shows instead of a ratio that must not be read. */
const INVALID = 'INVALID';

const ratioCell = (r: Comparison): string => (r.invalid ? INVALID : formatRatio(r.value));

/** One column of a per-method table: its header and its cell for a method of a case. */
type Column = [header: string, cell: (m: MethodResult) => string];

function methodTable(
  cases: readonly CaseResult[],
  first: string,
  columns: (c: CaseResult) => Column[],
  markdown: boolean,
): string {
  const rows: Row[] = [];
  let header: Row = [first, 'method'];
  for (const c of cases) {
    const cols = columns(c);
    header = [first, 'method', ...cols.map(([h]) => h)];
    for (const m of c.methods) rows.push([c.title, shownLabel(m), ...cols.map(([, cell]) => cell(m))]);
  }
  return renderTable(header, rows, markdown);
}

/** `m ÷ base` on `pick` for the methods of case `c`; blank without a base and for the base itself. */
function ratioColumn(
  header: string,
  c: CaseResult,
  base: Operand | undefined,
  pick: (m: MethodResult) => number,
): Column {
  return [header, (m) => (base === undefined || m === base.m ? '' : ratioCell(compare({ c, m }, base, pick)))];
}

export function scratchTable(cases: readonly CaseResult[], markdown = false): string {
  return methodTable(
    cases.filter((x) => x.group !== 'batch'),
    'case',
    (c) => {
      const raw = operand(c, 'raw-c');
      return [
        ['freeze p50', (m) => formatNs(m.freeze.p50)],
        ['freeze p99', (m) => formatNs(m.freeze.p99)],
        ['thaw p50', (m) => formatNs(m.thaw.p50)],
        ['resume p50', (m) => formatNs(m.resume.p50)],
        ['p90', (m) => formatNs(m.resume.p90)],
        ['p99', (m) => formatNs(m.resume.p99)],
        ['max', (m) => formatNs(m.resume.max)],
        ['waited for CPU p50', (m) => (m.cpuWait === undefined ? '' : formatNs(m.cpuWait.p50))],
        ['CPU/cycle', (m) => formatNs(m.cpuPerCycleNs)],
        ratioColumn('freeze ÷ C', c, raw, (m) => m.freeze.p50),
        ratioColumn('resume ÷ C', c, raw, (m) => m.resume.p50),
      ];
    },
    markdown,
  );
}

/** The v1 keepWarm case that goes with a container case. */
const warmCaseOf = (cases: readonly CaseResult[], c: CaseResult): CaseResult | undefined =>
  cases.find((o) => o.group === 'container' && o.warm && o.mode === c.mode);

/** Engines against cgfreeze on the same container: how many times slower each engine path is. */
export function engineTable(cases: readonly CaseResult[], markdown = false): string {
  return methodTable(
    cases.filter((x) => x.group === 'container' && !x.warm),
    'lab',
    (c) => {
      const resume = (m: MethodResult): number => m.resume.p50;
      return [
        ['pause p50', (m) => formatNs(m.freeze.p50)],
        ['pause p90', (m) => formatNs(m.freeze.p90)],
        ['resume p50', (m) => formatNs(m.resume.p50)],
        ['resume p90', (m) => formatNs(m.resume.p90)],
        ['resume p99', (m) => formatNs(m.resume.p99)],
        ['CPU/cycle', (m) => formatNs(m.cpuPerCycleNs)],
        ratioColumn('resume ÷ cgfreeze sync', c, operand(c, 'cgfreeze-sync'), resume),
        ratioColumn('resume ÷ cgfreeze warm', c, operand(warmCaseOf(cases, c), 'cgfreeze-sync'), resume),
      ];
    },
    markdown,
  );
}

/** The methods the sidecar table sets side by side. */
const SIDECAR_TABLE = ['cgfreeze-sync', 'sidecar', 'sidecar-ttl', 'dockerode'];

/**
 * The sidecar (cgfreeze serve through cgfreeze/client) against the direct API
 * and the Engine API on the same container: the calls' round trips.
 */
export function sidecarTable(cases: readonly CaseResult[], markdown = false): string {
  const shown = cases
    .filter((c) => c.group === 'container' && c.methods.some((m) => m.id.startsWith('sidecar')))
    .map((c) => ({ ...c, methods: c.methods.filter((m) => SIDECAR_TABLE.includes(m.id)) }));
  return methodTable(
    shown,
    'lab',
    (c) => {
      const direct = operand(c, 'cgfreeze-sync');
      return [
        ['pause p50', (m) => formatNs(m.freeze.p50)],
        ['pause p90', (m) => formatNs(m.freeze.p90)],
        ['pause p99', (m) => formatNs(m.freeze.p99)],
        ['unpause p50', (m) => formatNs(m.thaw.p50)],
        ['unpause p90', (m) => formatNs(m.thaw.p90)],
        ['unpause p99', (m) => formatNs(m.thaw.p99)],
        ['resume p50', (m) => formatNs(m.resume.p50)],
        ['CPU/cycle', (m) => formatNs(m.cpuPerCycleNs)],
        ['sidecar CPU/cycle', (m) => (m.daemonCpuPerCycleNs === undefined ? '' : formatNs(m.daemonCpuPerCycleNs))],
        ['bare HTTP round trip p50', (m) => (m.floor === undefined ? '' : formatNs(m.floor.p50))],
        ratioColumn('pause ÷ direct', c, direct, (m) => m.freeze.p50),
        ratioColumn('unpause ÷ direct', c, direct, (m) => m.thaw.p50),
      ];
    },
    markdown,
  );
}

export function batchTable(cases: readonly CaseResult[], markdown = false): string {
  return methodTable(
    cases.filter((x) => x.group === 'batch'),
    'batch',
    (c) => {
      const group = operand(c, 'cgfreeze-group');
      return [
        ['pause all p50', (m) => formatNs(m.freeze.p50)],
        ['pause all p90', (m) => formatNs(m.freeze.p90)],
        ['resume all p50', (m) => formatNs(m.thaw.p50)],
        ['resume all p90', (m) => formatNs(m.thaw.p90)],
        ['CPU/cycle', (m) => formatNs(m.cpuPerCycleNs)],
        ratioColumn('pause ÷ cgfreeze', c, group, (m) => m.freeze.p50),
        ratioColumn('resume ÷ cgfreeze', c, group, (m) => m.thaw.p50),
      ];
    },
    markdown,
  );
}

export function stuckTable(runs: readonly StuckRun[], markdown = false): string {
  const header = [
    'method',
    'deadline',
    'time to reject p50',
    'max',
    'overshoot max',
    'CPU while waiting (max)',
    'codes',
    'rolled back',
  ];
  const rows: Row[] = [];
  for (const method of [...new Set(runs.map((r) => r.method))]) {
    const rs = runs.filter((r) => r.method === method);
    const deadlineMs = rs[0]?.deadlineMs ?? 0;
    const el = summarize(rs.map((r) => r.elapsedNs));
    const cpuShare = Math.max(...rs.map((r) => r.cpuNs / r.elapsedNs));
    rows.push([
      method,
      `${deadlineMs} ms`,
      formatNs(el.p50),
      formatNs(el.max),
      `${(((el.max - deadlineMs * 1e6) / (deadlineMs * 1e6)) * 100).toFixed(1)}%`,
      `${(cpuShare * 100).toFixed(2)}% of a core`,
      [...new Set(rs.map((r) => r.code))].join(','),
      `${rs.filter((r) => r.rolledBack && r.thawedAfter).length}/${rs.length}`,
    ]);
  }
  return renderTable(header, rows, markdown);
}

/** What the targets table says of a comparison whose operands did not run as labelled. */
const RUN_FAILED = 'RUN FAILED: not as labelled';

/**
 * The issues' targets, checked against this run. A miss is reported, not
 * fatal (timings on a shared machine vary); a comparison with a method that
 * did not run as labelled fails the run.
 */
export function targetsTable(report: BenchReport, markdown = false): string {
  const header = ['target', 'case', 'measured', 'goal', 'met'];
  const rows: Row[] = [];
  const row = (target: string, where: string, measured: string, goal: string, met: boolean, r: Comparison): void =>
    void rows.push([
      target,
      where,
      measured,
      goal,
      r.invalid ? RUN_FAILED : `${met ? 'yes' : 'NO'}${r.loadBound ? ' (load-bound: see Load)' : ''}`,
    ]);
  /** A goal for the ratio `a ÷ base`. */
  const add = (
    target: string,
    where: string,
    [a, base]: [Operand | undefined, Operand | undefined],
    pick: (m: MethodResult) => number,
    goal: number,
    atMost: boolean,
  ): void => {
    if (a === undefined || base === undefined) return;
    const r = compare(a, base, pick);
    if (!Number.isFinite(r.value)) return;
    const met = atMost ? r.value <= goal : r.value >= goal;
    row(target, where, formatRatio(r.value), `${atMost ? '≤' : '≥'} ${formatRatio(goal)}`, met, r);
  };
  /** A goal for a time of `a`, shown next to the same time of `base`, the direct API in the same run. */
  const time = (
    target: string,
    where: string,
    [a, base]: [Operand | undefined, Operand | undefined],
    pick: (m: MethodResult) => number,
    goalNs: number,
  ): void => {
    if (a === undefined || base === undefined) return;
    const r = compare(a, base, pick);
    // The sidecar's own share: what it adds over a bare HTTP round trip on this machine at that moment.
    const floor = a.m.floor === undefined ? '' : `; bare HTTP round trip ${formatNs(a.m.floor.p50)}`;
    const measured = `${formatNs(pick(a.m))} (${formatRatio(r.value)} direct${floor})`;
    row(target, where, measured, `≤ ${formatNs(goalNs)}`, pick(a.m) <= goalNs, r);
  };
  const freeze = (m: MethodResult): number => m.freeze.p50;
  const thaw = (m: MethodResult): number => m.thaw.p50;
  const resume = (m: MethodResult): number => m.resume.p50;
  for (const c of report.cases.filter((x) => x.group === 'scratch' || x.group === 'container')) {
    const raw = operand(c, 'raw-c');
    const sync = operand(c, 'cgfreeze-sync');
    add('sync freeze p50 ÷ raw C', c.title, [sync, raw], freeze, 1.25, true);
    add('sync resume p50 ÷ raw C', c.title, [sync, raw], resume, 1.25, true);
    add('Promise resume p50 ÷ raw C', c.title, [operand(c, 'cgfreeze-promise'), raw], resume, 2, true);
    // Issue #3 states it for the thaw call; the resume adds the workload's wake-up to both.
    add('by reference ÷ by path (thaw p50)', c.title, [operand(c, 'cgfreeze-ref'), sync], thaw, 1.25, true);
    add('by reference ÷ by path (resume p50)', c.title, [operand(c, 'cgfreeze-ref'), sync], resume, 1.25, true);
    if (c.group === 'container' && !c.warm) {
      const api = operand(c, 'dockerode');
      add('dockerode resume p50 ÷ cgfreeze sync', c.title, [api, sync], resume, c.mode === 'v1' ? 50 : 400, false);
      const warm = operand(warmCaseOf(report.cases, c), 'cgfreeze-sync');
      add('dockerode resume p50 ÷ cgfreeze sync + keepWarm', c.title, [api, warm], resume, 400, false);
    }
    if (c.group === 'container' && c.mode === 'v2') {
      // Issue #10, on cgroup v2: the call's round trip through the socket, against thawSync/freezeSync.
      time('sidecar unpause p50 (call → reply)', c.title, [operand(c, 'sidecar'), sync], thaw, 300e3);
      time('sidecar pause with TTL p50 (durable)', c.title, [operand(c, 'sidecar-ttl'), sync], freeze, 2e6);
    }
  }
  for (const method of [...new Set(report.stuck.map((r) => r.method))]) {
    const rs = report.stuck.filter((r) => r.method === method);
    const worstOver = Math.max(...rs.map((r) => r.elapsedNs / (r.deadlineMs * 1e6)));
    const worstCpu = Math.max(...rs.map((r) => r.cpuNs / r.elapsedNs));
    const ok = rs.every((r) => r.code === 'ERR_FREEZE_TIMEOUT' && r.rolledBack && r.thawedAfter);
    rows.push([
      'stuck: rejects within 5% of the deadline (worst)',
      method,
      `${((worstOver - 1) * 100).toFixed(1)}%`,
      '≤ 5%',
      worstOver <= 1.05 ? 'yes' : 'NO',
    ]);
    rows.push([
      'stuck: CPU while waiting (worst)',
      method,
      `${(worstCpu * 100).toFixed(2)}% of a core`,
      '< 5%',
      worstCpu < 0.05 ? 'yes' : 'NO',
    ]);
    rows.push([
      'stuck: timeout error + rollback confirmed',
      method,
      `${rs.filter((r) => r.code === 'ERR_FREEZE_TIMEOUT' && r.rolledBack && r.thawedAfter).length}/${rs.length}`,
      'all',
      ok ? 'yes' : 'NO',
    ]);
  }
  return renderTable(header, rows, markdown);
}

export function fullText(report: BenchReport, markdown = false): string {
  const parts: string[] = [];
  const scratch = report.cases.filter((c) => c.group === 'scratch');
  if (scratch.length > 0) parts.push('Scratch cgroups (one busy task, the rest idle)', scratchTable(scratch, markdown));
  const containers = report.cases.filter((c) => c.group === 'container');
  if (containers.length > 0) {
    parts.push("Containers: cgfreeze and raw C on the container's cgroup", scratchTable(containers, markdown));
    parts.push('Containers: engines against cgfreeze', engineTable(containers, markdown));
    if (containers.some((c) => c.methods.some((m) => m.id.startsWith('sidecar'))))
      parts.push(
        'Sidecar: cgfreeze serve through cgfreeze/client (unix socket, keep-alive) against the direct API ' +
          '(freezeSync/thawSync) and the Engine API, on the same container',
        sidecarTable(containers, markdown),
      );
  }
  const batch = report.cases.filter((c) => c.group === 'batch');
  if (batch.length > 0) parts.push('Batch: N containers in one call', batchTable(batch, markdown));
  if (report.stuck.length > 0)
    parts.push('Stuck freeze (a task in an unanswered FUSE request)', stuckTable(report.stuck, markdown));
  parts.push('Targets (issues #4 and #10), from this run', targetsTable(report, markdown));
  const misses = labelMisses(report);
  if (misses.length > 0)
    parts.push(
      `RUN FAILED: ${misses.length} method(s) did not run as labelled; no comparison with them may be read`,
      misses.map((m) => `- ${m}`).join('\n'),
    );
  const loaded = loadBound(report);
  if (loaded.length > 0)
    parts.push(
      'Load: these resumes were mostly waiting for a CPU (the machine was busy); their ratios say little',
      loaded.map((l) => `- ${l}`).join('\n'),
    );
  if (report.notes.length > 0) parts.push('Notes', report.notes.map((n) => `- ${n}`).join('\n'));
  if (report.errors.length > 0) parts.push('Errors', report.errors.map((e) => `- ${e}`).join('\n'));
  return parts.join('\n\n') + '\n';
}

/**
 * The headline: resume p50 per method, one bar per cgroup version. From the
 * container cases when they ran (every method on the same container), else
 * from the scratch cases with the fewest tasks. Fastest first; a method that
 * did not run as labelled says so in its row.
 */
export function headline(report: BenchReport): { subtitle: string; series: string[]; rows: BarRow[] } {
  const containers = report.cases.filter((c) => c.group === 'container');
  const scratch = report.cases.filter((c) => c.group === 'scratch');
  const fewest = Math.min(...scratch.map((c) => c.size));
  const cases = containers.length > 0 ? containers : scratch.filter((c) => c.size === fewest);
  const modes = (['v2', 'v1'] as const).filter((mode) => cases.some((c) => c.mode === mode));
  const rows = new Map<string, BarRow & { values: Array<number | undefined> }>();
  for (const c of cases) {
    for (const m of c.methods) {
      const label = labelMiss({ c, m }) === undefined ? m.label : `${m.label} (NOT as labelled)`;
      const row = rows.get(label) ?? { label, values: modes.map(() => undefined) };
      row.values[modes.indexOf(c.mode)] = m.resume.p50;
      rows.set(label, row);
    }
  }
  const fastest = (r: BarRow): number => Math.min(...r.values.filter((v) => v !== undefined));
  return {
    subtitle:
      containers.length > 0
        ? 'one busybox container per lab, every method on the same container; thaw call → the workload runs'
        : `scratch cgroup, ${fewest} task${fewest === 1 ? '' : 's'}; thaw call → the workload runs`,
    series: modes.map((mode) => `cgroup ${mode}`),
    rows: [...rows.values()].sort((a, b) => fastest(a) - fastest(b)),
  };
}

/** Writes results.json (every sample), results.md, the headline and the CDF plots; returns their paths. */
export function writeOutputs(
  report: BenchReport,
  outDir: string,
): { json: string; markdown: string; headlineSvg: string; resumeSvg: string; freezeSvg: string } {
  mkdirSync(outDir, { recursive: true });
  const json = join(outDir, 'results.json');
  writeFileSync(json, JSON.stringify(report, null, 1) + '\n');
  const markdown = join(outDir, 'results.md');
  writeFileSync(markdown, fullText(report, true));
  const plotted = report.cases.filter((c) => c.group !== 'batch');
  const panels = (key: 'resumeNs' | 'freezeNs'): Panel[] =>
    plotted.map((c) => ({
      title: c.title,
      series: c.methods.map((m) => ({ label: shownLabel(m), samples: m.samples.map((s) => s[key]) })),
    }));
  const kernel = report.machine['kernel'];
  const host = typeof kernel === 'string' ? kernel : '';
  const top = headline(report);
  const headlineSvg = join(outDir, 'headline.svg');
  writeFileSync(
    headlineSvg,
    barChartSvg(`Resume p50 per method (log scale), ${host}, ${report.startedAt}`, top.subtitle, top.series, top.rows),
  );
  const resumeSvg = join(outDir, 'resume.svg');
  writeFileSync(
    resumeSvg,
    cdfPlotSvg(`Resume latency CDF (thaw call → workload runs), ${host}, ${report.startedAt}`, panels('resumeNs')),
  );
  const freezeSvg = join(outDir, 'freeze.svg');
  writeFileSync(
    freezeSvg,
    cdfPlotSvg(`Freeze latency CDF (call → frozen), ${host}, ${report.startedAt}`, panels('freezeNs')),
  );
  return { json, markdown, headlineSvg, resumeSvg, freezeSvg };
}
