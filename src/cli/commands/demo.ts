import type { DemoReport } from '../demo.js';
import { type Parsed, stringValue, usageError } from '../args.js';
import { type Command, type CommandContext, EXIT_FAILURE, EXIT_OK } from '../command.js';
import { formatTable } from '../output.js';

function summaryTable(report: DemoReport, formatUs: (us: number) => string): string[] {
  return formatTable(
    ['CGROUP', 'HELD WHILE FROZEN', 'FREEZE P50', 'THAW P50', 'RESUME P50', 'RESUME P99'],
    report.versions.map((v) => [
      v.version,
      v.stoppedWhileFrozen ? 'yes' : 'NO',
      formatUs(v.freezeUs.p50),
      formatUs(v.thawUs.p50),
      formatUs(v.resumeUs.p50),
      formatUs(v.resumeUs.p99),
    ]),
  );
}

export const demoCommand: Command = {
  name: 'demo',
  summary: 'Freeze and thaw a scratch cgroup with a live worker and print the resume latency',
  usage: 'demo [OPTIONS]',
  options: { cycles: { type: 'string', arg: 'N', help: 'Freeze/thaw cycles per cgroup version (default 200)' } },
  details:
    'Makes a scratch cgroup in each freezer hierarchy this host has (cgroup v1 freezer,\ncgroup2), starts an echo worker in it, shows that a byte sent while frozen is held\nuntil the thaw, times the cycles and removes everything it made. Needs root.',
  async run(ctx: CommandContext, args: Parsed): Promise<number> {
    const text = stringValue(args.values, 'cycles');
    const cycles = text === undefined ? undefined : Number(text);
    if (cycles !== undefined && !(Number.isInteger(cycles) && cycles >= 1 && cycles <= 100_000)) {
      throw usageError('demo', `--cycles takes a whole number from 1 to 100000, got ${JSON.stringify(text)}`);
    }
    // Loaded when it runs: the demo spawns its workers with child_process, which no other command needs.
    const { formatUs, runDemo } = await import('../demo.js');
    const report = await runDemo({
      ...(cycles === undefined ? {} : { cycles }),
      ...(ctx.json ? {} : { log: (line: string) => ctx.out.out(line) }),
    });
    const held = report.versions.every((v) => v.stoppedWhileFrozen);
    if (ctx.json) ctx.out.json(report);
    else {
      ctx.out.out('');
      for (const line of summaryTable(report, formatUs)) ctx.out.out(line);
      ctx.out.out('');
      ctx.out.out('RESUME: from the start of the thaw until the worker answers a byte sent while frozen.');
    }
    if (!held) ctx.out.error('A worker answered while frozen: the freeze did not hold');
    return held ? EXIT_OK : EXIT_FAILURE;
  },
};
