/**
 * npm run bench [-- options]: `npm run bench -- --help` lists them (scripts/bench/options.ts).
 *
 * Methods of a case run in interleaved rounds with a rotating order, so slow
 * drift on a shared machine spreads over all of them instead of one.
 */
import { runContainerParts } from './engines.js';
import { describeError, progress, scratchCases } from './harness.js';
import { machineInfo } from './machine.js';
import { type Options, UsageError, helpText, parseOptions } from './options.js';
import { type BenchReport, fullText, labelMisses, writeOutputs } from './report.js';
import { runResolve } from './resolve.js';
import { runStuck } from './stuck.js';
import { buildRawLoop, removeRunParents, removeShmDir } from './workload.js';

/** The options, or the exit status when there is nothing to run (help, or a bad command line). */
function options(argv: readonly string[]): Options | number {
  try {
    const opts = parseOptions(argv);
    if (opts !== undefined) return opts;
    process.stdout.write(helpText());
    return 0;
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`bench: ${err.message} (see npm run bench -- --help)\n`);
    return 2;
  }
}

async function main(): Promise<void> {
  const opts = options(process.argv.slice(2));
  if (typeof opts === 'number') {
    process.exitCode = opts;
    return;
  }
  const startedAt = new Date().toISOString();
  progress.set('building the C baseline');
  buildRawLoop();
  const machineStart = machineInfo();
  const report: BenchReport = {
    tool: 'cgfreeze-bench',
    startedAt,
    finishedAt: '',
    options: {
      ...opts,
      only: [...opts.only],
      methods: opts.methods === undefined ? 'all' : [...opts.methods],
      pid: process.pid,
    },
    machine: machineStart,
    cases: [],
    stuck: [],
    notes: [],
    errors: [],
  };
  const cleanup = (): void => {
    removeShmDir();
    try {
      removeRunParents();
    } catch (err) {
      report.errors.push(`cleanup: ${String(err)}`);
    }
  };
  try {
    // Results so far are written after each part: a long run that is cut short still leaves data.
    const checkpoint = (): void => void writeOutputs({ ...report, finishedAt: 'partial' }, opts.out);
    if (opts.only.has('scratch')) await scratchCases(opts, report.cases);
    checkpoint();
    if (opts.only.has('stuck')) report.stuck.push(...(await runStuck(opts)));
    checkpoint();
    if (opts.only.has('resolve')) {
      progress.set('resolving among 1,000 containers on disk');
      report.notes.push(...runResolve(opts.quick));
    }
    if (opts.only.has('containers') || opts.only.has('batch')) await runContainerParts(opts, report);
  } catch (err) {
    report.errors.push(`during "${progress.last}": ${describeError(err)}`);
  } finally {
    cleanup();
    progress.done();
  }
  report.finishedAt = new Date().toISOString();
  report.machine = { ...machineStart, ...machineInfo(true) };
  const files = writeOutputs(report, opts.out);
  process.stdout.write(fullText(report));
  process.stdout.write(`\nmachine: ${JSON.stringify(report.machine)}\n`);
  process.stdout.write(
    `samples: ${files.json}\ntables: ${files.markdown}\nplots: ${files.headlineSvg} ${files.resumeSvg} ${files.freezeSvg}\n`,
  );
  const misses = labelMisses(report);
  if (misses.length > 0)
    process.stderr.write(`bench: RUN FAILED: ${misses.length} method(s) did not run as labelled (see above)\n`);
  if (report.errors.length > 0 || misses.length > 0) process.exitCode = 1;
}

main().catch((err: unknown) => {
  progress.done();
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
