import { fromSystemError } from '../../errors.js';
import { type CgroupStatus, state } from '../../index.js';
import type { Parsed } from '../args.js';
import { type Command, type CommandContext, EXIT_FAILURE, EXIT_OK } from '../command.js';
import { describeError } from '../messages.js';
import { explicitSelections, requireSome, type Selection } from '../targets.js';

export interface StatusReport {
  target: string;
  kernel: CgroupStatus;
  warnings: string[];
}

function kernelWords(s: CgroupStatus): string {
  if (s.state === 'thawed') return 'thawed (running)';
  const by = s.self && s.byAncestor ? 'itself and an ancestor' : s.self ? 'itself' : `an ancestor${s.ancestor === undefined ? '' : ' (' + s.ancestor + ')'}`;
  return `${s.state} (by ${by})`;
}

export function statusReport(sel: Selection): StatusReport {
  const kernel = state(sel.target);
  const warnings: string[] = [];
  if (kernel.state === 'freezing') {
    warnings.push('the freeze has not completed: some task has not stopped yet (it may be in uninterruptible sleep)');
  }
  return { target: sel.label, kernel, warnings };
}

function printReport(ctx: CommandContext, r: StatusReport): void {
  const k = r.kernel;
  const rows: Array<[string, string]> = [
    ['Kernel', kernelWords(k)],
    ['Cgroup', `${k.version} ${k.cgroupDir}`],
    ['Freeze file', k.freezeFile],
  ];
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
    options: { cgroup: { type: 'string', multiple: true, arg: 'PATH', help: 'A cgroup directory to report on (repeatable)' } },
    async run(ctx: CommandContext, args: Parsed): Promise<number> {
      const selections = explicitSelections(name, args);
      requireSome(name, selections);
      const reports: StatusReport[] = [];
      let failed = false;
      for (const sel of selections) {
        try {
          reports.push(statusReport(sel));
        } catch (err) {
          failed = true;
          ctx.out.error(describeError(fromSystemError(err, sel.label), sel.label));
        }
      }
      if (ctx.json || name === 'inspect') ctx.out.json(reports);
      else for (const r of reports) printReport(ctx, r);
      return failed ? EXIT_FAILURE : EXIT_OK;
    },
  };
}

export const statusCommand = makeStatus('status');
export const inspectCommand = makeStatus('inspect');
