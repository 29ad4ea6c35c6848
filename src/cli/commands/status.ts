import { inspect } from 'node:util';
import { type CgfreezeError, fromSystemError } from '../../errors.js';
import { type CgroupStatus, type MemoryUsage, type ResolveOptions, state, usage } from '../../index.js';
import { filterOptionSpec, formatMs, type Parsed } from '../args.js';
import { type Command, type CommandContext, exitStatus } from '../command.js';
import { ENGINE_OPTIONS, resolveOptionsOf } from '../engines.js';
import { describeError } from '../messages.js';
import { formatBytes } from '../output.js';
import { type EngineView, selectTargets, type Selection } from '../targets.js';

export interface StatusReport {
  target: string;
  kernel: CgroupStatus;
  /** Absent for raw cgroups. */
  engine?: EngineView & { state: 'running' | 'paused' };
  /** Memory use and limit (`limitBytes` null: no limit); null when no memory controller accounts the cgroup. */
  memory: MemoryUsage | null;
  /** CPU time of the cgroup's tasks in µs; null when it could not be read. */
  cpuTimeUs: number | null;
  warnings: string[];
}

/** One target's line of `status --json` and `inspect`: its report, or its error as `pause --json` has it. */
export type StatusResult =
  ({ ok: true } & StatusReport) | { target: string; ok: false; error: { code: string; message: string } };

function kernelWords(s: CgroupStatus): string {
  if (s.state === 'thawed') return 'thawed (running)';
  const by =
    s.self && s.byAncestor
      ? 'itself and an ancestor'
      : s.self
        ? 'itself'
        : `an ancestor${s.ancestor === undefined ? '' : ' (' + s.ancestor + ')'}`;
  return `${s.state} (by ${by})`;
}

function memoryWords(m: MemoryUsage | null): string {
  if (m === null) return 'unknown (no memory controller accounts this cgroup)';
  if (m.limitBytes === null) return `${formatBytes(m.usageBytes)} (no limit)`;
  return `${formatBytes(m.usageBytes)} of ${formatBytes(m.limitBytes)} (${((m.usageBytes / m.limitBytes) * 100).toFixed(1)}%)`;
}

export function statusReport(sel: Selection, ropts: ResolveOptions): StatusReport {
  if (sel.error !== undefined) throw sel.error;
  const where = ropts.hostRoot === undefined ? {} : { hostRoot: ropts.hostRoot };
  const kernel = state(sel.target, where);
  const { memory, cpuTimeUs } = usage(sel.target, ropts);
  const warnings: string[] = [];
  const report: StatusReport = {
    target: sel.label,
    kernel,
    memory: memory ?? null,
    cpuTimeUs: cpuTimeUs ?? null,
    warnings,
  };
  const c = sel.container;
  if (c !== undefined) report.engine = { ...c, state: c.pausedByEngine ? 'paused' : 'running' };
  const twin = kernel.frozenTwin;
  if (twin !== undefined) {
    warnings.push(
      `Its cgroup2 twin ${twin} is frozen too (cgroup.freeze); nothing but that file shows it; thaw it with cgfreeze unpause --cgroup ${twin}`,
    );
  }
  if (kernel.state === 'freezing') {
    warnings.push('The freeze has not completed: some task has not stopped yet (it may be in uninterruptible sleep)');
  }
  if (c?.engine === 'docker') {
    if (kernel.state !== 'thawed' && !c.pausedByEngine) {
      warnings.push(
        'Frozen behind docker\'s back: docker still reports it running, and `docker exec` fails ("cannot exec in a paused container"),' +
          ' as do `docker pause` and `docker unpause`; unpause it with cgfreeze',
      );
    } else if (kernel.state === 'thawed' && c.pausedByEngine) {
      warnings.push(
        "Docker reports it paused but the kernel has it running (thawed behind docker's back); `docker unpause` will fail" +
          " until it is frozen again: run 'cgfreeze pause' on it, then 'docker unpause'",
      );
    }
  }
  return report;
}

function printReport(ctx: CommandContext, r: StatusReport): void {
  const k = r.kernel;
  const rows: Array<[string, string]> = [['Kernel', kernelWords(k)]];
  if (r.engine !== undefined) {
    const e = r.engine;
    rows.push(['Engine', `${e.engine} reports ${e.state}${e.pausedByEngine ? ' (paused by the engine)' : ''}`]);
    rows.push(['Container', `${e.name === undefined ? '' : e.name + ' '}${e.id}`]);
  }
  rows.push(['Cgroup', `${k.version} ${k.cgroupDir}`], ['Freeze file', k.freezeFile]);
  rows.push(['Memory', memoryWords(r.memory)]);
  rows.push(['CPU time', r.cpuTimeUs === null ? 'unknown' : formatMs(r.cpuTimeUs / 1000)]);
  ctx.out.out(ctx.out.paint(r.target, 'bold'));
  for (const [key, value] of rows) ctx.out.out(`  ${(key + ':').padEnd(13)}${value}`);
  for (const w of r.warnings) ctx.out.out(`  ${ctx.out.paint('Warning:', 'yellow')}    ${w}`);
}

function makeStatus(name: 'status' | 'inspect'): Command {
  return {
    name,
    summary:
      name === 'status'
        ? "Show the kernel freezer state of containers or cgroups next to the engine's view"
        : 'Print the kernel and engine state of containers or cgroups as JSON',
    usage: `${name} [OPTIONS] CONTAINER [CONTAINER...]`,
    options: {
      cgroup: { type: 'string', multiple: true, arg: 'PATH', help: 'A cgroup directory to report on (repeatable)' },
      filter: filterOptionSpec('Also report every running container that matches'),
      ...ENGINE_OPTIONS,
    },
    details:
      'The kernel is the truth: a container frozen by cgfreeze still looks "running" to\ndocker. Status says so in a warning, and warns when the two views disagree.',
    run(ctx: CommandContext, args: Parsed): number {
      const ropts = resolveOptionsOf(name, args.values);
      const selections = selectTargets(name, args, ropts);
      const results: StatusResult[] = [];
      const failures: CgfreezeError[] = [];
      for (const sel of selections) {
        try {
          const report = statusReport(sel, ropts);
          const { target, ...rest } = report;
          results.push({ target, ok: true, ...rest });
          if (!ctx.json && name === 'status') printReport(ctx, report);
        } catch (err) {
          const error = fromSystemError(err, sel.label);
          const message = describeError(error, sel.label);
          failures.push(error);
          results.push({ target: sel.label, ok: false, error: { code: error.code, message } });
          if (!ctx.json && name === 'status') ctx.out.failure(message, error);
          else ctx.out.debug(inspect(error));
        }
      }
      if (ctx.json || name === 'inspect') ctx.out.json({ ok: failures.length === 0, results });
      return exitStatus(failures);
    },
  };
}

export const statusCommand = makeStatus('status');
export const inspectCommand = makeStatus('inspect');
