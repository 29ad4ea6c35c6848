/**
 * The ways to pause and resume a cgroup that the benchmark compares. Each
 * method runs N cycles against a workload whose counter shows life:
 *   freeze  = call → the method reports frozen (for cgfreeze and raw C the
 *             kernel's freezer state; for engines, the call returning)
 *   thaw    = call → returns
 *   resume  = thaw call starts → the counter moves again
 * In-process methods observe the counter after the call returns (as the C
 * loop does); subprocess and daemon methods are observed while the call is
 * in flight, yielding to the event loop between reads.
 */
import type { ResolveOptions } from '../../src/resolve/index.js';
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, openSync, readFileSync, readSync, writeSync } from 'node:fs';
import { inspect } from 'node:util';
import { freeze, freezeSync, thaw, thawSync } from '../../src/index.js';
import type { MethodId } from './options.js';
import type { Counter, Mode, WarmAnchor } from './workload.js';
import { rawLoopPath } from './workload.js';

export interface Sample {
  freezeNs: number;
  thawNs: number;
  resumeNs: number;
  /**
   * How long the workload's spinner, and the caller where it also watches
   * (raw C, cgfreeze in this process), waited for a CPU between the thaw call
   * and the resume: the part of resumeNs that measured the machine's load.
   */
  cpuWaitNs?: number;
}

/**
 * How a method's samples really ran, checked while they ran: a comparison
 * rests on its operands having run as their labels say.
 */
export interface RanAs {
  /** Samples that began and ended with the case's keepWarm cgroup frozen (keepWarm cases only). */
  warmSamples?: number;
  /** Connections opened during the samples (keep-alive methods only: any is a miss). */
  newConnections?: number;
}

export interface MethodRun extends RanAs {
  samples: Sample[];
  /** Cycles whose pause or resume the engine itself reported as failed (not in samples). */
  failures?: number;
  /** The caller's CPU time (user + system, children included) in freeze and thaw calls, per cycle. */
  cpuPerCycleNs: number;
  /** The daemon's own CPU time over the whole run, where the method measures it (the sidecar). */
  daemonCpuNs?: number;
  /**
   * Round trips of the same client to a Node HTTP server that does no work, right after the samples:
   * the floor under any sidecar on this machine at this moment (the sidecar's methods).
   */
  floorNs?: number[];
}

/** What a method drives: a cgroup directory and, for engines, a container. */
export interface Subject {
  mode: Mode;
  cgroupDir: string;
  counter: Counter;
  /** Container name and engine, when the subject is a container; where its engine keeps state. */
  container?: { engine: 'docker' | 'ctr' | 'podman'; name: string; resolveOptions?: ResolveOptions };
  /** In a keepWarm case: the frozen cgroup every sample must run beside. */
  warmAnchor?: WarmAnchor;
}

export interface Method {
  id: MethodId;
  label: string;
  run(subject: Subject, cycles: number): Promise<MethodRun>;
}

/** Pause between "frozen" and the thaw, and after a resume, so the workload runs between cycles. */
export const GAP_US = 300;

const hr = (): bigint => process.hrtime.bigint();
const ns = (a: bigint, b: bigint): number => Number(b - a);

function spinUs(us: number): void {
  const end = hr() + BigInt(us * 1000);
  while (hr() < end) {
    // busy: a sleep here would change the machine's idle state between cycles
  }
}

function cpuNs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) * 1000;
}

const TICK_NS = 1e9 / 100;
/** CPU of this process's waited-for children (utime + stime of exited children, in ticks). */
function childCpuNs(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 16 and 17 (cutime, cstime) are at 13 and 14 after the comm.
  return (Number(fields[13]) + Number(fields[14])) * TICK_NS;
}

