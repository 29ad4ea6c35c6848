/**
 * npm run bench [-- options]
 *
 *   --quick             CI size: few cycles, 1 and 100 tasks, short stuck deadline
 *   --cycles N          cycles per method and case (default 1000; containers 100)
 *   --tasks 1,10,...    scratch task counts (default 1,10,100,1000)
 *   --modes v1,v2       hierarchies (default both)
 *   --only a,b          parts: scratch, containers, batch, stuck, resolve (default all)
 *   --methods a,b       method ids to keep (raw-c, node-naive, cgfreeze-sync, cgfreeze-promise, ...)
 *   --out DIR           where results.{json,md} and *.svg go (default bench-results/<timestamp>)
 *   --labs host,v2      container labs (scripts/lab/lab.sh modes) for containers and batch
 *   --batch 1,10,50     containers per call in the batch case
 *
 * Methods of a case run in interleaved rounds with a rotating order, so slow
 * drift on a shared machine spreads over all of them instead of one.
 */
import { join } from 'node:path';
import { runContainerParts } from './engines.js';
import { type Options, progress, scratchCases } from './harness.js';
import { machineInfo } from './machine.js';
import { type BenchReport, fullText, writeOutputs } from './report.js';
import { runResolve } from './resolve.js';
import { runStuck } from './stuck.js';
import { type Mode, buildRawLoop, removeRunParents, removeShmDir } from './workload.js';

function parseArgs(argv: readonly string[]): Options {
  const get = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const list = (name: string): string[] | undefined =>
    get(name)
      ?.split(',')
      .filter((s) => s !== '');
  const quick = argv.includes('--quick');
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const cycles = Number(get('--cycles') ?? (quick ? 40 : 1000));
  const opts: Options = {
    quick,
    cycles,
    containerCycles: Number(get('--container-cycles') ?? (quick ? 8 : 100)),
    tasks: (list('--tasks') ?? (quick ? ['1', '100'] : ['1', '10', '100', '1000'])).map(Number),
    modes: (list('--modes') ?? ['v1', 'v2']) as Mode[],
    only: new Set(list('--only') ?? ['scratch', 'containers', 'batch', 'stuck', 'resolve']),
    methods: list('--methods') === undefined ? undefined : new Set(list('--methods')),
    out: get('--out') ?? join('bench-results', stamp),
    labs: list('--labs') ?? ['host', 'v2'],
    batch: (list('--batch') ?? (quick ? ['1', '10'] : ['1', '10', '50'])).map(Number),
    rounds: quick ? 2 : 5,
  };
  for (const a of argv) {
    if (
      a.startsWith('--') &&
      ![
        '--quick',
        '--cycles',
        '--container-cycles',
        '--tasks',
        '--modes',
        '--only',
        '--methods',
        '--out',
        '--labs',
        '--batch',
      ].includes(a)
    ) {
      throw new Error(`unknown option ${a}`);
    }
  }
  if (!(opts.cycles > 0) || opts.tasks.some((t) => !(t > 0)) || opts.modes.some((m) => m !== 'v1' && m !== 'v2')) {
    throw new Error('bad --cycles, --tasks or --modes');
  }
  return opts;
}

/** The error with its cause chain, so a failure inside cgfreeze shows where it started. */
export function describeError(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err, depth = 0; e !== undefined && depth < 4; depth++) {
    parts.push(e instanceof Error ? (e.stack ?? e.message) : String(e));
    e = e instanceof Error ? e.cause : undefined;
  }
  return parts.join('\ncaused by: ');
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
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
    `samples: ${files.json}\ntables: ${files.markdown}\nplots: ${files.resumeSvg} ${files.freezeSvg}\n`,
  );
  if (report.errors.length > 0) process.exitCode = 1;
}

main().catch((err: unknown) => {
  progress.done();
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
