import { type CgfreezeError, fromSystemError } from '../../errors.js';
import { type CgroupStatus, state } from '../../index.js';
import type { Parsed } from '../args.js';
import { type Command, type CommandContext, exitStatus } from '../command.js';
import { ENGINE_OPTIONS, hostRootOf, resolveOptionsOf } from '../engines.js';
import { describeError } from '../messages.js';
import { type EngineView, selectTargets, type Selection } from '../targets.js';

export interface StatusReport {
  target: string;
  kernel: CgroupStatus;
  /** Absent for raw cgroups. */
  engine?: EngineView & { state: 'running' | 'paused' };
  warnings: string[];
}

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

export function statusReport(sel: Selection, hostRoot: { hostRoot?: string }): StatusReport {
  if (sel.error !== undefined) throw sel.error;
  const kernel = state(sel.target, hostRoot);
  const warnings: string[] = [];
  const report: StatusReport = { target: sel.label, kernel, warnings };
  const c = sel.container;
  if (c !== undefined) report.engine = { ...c, state: c.pausedByEngine ? 'paused' : 'running' };
  const twin = kernel.frozenTwin;
  if (twin !== undefined) {
    warnings.push(
      `its cgroup2 twin ${twin} is frozen too (cgroup.freeze); nothing but that file shows it; thaw it with cgfreeze unpause --cgroup ${twin}`,
    );
  }
  if (kernel.state === 'freezing') {
    warnings.push('the freeze has not completed: some task has not stopped yet (it may be in uninterruptible sleep)');
  }
  if (c?.engine === 'docker') {
    if (kernel.state !== 'thawed' && !c.pausedByEngine) {
      warnings.push(
        'frozen behind docker\'s back: docker still reports it running, and `docker exec` fails ("cannot exec in a paused container"),' +
          ' as do `docker pause` and `docker unpause`; unpause it with cgfreeze',
      );
    } else if (kernel.state === 'thawed' && c.pausedByEngine) {
      warnings.push(
        "docker reports it paused but the kernel has it running (thawed behind docker's back); `docker unpause` will fail" +
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
      filter: {
        type: 'string',
        short: 'f',
        multiple: true,
        arg: 'label=K[=V]',
        help: 'Also report every running container with this label',
      },
      ...ENGINE_OPTIONS,
    },
    details:
      'The kernel is the truth: a container frozen by cgfreeze still looks "running" to\ndocker. Status says so in a warning, and warns when the two views disagree.',
    run(ctx: CommandContext, args: Parsed): number {
      const selections = selectTargets(name, args, resolveOptionsOf(name, args.values));
      const reports: StatusReport[] = [];
      const failures: CgfreezeError[] = [];
      for (const sel of selections) {
        try {
          reports.push(statusReport(sel, hostRootOf(args.values)));
        } catch (err) {
          const error = fromSystemError(err, sel.label);
          failures.push(error);
          ctx.out.failure(describeError(error, sel.label), error);
        }
      }
      if (ctx.json || name === 'inspect') ctx.out.json(reports);
      else for (const r of reports) printReport(ctx, r);
      return exitStatus(failures);
    },
  };
}

export const statusCommand = makeStatus('status');
export const inspectCommand = makeStatus('inspect');
