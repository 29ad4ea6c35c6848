// Real processes in real cgroups for cgfreeze's tests and benchmarks: a worker
// with N tasks (busy counter or idle echo) and a task that no freezer can park.
// The C programs next to this file are compiled on demand into build/workload/.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  renameSync,
  rmdirSync,
  statSync,
  unlinkSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import { cgroupVersionOf, isDead, isSelfFrozen, readStat, readWchan, sleep, thawCgroup } from './cgroupfs.js';

export { readWchan } from './cgroupfs.js';

const PREFIX = 'cgf-wl';
const repoRoot = resolve(__dirname, '..', '..');
const sourceDir = join(repoRoot, 'scripts', 'workload');
/** Where the compiled helpers go (node-gyp rebuild wipes build/; they are rebuilt on demand). */
export const workloadBuildDir = join(repoRoot, 'build', 'workload');
const COUNTER_DIR = '/dev/shm';
const FUSE_PARENT = '/tmp';

// ---------------------------------------------------------------- building

const built = new Map<string, string>();

function mtimeMs(path: string): number | undefined {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return undefined;
  }
}

/**
 * Path of a compiled helper (`worker`, `fuse-stall` or `scenario`), compiling it with
 * `cc -O2` when missing or older than its source. Parallel test processes may
 * race here, so each compiles to a private name and renames into place.
 */
