import { type ChildProcessByStdio, spawn } from 'node:child_process';
import { mkdirSync, rmdirSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Readable, Writable } from 'node:stream';
import { CgfreezeError, freezeSync, freezerMounts, kill, thawSync } from '../index.js';
import { percentile } from '../percentile.js';

export interface DemoOptions {
  /** Freeze/thaw cycles per cgroup version (default 200). */
  cycles?: number;
  /** Progress output (default: none). */
  log?: (line: string) => void;
}

export interface LatencySummary {
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export interface DemoVersionReport {
  version: 'v1' | 'v2';
  cgroupDir: string;
  cycles: number;
  /** A byte written while frozen was not echoed until the thaw. */
  stoppedWhileFrozen: boolean;
  /** Microseconds. */
  freezeUs: LatencySummary;
  thawUs: LatencySummary;
  /** From the start of the thaw until the worker's echo arrives. */
  resumeUs: LatencySummary;
}

export interface DemoReport {
  versions: DemoVersionReport[];
}

type Worker = ChildProcessByStdio<Writable, Readable, null>;

/**
 * The embedded default job: for each cgroup version this host offers, make a
 * scratch cgroup, start an echo worker (`cat`) in it, show that it stops
 * while frozen, then time freeze, thaw and resume over many cycles. Always
 * removes what it made, even on failure or Ctrl-C.
 */
export async function runDemo(opts: DemoOptions = {}): Promise<DemoReport> {
  const cycles = opts.cycles ?? 200;
  const log = opts.log ?? (() => {});
  const mounts = freezerMounts();
  const parents = ([1, 2] as const).flatMap((version) => {
    const mountPoint = version === 1 ? mounts.v1 : mounts.v2;
    return mountPoint === undefined ? [] : [{ version, dir: `${mountPoint}/cgfreeze-demo-${process.pid}` }];
  });
  if (parents.length === 0) {
    throw new CgfreezeError('ERR_FREEZER_UNAVAILABLE', 'no cgroup freezer is mounted on this host');
  }
  const versions: DemoVersionReport[] = [];
  for (const { version, dir } of parents) {
    log(`cgroup ${version === 1 ? 'v1' : 'v2'}: scratch cgroup ${dir}`);
    versions.push(await demoOne(version, dir, cycles, log));
  }
  return { versions };
}

async function demoOne(
  version: 1 | 2,
  dir: string,
  cycles: number,
  log: (line: string) => void,
): Promise<DemoVersionReport> {
  mkdirSync(dir);
  let worker: Worker | undefined;
  const cleanup = (): Promise<void> => removeScratch(dir, worker);
  const onSigint = (): void => {
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSigint);
  try {
    worker = spawn('sh', ['-c', `echo $$ > ${dir}/cgroup.procs && exec cat`], { stdio: ['pipe', 'pipe', 'inherit'] });
    await echo(worker);
    const w = worker;

    freezeSync(dir);
    const pending = echo(w);
    const stoppedWhileFrozen = !(await settlesWithin(pending, 100));
    thawSync(dir);
    await pending;
    log(
      `  a byte sent while frozen was ${stoppedWhileFrozen ? 'held until the thaw' : 'ECHOED: the freeze did not hold'}`,
    );

    const freezeUs: number[] = [];
    const thawUs: number[] = [];
    const resumeUs: number[] = [];
    for (let i = 0; i < cycles; i++) {
      const f0 = performance.now();
      freezeSync(dir);
      freezeUs.push((performance.now() - f0) * 1000);
      const reply = echo(w);
      const t0 = performance.now();
      thawSync(dir);
      thawUs.push((performance.now() - t0) * 1000);
      await reply;
      resumeUs.push((performance.now() - t0) * 1000);
    }
    const report: DemoVersionReport = {
      version: version === 1 ? 'v1' : 'v2',
      cgroupDir: dir,
      cycles,
      stoppedWhileFrozen,
      freezeUs: summarize(freezeUs),
      thawUs: summarize(thawUs),
      resumeUs: summarize(resumeUs),
    };
    log(
      `  ${cycles} cycles: freeze p50 ${formatUs(report.freezeUs.p50)}, thaw p50 ${formatUs(report.thawUs.p50)}, ` +
        `resume p50 ${formatUs(report.resumeUs.p50)} (p99 ${formatUs(report.resumeUs.p99)})`,
    );
    return report;
  } finally {
    process.removeListener('SIGINT', onSigint);
    await cleanup();
  }
}

/** Writes one byte and resolves when the worker echoes it back. */
function echo(worker: Worker): Promise<void> {
  return new Promise((resolve, reject) => {
    const onExit = (): void => reject(new CgfreezeError('ESRCH', 'the demo worker exited before it answered'));
    worker.once('exit', onExit);
    worker.stdout.once('data', () => {
      worker.removeListener('exit', onExit);
      resolve();
    });
    worker.stdin.write('x');
  });
}

function settlesWithin(promise: Promise<void>, ms: number): Promise<boolean> {
  return Promise.race([promise.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms))]);
}

/** Kills what runs in the scratch cgroup (frozen or not) and removes it; never throws. */
async function removeScratch(dir: string, worker: Worker | undefined): Promise<void> {
  worker?.kill('SIGKILL');
  try {
    await kill(dir, { timeoutMs: 2000 });
  } catch {
    // Never created or already gone.
  }
  // rmdir fails with EBUSY until the killed tasks are reaped.
  const deadline = Date.now() + 2000;
  for (;;) {
    try {
      rmdirSync(dir);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || Date.now() > deadline) return;
      await sleep(5);
    }
  }
}

export function summarize(samples: number[]): LatencySummary {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1] ?? NaN,
  };
}

/** Microseconds as people read them: `41.2 µs`, `1.37 ms`. */
export function formatUs(us: number): string {
  return us >= 1000 ? `${(us / 1000).toFixed(2)} ms` : `${us.toFixed(1)} µs`;
}
