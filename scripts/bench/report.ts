/** Results model, terminal/markdown tables with ratios, and the JSON/SVG files. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Sample } from './methods.js';
import { type Summary, formatNs, formatRatio, summarize } from './stats.js';
import { type Panel, cdfPlotSvg } from './svg.js';

export interface MethodResult {
  id: string;
  label: string;
  cycles: number;
  cpuPerCycleNs: number;
  freeze: Summary;
  thaw: Summary;
  resume: Summary;
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

export function methodResult(id: string, label: string, samples: Sample[], cpuPerCycleNs: number): MethodResult {
  return {
    id,
    label,
    cycles: samples.length,
    cpuPerCycleNs,
    freeze: summarize(samples.map((s) => s.freezeNs)),
    thaw: summarize(samples.map((s) => s.thawNs)),
    resume: summarize(samples.map((s) => s.resumeNs)),
    samples,
  };
}

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

/** The raw C baseline a case compares against: its own, or the cold case's for the same cgroup. */
function baseline(c: CaseResult, all: readonly CaseResult[]): MethodResult | undefined {
  return (
    find(c, 'raw-c') ??
    all
      .find((o) => o.group === c.group && o.mode === c.mode && o.size === c.size && !o.warm && find(o, 'raw-c'))
      ?.methods.find((m) => m.id === 'raw-c')
  );
}

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
    for (const m of c.methods) rows.push([c.title, m.label, ...cols.map(([, cell]) => cell(m))]);
  }
  return renderTable(header, rows, markdown);
}

/** `m ÷ base` on `pick`, blank without a base or for the base itself. */
function ratioColumn(header: string, base: MethodResult | undefined, pick: (m: MethodResult) => number): Column {
  return [header, (m) => (base === undefined || m.id === base.id ? '' : formatRatio(pick(m) / pick(base)))];
}

export function scratchTable(cases: readonly CaseResult[], markdown = false): string {
  return methodTable(
    cases.filter((x) => x.group !== 'batch'),
    'case',
    (c) => {
      const raw = baseline(c, cases);
      return [
        ['freeze p50', (m) => formatNs(m.freeze.p50)],
        ['freeze p99', (m) => formatNs(m.freeze.p99)],
        ['thaw p50', (m) => formatNs(m.thaw.p50)],
        ['resume p50', (m) => formatNs(m.resume.p50)],
        ['p90', (m) => formatNs(m.resume.p90)],
        ['p99', (m) => formatNs(m.resume.p99)],
        ['max', (m) => formatNs(m.resume.max)],
        ['CPU/cycle', (m) => formatNs(m.cpuPerCycleNs)],
        ratioColumn('freeze ÷ C', raw, (m) => m.freeze.p50),
        ratioColumn('resume ÷ C', raw, (m) => m.resume.p50),
      ];
    },
    markdown,
  );
}

/** Engines against cgfreeze on the same container: how many times slower each engine path is. */
export function engineTable(cases: readonly CaseResult[], markdown = false): string {
  return methodTable(
    cases.filter((x) => x.group === 'container' && !x.warm),
    'lab',
    (c) => {
      const sync = find(c, 'cgfreeze-sync');
      const warmCase = cases.find((o) => o.group === 'container' && o.warm && o.mode === c.mode);
      const warm = warmCase === undefined ? undefined : find(warmCase, 'cgfreeze-sync');
      return [
        ['pause p50', (m) => formatNs(m.freeze.p50)],
        ['pause p90', (m) => formatNs(m.freeze.p90)],
        ['resume p50', (m) => formatNs(m.resume.p50)],
        ['resume p90', (m) => formatNs(m.resume.p90)],
        ['resume p99', (m) => formatNs(m.resume.p99)],
        ['CPU/cycle', (m) => formatNs(m.cpuPerCycleNs)],
        ['resume ÷ cgfreeze sync', (m) => (sync === undefined ? '' : formatRatio(m.resume.p50 / sync.resume.p50))],
        ['resume ÷ cgfreeze warm', (m) => (warm === undefined ? '' : formatRatio(m.resume.p50 / warm.resume.p50))],
      ];
    },
    markdown,
  );
}