export const rawC: Method = {
  id: 'raw-c',
  label: 'raw C loop',
  run(subject, cycles) {
    const anchor = subject.warmAnchor?.dir;
    const r = spawnSync(
      rawLoopPath,
      [
        'loop',
        subject.cgroupDir,
        subject.mode,
        subject.counter.file,
        String(cycles),
        String(GAP_US),
        String(subject.counter.spinnerPid),
        ...(anchor === undefined ? [] : [anchor]),
      ],
      { encoding: 'utf8', maxBuffer: 64 << 20 },
    );
    if (r.status !== 0) throw new Error(`raw-loop failed (${String(r.status ?? r.signal)}): ${r.stderr}`);
    const samples: Sample[] = [];
    let cpu = 0;
    let warm = 0;
    for (const line of r.stdout.split('\n')) {
      if (line === '') continue;
      const s = JSON.parse(line) as Required<Sample> & { cpuNs: number; warm?: number };
      samples.push({ freezeNs: s.freezeNs, thawNs: s.thawNs, resumeNs: s.resumeNs, cpuWaitNs: s.cpuWaitNs });
      cpu += s.cpuNs;
      if (s.warm === 1) warm++;
    }
    return Promise.resolve({
      samples,
      cpuPerCycleNs: cpu / cycles,
      ...(anchor === undefined ? {} : { warmSamples: warm }),
    });
  },
};

/** A freeze or thaw call of the API under test; a Promise is awaited, anything else is not. */
type Call = (target: string, opts: ResolveOptions) => unknown;

/**
 * cgfreeze called in this process. Sync calls are not awaited, so their
 * cycles have no microtask turn in the measured time.
 */
function inProcessMethod(
  id: MethodId,
  label: string,
  [freezeCall, thawCall]: [Call, Call],
  target: (s: Subject) => string,
  options?: (s: Subject) => ResolveOptions,
): Method {
  return {
    id,
    label,
    async run(subject, cycles) {
      const t = target(subject);
      const opts = options?.(subject) ?? {};
      const samples: Sample[] = [];
      let cpu = 0;
      let warm = 0;
      for (let i = 0; i < cycles; i++) {
        const warmBefore = subject.warmAnchor?.frozen();
        const c0 = cpuNs();
        const t0 = hr();
        const frozen = freezeCall(t, opts);
        if (frozen instanceof Promise) await frozen;
        const t1 = hr();
        cpu += cpuNs() - c0;
        const last = subject.counter.read();
        spinUs(GAP_US);
        const waited0 = subject.counter.cpuWaitNs('spinner+watcher');
        const c1 = cpuNs();
        const t2 = hr();
        const thawed = thawCall(t, opts);
        if (thawed instanceof Promise) await thawed;
        const t3 = hr();
        cpu += cpuNs() - c1;
        subject.counter.waitChange(last);
        const t4 = hr();
        const cpuWaitNs = subject.counter.cpuWaitNs('spinner+watcher') - waited0;
        if (warmBefore === true && subject.warmAnchor?.frozen() === true) warm++;
        samples.push({ freezeNs: ns(t0, t1), thawNs: ns(t2, t3), resumeNs: ns(t2, t4), cpuWaitNs });
        spinUs(GAP_US);
      }
      return {
        samples,
        cpuPerCycleNs: cpu / cycles,
        ...(subject.warmAnchor === undefined ? {} : { warmSamples: warm }),
      };
    },
  };
}

export const cgfreezeSync = inProcessMethod(
  'cgfreeze-sync',
  'cgfreeze freezeSync/thawSync',
  [freezeSync, thawSync],
  (s) => s.cgroupDir,
);
export const cgfreezePromise = inProcessMethod(
  'cgfreeze-promise',
  'cgfreeze freeze/thaw (Promise)',
  [freeze, thaw],
  (s) => s.cgroupDir,
);

/** The same calls by container name instead of cgroup path (resolution included in every call). */
export const cgfreezeByRef = inProcessMethod(
  'cgfreeze-ref',
  'cgfreeze by container name (sync)',
  [freezeSync, thawSync],
  (s) => {
    if (s.container === undefined) throw new Error('by-reference needs a container subject');
    return s.container.name;
  },
  (s) => s.container?.resolveOptions ?? {},
);

/**
 * The floor for a Node caller: a naive loop on fds kept open across cycles (write the freeze file,
 * re-read the state file until the kernel says frozen; a thaw is the write alone). No validation,
 * no deadline, no rollback: what the library's own overhead is measured against.
 */