export function workloadBinary(name: 'worker' | 'fuse-stall' | 'scenario'): string {
  const cached = built.get(name);
  if (cached !== undefined) return cached;
  const source = join(sourceDir, `${name}.c`);
  const output = join(workloadBuildDir, name);
  const sourceTime = mtimeMs(source);
  if (sourceTime === undefined) throw new Error(`missing source ${source}`);
  const outputTime = mtimeMs(output);
  if (outputTime === undefined || outputTime < sourceTime) {
    mkdirSync(workloadBuildDir, { recursive: true });
    const temp = `${output}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      execFileSync('cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', temp, source], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
    } catch (error) {
      const stderr = (error as { stderr?: Buffer }).stderr?.toString() ?? '';
      throw new Error(`cc failed for ${source}: ${stderr || String(error)}`, { cause: error });
    }
    renameSync(temp, output);
  }
  built.set(name, output);
  return output;
}

// ---------------------------------------------------------------- exit hook

// Synchronous last-resort teardown when the test process exits with things
// still running. If the process is killed instead, PR_SET_PDEATHSIG in the C
// programs ends them and the next run sweeps the files (sweepStaleWorkloadFiles).
const exitCleanups = new Set<() => void>();
let exitHookInstalled = false;

/** Runs `cleanup` when the process exits, unless the returned function unregisters it first. */
export function atExit(cleanup: () => void): () => void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const fn of exitCleanups) {
        try {
          fn();
        } catch {
          // Best effort: the process is going away.
        }
      }
    });
  }
  exitCleanups.add(cleanup);
  return () => exitCleanups.delete(cleanup);
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

/** Whether a process with this pid exists (EPERM: it does, under another uid). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes counter files and FUSE mount points left by runs that were killed
 * (pid in the name no longer alive). Runs on every start; exported for tests.
 */
export function sweepStaleWorkloadFiles(): void {
  const sweep = (dir: string, pattern: RegExp, remove: (path: string) => void): void => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const name of names) {
      const match = pattern.exec(name);
      if (match === null || pidAlive(Number(match[1]))) continue;
      try {
        remove(join(dir, name));
      } catch {
        // Another run may be sweeping the same file.
      }
    }
  };
  sweep(COUNTER_DIR, /^cgf-wl-(\d+)-[0-9a-f]+\.counter$/, unlinkSync);
  sweep(FUSE_PARENT, /^cgf-wl-fuse-(\d+)-[0-9a-f]+$/, rmdirSync);
}

function uniqueName(): string {
  return `${process.pid}-${randomBytes(4).toString('hex')}`;
}

// ---------------------------------------------------------------- process plumbing

/** Collects a child's stderr so failures can say why. */
function collectStderr(child: ChildProcess): () => string {
  let text = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    if (text.length < 4096) text += chunk;
  });
  return () => text.trim();
}

function describeExit(code: number | null, sig: NodeJS.Signals | null): string {
  return sig !== null ? `killed by ${sig}` : `exit status ${code}`;
}

/**
 * Resolves with the first stdout line. Bytes after it go to `rest`. Rejects
 * if the child exits first or `timeoutMs` passes.
 */
function firstLine(
  child: ChildProcess,
  timeoutMs: number,
  what: string,
  stderr: () => string,
  rest: (chunk: Buffer) => void,
): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    let pending = Buffer.alloc(0);
    let done = false;
    const finish = (error: Error | undefined, line?: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      child.off('close', onExitEvent);
      if (error) reject(error);
      else resolvePromise(line ?? '');
    };
    const onData = (chunk: Buffer): void => {
      if (done) {
        rest(chunk);
        return;
      }
      pending = Buffer.concat([pending, chunk]);
      const newline = pending.indexOf(10);
      if (newline < 0) return;
      const after = pending.subarray(newline + 1);
      finish(undefined, pending.subarray(0, newline).toString('utf8'));
      if (after.length > 0) rest(after);
    };
    // 'close' comes after the child's stdio has ended, so its stderr is complete ('exit' may come first).
    const onExitEvent = (code: number | null, sig: NodeJS.Signals | null): void =>
      finish(new Error(`${what} failed before it was ready (${describeExit(code, sig)}): ${stderr()}`));
    const timer = setTimeout(
      () => finish(new Error(`${what} not ready within ${timeoutMs} ms: ${stderr()}`)),
      timeoutMs,
    );
    child.stdout?.on('data', onData);
    child.once('close', onExitEvent);
  });
}

/**
 * SIGKILLs those of `pids` still in process group `pgrp`. Checking the group
 * first keeps a pid that was reused by an unrelated process safe; the group
 * id itself cannot be reused while any member lives.
 */
function killGroupMembers(pids: readonly number[], pgrp: number): void {
  for (const pid of pids) {
    if (readStat(pid)?.pgrp === pgrp) signal(pid, 'SIGKILL');
  }
}

/**
 * Polls until every pid is dead or no longer has `owner` as its process group
 * (or parent), which means the pid was reused. Returns the survivors.
 */
async function waitDead(
  pids: readonly number[],
  owner: number,
  timeoutMs: number,
  field: 'pgrp' | 'ppid' = 'pgrp',
): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  let alive = [...pids];
  for (;;) {
    alive = alive.filter((pid) => {
      const stat = readStat(pid);
      if (stat === undefined || stat.state === 'Z' || stat.state === 'X') return false;
      return stat[field] === owner;
    });
    if (alive.length === 0 || Date.now() >= deadline) return alive;
    await sleep(5);
  }
}

// ---------------------------------------------------------------- workload

export type WorkloadMode = 'busy' | 'idle';

export interface WorkloadOptions {
  /** Tasks in the cgroup, task 0 included (default 1). */
  tasks?: number;
  /** busy: task 0 spins on the counter; idle: task 0 echoes stdin (default busy). */
  mode?: WorkloadMode;
  /** How long all tasks may take to be in place (default 30000). */
  timeoutMs?: number;
}

export interface Workload {
  readonly cgroupDir: string;
  readonly mode: WorkloadMode;
  /** Every task, pids[0] is task 0. All share one process group led by pids[0]. */
  readonly pids: readonly number[];
  /** The MAP_SHARED counter file (8 bytes, little endian). */
  readonly counterFile: string;
  /** busy: iterations of task 0; idle: bytes echoed so far. */
  counter(): bigint;
  /** Resolves true as soon as the counter moves, false after timeoutMs (default 5000). */
  waitForProgress(timeoutMs?: number): Promise<boolean>;
  /** Resolves true if the counter stays put for ms (default 100), false as soon as it moves. */
  isStalled(ms?: number): Promise<boolean>;
  /**
   * idle mode: writes one byte to task 0 and resolves with process.hrtime.bigint()
   * taken when the echo arrived. Called while frozen, it resolves after the thaw.
   * Rejects after timeoutMs (default 10000) or if the worker exits.
   */
  echo(timeoutMs?: number): Promise<bigint>;
  /**
   * Thaws the cgroup if it froze itself (frozen v1 tasks cannot die), SIGKILLs
   * every task, waits until all are gone and removes the counter file. Rejects
   * if tasks outlive timeoutMs (default 10000), e.g. an ancestor keeps them
   * frozen. Safe to call twice.
   */
  stop(timeoutMs?: number): Promise<void>;
}

/** Starts `worker` in cgroupDir (a v1 freezer or cgroup2 directory) and waits until all tasks are in place. */
export async function startWorkload(cgroupDir: string, options: WorkloadOptions = {}): Promise<Workload> {
  const tasks = options.tasks ?? 1;
  const mode = options.mode ?? 'busy';
  if (!Number.isInteger(tasks) || tasks < 1) throw new Error(`tasks must be a positive integer, got ${tasks}`);
  const version = cgroupVersionOf(cgroupDir);
  const binary = workloadBinary('worker');
  sweepStaleWorkloadFiles();
  const counterFile = join(COUNTER_DIR, `${PREFIX}-${uniqueName()}.counter`);
  const child = spawn(
    binary,
    ['--cgroup', cgroupDir, '--tasks', String(tasks), '--mode', mode, '--counter', counterFile],
    {
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  const leader = child.pid;
  if (leader === undefined) throw new Error(`cannot spawn ${binary}`);
  const stderr = collectStderr(child);
  let pids: number[] = [leader];
  let counterFd: number | undefined;

  // While Node has not reaped the leader, its pid (and so our group id) cannot
  // be reused: one group-wide kill is safe and takes every task at once.
  const killAll = (): void => {
    if (child.exitCode === null && child.signalCode === null) {
      signal(-leader, 'SIGKILL');
      child.kill('SIGKILL');
    }
    killGroupMembers(pids, leader);
  };
  const emergency = (): void => {
    killAll();
    if (counterFd !== undefined) closeSync(counterFd);
    try {
      unlinkSync(counterFile);
    } catch {
      // Never created, or already removed.
    }
  };
  const unregister = atExit(emergency);

  // Echo bookkeeping: bytes sent and received, one waiter at a time.
  let sent = 0;
  let received = 0;
  let echoWaiter: { target: number; resolve: (at: bigint) => void; reject: (e: Error) => void } | undefined;
  const onEcho = (chunk: Buffer): void => {
    const at = process.hrtime.bigint();
    received += chunk.length;
    if (echoWaiter !== undefined && received >= echoWaiter.target) {
      const { resolve: resolveEcho } = echoWaiter;
      echoWaiter = undefined;
      resolveEcho(at);
    }
  };
  let exited: string | undefined;
  child.once('exit', (code, sig) => {
    exited = describeExit(code, sig);
    echoWaiter?.reject(new Error(`worker exited (${exited}) before the echo arrived`));
    echoWaiter = undefined;
  });
  // A write to a dead worker's stdin must not crash the test process.
  child.stdin?.on('error', () => undefined);

  try {
    const line = await firstLine(
      child,
      options.timeoutMs ?? 30_000,
      `worker (${tasks} tasks in ${cgroupDir})`,
      stderr,
      onEcho,
    );
    const fields = line.split(' ');
    if (fields[0] !== 'ready' || fields.length !== tasks + 1)
      throw new Error(`worker said ${JSON.stringify(line.slice(0, 200))}`);
    pids = fields.slice(1).map(Number);
    counterFd = openSync(counterFile, 'r');
  } catch (error) {
    emergency();
    unregister();
    throw error;
  }
  const fd = counterFd;
  const buffer = Buffer.alloc(8);
  const counter = (): bigint => {
    readSync(fd, buffer, 0, 8, 0);
    return buffer.readBigUInt64LE(0);
  };

  let stopping: Promise<void> | undefined;
  const stop = async (timeoutMs = 10_000): Promise<void> => {
    // The cgroup may be gone already (scratch cleanup ran first).
    if (existsSync(cgroupDir) && isSelfFrozen(cgroupDir, version)) thawCgroup(cgroupDir, version);
    killAll();
    const alive = await waitDead(pids, leader, timeoutMs);
    unregister();
    closeSync(fd);
    unlinkSync(counterFile);
    if (alive.length > 0) {
      throw new Error(
        `worker tasks still alive after ${timeoutMs} ms (frozen by an ancestor?): ${alive.slice(0, 10).join(' ')}`,
      );
    }
  };

  return {
    cgroupDir,
    mode,
    pids,
    counterFile,
    counter,
    async waitForProgress(timeoutMs = 5000) {
      const start = counter();
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        if (counter() !== start) return true;
        await sleep(1);
      }
      return counter() !== start;
    },
    async isStalled(ms = 100) {
      const start = counter();
      const deadline = Date.now() + ms;
      while (Date.now() < deadline) {
        if (counter() !== start) return false;
        await sleep(1);
      }
      return counter() === start;
    },
    echo(timeoutMs = 10_000) {
      if (mode !== 'idle') return Promise.reject(new Error('echo() needs an idle-mode workload'));
      if (exited !== undefined) return Promise.reject(new Error(`worker exited (${exited})`));
      if (echoWaiter !== undefined) return Promise.reject(new Error('an echo is already pending'));
      return new Promise<bigint>((resolveEcho, reject) => {
        const timer = setTimeout(() => {
          echoWaiter = undefined;
          reject(new Error(`no echo within ${timeoutMs} ms`));
        }, timeoutMs);
        sent += 1;
        echoWaiter = {
          target: sent,
          resolve: (at) => {
            clearTimeout(timer);
            resolveEcho(at);
          },
          reject: (e) => {
            clearTimeout(timer);
            reject(e);
          },
        };
        child.stdin?.write('x');
      });
    },
    stop(timeoutMs?: number) {
      stopping ??= stop(timeoutMs);
      return stopping;
    },
  };
}

// ---------------------------------------------------------------- stuck task

export interface StuckTask {
  /** The task blocked in request_wait_answer, inside cgroupDir. */
  readonly pid: number;
  /** The FUSE server; it stays in the caller's cgroup. */
  readonly serverPid: number;
  /** The mount point; the FUSE mount exists only in the server's private mount namespace. */
  readonly mountDir: string;
  readonly cgroupDir: string;
  /** SIGKILLs the task, has the server unmount and exit, removes mountDir. Safe to call twice. */
  stop(timeoutMs?: number): Promise<void>;
}

/**
 * Puts a task into cgroupDir that no freezer can park: it waits for a FUSE
 * answer that never comes. Resolves once its wchan is request_wait_answer.
 * Freezing its cgroup stays FREEZING (v1) or `frozen 0` (v2); SIGKILL ends it.
 */
export async function startStuckTask(cgroupDir: string, options: { timeoutMs?: number } = {}): Promise<StuckTask> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  cgroupVersionOf(cgroupDir);
  const binary = workloadBinary('fuse-stall');
  sweepStaleWorkloadFiles();
  const mountDir = join(FUSE_PARENT, `${PREFIX}-fuse-${uniqueName()}`);
  mkdirSync(mountDir);
  const server = spawn(binary, ['--mount', mountDir, '--cgroup', cgroupDir], { stdio: ['ignore', 'pipe', 'pipe'] });
  const serverPid = server.pid;
  if (serverPid === undefined) {
    rmdirSync(mountDir);
    throw new Error(`cannot spawn ${binary}`);
  }
  const stderr = collectStderr(server);
  let serverExited = false;
  const serverGone = new Promise<void>((resolveGone) =>
    server.once('exit', () => {
      serverExited = true;
      resolveGone();
    }),
  );
  let pid = 0;
  // Only while it is still the server's child: a dead task's pid may be reused.
  const killTask = (): void => {
    if (pid > 0 && readStat(pid)?.ppid === serverPid) signal(pid, 'SIGKILL');
  };
  const emergency = (): void => {
    killTask();
    if (!serverExited) signal(serverPid, 'SIGKILL');
    // The mount lives in the server's namespace only; rmdir here detaches it there too.
    rmdirSync(mountDir);
  };
  const unregister = atExit(emergency);

  const stop = async (stopTimeoutMs = 10_000): Promise<void> => {
    killTask();
    const alive = pid > 0 ? await waitDead([pid], serverPid, stopTimeoutMs, 'ppid') : [];
    if (!serverExited) signal(serverPid, 'SIGTERM');
    const serverDone = await Promise.race([serverGone.then(() => true), sleep(stopTimeoutMs).then(() => false)]);
    if (!serverDone) signal(serverPid, 'SIGKILL');
    unregister();
    rmdirSync(mountDir);
    if (alive.length > 0) throw new Error(`stuck task ${pid} still alive after SIGKILL`);
    if (!serverDone) throw new Error(`FUSE server ${serverPid} ignored SIGTERM`);
  };

  try {
    const line = await firstLine(server, timeoutMs, `fuse-stall (in ${cgroupDir})`, stderr, () => undefined);
    const match = /^stuck (\d+)$/.exec(line);
    if (match === null) throw new Error(`fuse-stall said ${JSON.stringify(line)}`);
    pid = Number(match[1]);
    const deadline = Date.now() + timeoutMs;
    let wchan = readWchan(pid);
    while (wchan !== 'request_wait_answer') {
      if (isDead(pid)) throw new Error(`stuck task ${pid} exited: ${stderr()}`);
      if (Date.now() >= deadline)
        throw new Error(`stuck task ${pid} not blocked within ${timeoutMs} ms (wchan ${JSON.stringify(wchan)})`);
      await sleep(2);
      wchan = readWchan(pid);
    }
  } catch (error) {
    await stop(2000).catch(() => undefined);
    throw error;
  }

  let stopping: Promise<void> | undefined;
  return {
    pid,
    serverPid,
    mountDir,
    cgroupDir,
    stop(stopTimeoutMs?: number) {
      stopping ??= stop(stopTimeoutMs);
      return stopping;
    },
  };
}