export function batchTable(cases: readonly CaseResult[], markdown = false): string {
  const header = [
    'batch',
    'method',
    'pause all p50',
    'pause all p90',
    'resume all p50',
    'resume all p90',
    'CPU/cycle',
    'pause ÷ cgfreeze',
    'resume ÷ cgfreeze',
  ];
  const rows: Row[] = [];
  for (const c of cases.filter((x) => x.group === 'batch')) {
    const ref = find(c, 'cgfreeze-group');
    for (const m of c.methods) {
      rows.push([
        c.title,
        m.label,
        formatNs(m.freeze.p50),
        formatNs(m.freeze.p90),
        formatNs(m.thaw.p50),
        formatNs(m.thaw.p90),
        formatNs(m.cpuPerCycleNs),
        ref === undefined || m === ref ? '' : formatRatio(m.freeze.p50 / ref.freeze.p50),
        ref === undefined || m === ref ? '' : formatRatio(m.thaw.p50 / ref.thaw.p50),
      ]);
    }
  }
  return renderTable(header, rows, markdown);
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

/** The targets, checked against this run (the benchmark reports; it does not fail on them). */
export function targetsTable(report: BenchReport, markdown = false): string {
  const header = ['target', 'case', 'measured', 'goal', 'met'];
  const rows: Row[] = [];
  const add = (target: string, where: string, value: number, goal: number, atMost: boolean): void => {
    if (!Number.isFinite(value)) return;
    const met = atMost ? value <= goal : value >= goal;
    rows.push([target, where, formatRatio(value), `${atMost ? '≤' : '≥'} ${formatRatio(goal)}`, met ? 'yes' : 'NO']);
  };
  for (const c of report.cases.filter((x) => x.group === 'scratch' || x.group === 'container')) {
    const raw = baseline(c, report.cases);
    const sync = find(c, 'cgfreeze-sync');
    const promise = find(c, 'cgfreeze-promise');
    if (raw !== undefined && sync !== undefined) {
      add('sync freeze p50 ÷ raw C', c.title, sync.freeze.p50 / raw.freeze.p50, 1.25, true);
      add('sync resume p50 ÷ raw C', c.title, sync.resume.p50 / raw.resume.p50, 1.25, true);
    }
    if (raw !== undefined && promise !== undefined)
      add('Promise resume p50 ÷ raw C', c.title, promise.resume.p50 / raw.resume.p50, 2, true);
    const byRef = find(c, 'cgfreeze-ref');
    if (byRef !== undefined && sync !== undefined) {
      // Issue #3 states it for the thaw call; the resume adds the workload's wake-up to both.
      add('by reference ÷ by path (thaw p50)', c.title, byRef.thaw.p50 / sync.thaw.p50, 1.25, true);
      add('by reference ÷ by path (resume p50)', c.title, byRef.resume.p50 / sync.resume.p50, 1.25, true);
    }
    const api = find(c, 'dockerode');
    if (api !== undefined && sync !== undefined) {
      add(
        'dockerode resume p50 ÷ cgfreeze sync',
        c.title,
        api.resume.p50 / sync.resume.p50,
        c.mode === 'v1' ? 50 : 400,
        false,
      );
      const warmCase = report.cases.find((o) => o.group === 'container' && o.warm && o.mode === c.mode);
      const warm = warmCase === undefined ? undefined : find(warmCase, 'cgfreeze-sync');
      if (warm !== undefined)
        add('dockerode resume p50 ÷ cgfreeze sync + keepWarm', c.title, api.resume.p50 / warm.resume.p50, 400, false);
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
  }
  const batch = report.cases.filter((c) => c.group === 'batch');
  if (batch.length > 0) parts.push('Batch: N containers in one call', batchTable(batch, markdown));
  if (report.stuck.length > 0)
    parts.push('Stuck freeze (a task in an unanswered FUSE request)', stuckTable(report.stuck, markdown));
  parts.push('Targets (issue #4), from this run', targetsTable(report, markdown));
  if (report.notes.length > 0) parts.push('Notes', report.notes.map((n) => `- ${n}`).join('\n'));
  if (report.errors.length > 0) parts.push('Errors', report.errors.map((e) => `- ${e}`).join('\n'));
  return parts.join('\n\n') + '\n';
}

/** Writes results.json (every sample), results.md, resume.svg and freeze.svg; returns their paths. */
export function writeOutputs(
  report: BenchReport,
  outDir: string,
): { json: string; markdown: string; resumeSvg: string; freezeSvg: string } {
  mkdirSync(outDir, { recursive: true });
  const json = join(outDir, 'results.json');
  writeFileSync(json, JSON.stringify(report, null, 1) + '\n');
  const markdown = join(outDir, 'results.md');
  writeFileSync(markdown, fullText(report, true));
  const plotted = report.cases.filter((c) => c.group !== 'batch');
  const panels = (key: 'resumeNs' | 'freezeNs'): Panel[] =>
    plotted.map((c) => ({
      title: c.title,
      series: c.methods.map((m) => ({ label: m.label, samples: m.samples.map((s) => s[key]) })),
    }));
  const kernel = report.machine['kernel'];
  const host = typeof kernel === 'string' ? kernel : '';
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
  return { json, markdown, resumeSvg, freezeSvg };
}