export const naiveNode: Method = {
  id: 'node-naive',
  label: 'naive Node loop (kept fds)',
  async run(subject, cycles) {
    const v1 = subject.mode === 'v1';
    const freezeFd = openSync(`${subject.cgroupDir}/${v1 ? 'freezer.state' : 'cgroup.freeze'}`, 'r+');
    const stateFd = v1 ? freezeFd : openSync(`${subject.cgroupDir}/cgroup.events`, 'r');
    const buf = Buffer.alloc(256);
    const frozenText = v1 ? 'FROZEN' : 'frozen 1';
    const isFrozen = (): boolean =>
      buf.toString('latin1', 0, readSync(stateFd, buf, 0, buf.length, 0)).includes(frozenText);
    const freezeCall = (): void => {
      writeSync(freezeFd, v1 ? 'FROZEN' : '1', 0);
      while (!isFrozen()) {
        // re-read until the kernel reports frozen
      }
    };
    const thawCall = (): void => void writeSync(freezeFd, v1 ? 'THAWED' : '0', 0);
    try {
      return await inProcessMethod(this.id, this.label, [freezeCall, thawCall], (s) => s.cgroupDir).run(
        subject,
        cycles,
      );
    } finally {
      if (stateFd !== freezeFd) closeSync(stateFd);
      closeSync(freezeFd);
    }
  },
};

/** A resume that shows no life for this long has failed (the engines take seconds on a loaded VM, not minutes). */
const OBSERVE_LIMIT_NS = 120e9;

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Runs an external pause/resume (a CLI or a daemon request) N times. The
 * resume is observed while the resume call is still in flight.
 */
export function externalMethod(
  id: MethodId,
  label: string,
  pause: (s: Subject) => Promise<void>,
  resume: (s: Subject) => Promise<void>,
): Method {
  return {
    id,
    label,
    async run(subject, cycles) {
      const samples: Sample[] = [];
      let cpu = 0;
      let failures = 0;
      let warm = 0;
      for (let i = 0; i < cycles; i++) {
        const warmBefore = subject.warmAnchor?.frozen();
        const c0 = cpuNs() + childCpuNs();
        const t0 = hr();
        try {
          await pause(subject);
        } catch (err) {
          // Engines give up on a slow freeze (runc: "unable to freeze"); count it, make sure it runs, go on.
          if (++failures > Math.max(3, cycles / 2)) throw err;
          await resume(subject).catch(() => undefined);
          continue;
        }
        const t1 = hr();
        const last = subject.counter.read();
        spinUs(GAP_US);
        // The watcher polls throughout the call, so its own waits say nothing of this resume: the spinner's only.
        const waited0 = subject.counter.cpuWaitNs('spinner');
        const t2 = hr();
        let t3 = 0n;
        let failure: Error | undefined;
        const call = resume(subject).then(
          () => {
            t3 = hr();
          },
          (err: unknown) => {
            failure = err instanceof Error ? err : new Error(`${label}: resume failed: ${inspect(err)}`);
          },
        );
        let t4: bigint;
        let cpuWaitNs: number;
        for (;;) {
          if (subject.counter.read() !== last) {
            t4 = hr();
            cpuWaitNs = subject.counter.cpuWaitNs('spinner') - waited0;
            break;
          }
          if (failure !== undefined) throw failure;
          if (ns(t2, hr()) > OBSERVE_LIMIT_NS)
            throw new Error(`${label}: no sign of life ${OBSERVE_LIMIT_NS / 1e9} s after the resume call`);
          await nextTurn();
        }
        await call;
        if (failure !== undefined) throw failure;
        cpu += cpuNs() + childCpuNs() - c0;
        if (warmBefore === true && subject.warmAnchor?.frozen() === true) warm++;
        samples.push({ freezeNs: ns(t0, t1), thawNs: ns(t2, t3), resumeNs: ns(t2, t4), cpuWaitNs });
        spinUs(GAP_US);
      }
      return {
        samples,
        cpuPerCycleNs: cpu / Math.max(1, samples.length),
        failures,
        ...(subject.warmAnchor === undefined ? {} : { warmSamples: warm }),
      };
    },
  };
}

/** Runs a command to completion; rejects with its stderr on failure. */
export function run(cmd: string, args: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 120_000, killSignal: 'SIGKILL' });
    let err = '';
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code === 0) resolve();
      else reject(new Error(`${cmd} ${args.join(' ')} exited ${String(code ?? child.signalCode)}: ${err.trim()}`));
    });
  });
}
