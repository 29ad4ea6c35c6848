/**
 * `untilExit`: a watchdog process that thaws what this process froze with `untilExit` and has not thawed
 * since, should this process die first: SIGKILL and the OOM killer included.
 *
 * One watchdog per owner process, started on first use (node running watchdog-main.js). It reads a pipe
 * whose only write end is in this process; the kernel closes that end however this process ends, and the
 * watchdog, at EOF, thaws every cgroup it still guards through the native handle it opened for it, then
 * exits. A guard is written into the pipe before the freeze's own write, so a death right after the freeze
 * still leaves the message for the watchdog to read. The watchdog runs in its own session (a terminal's
 * Ctrl-C does not reach it) and moves itself to the root of the freezer hierarchies where it is allowed to,
 * so it never sits in a cgroup it may have to thaw and is not killed along with this process's cgroup
 * (cgroup.kill, memory.oom.group). Where it is not allowed to (no root), it stays in this process's
 * cgroups, which this process never freezes. It never keeps this process's event loop alive.
 */
import type { ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { readProcStat } from '../cgroup/proc.js';
import { CgfreezeError } from '../errors.js';
import { packageRoot } from '../native.js';
import type { CgroupEntry } from './handles.js';

/** The title the watchdog takes once it is ready to guard (its comm shows the first 15 characters). */
export const WATCHDOG_TITLE = 'cgfreeze-watchdog';
/** The built script, also when this module runs from source (tests): node runs JavaScript only. */
const WATCHDOG_MAIN = join(packageRoot, 'dist', 'freezer', 'watchdog-main.js');
/** Node's start-up on a loaded machine can take seconds. */
const START_TIMEOUT_MS = 10_000;
const START_POLL_MS = 2;

/** One line from owner to watchdog. */
export type WatchdogMessage = { op: 'guard'; identity: string; dir: string } | { op: 'release'; identity: string };

class Watchdog {
  constructor(
    readonly child: ChildProcess,
    private readonly input: Writable,
    /** identity → directory of every cgroup it guards. */
    readonly guarded: Map<string, string>,
  ) {}

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null && !this.input.destroyed;
  }

  /** True when the line reached the pipe: a short write to a pipe with room completes within the call. */
  send(message: WatchdogMessage): boolean {
    this.input.write(`${JSON.stringify(message)}\n`);
    return !this.input.destroyed && this.input.writableLength === 0;
  }
}

let current: Watchdog | undefined;
let starting: Promise<void> | undefined;

function watchdogError(message: string, cause?: unknown): CgfreezeError {
  return new CgfreezeError('ERR_WATCHDOG', `untilExit: ${message}`, cause === undefined ? {} : { cause });
}

function spawnWatchdog(): ChildProcess {
  const { spawn } = process.getBuiltinModule('node:child_process');
  // The caller's node options (a test runner's loaders, --inspect) are not the watchdog's.
  const { NODE_OPTIONS: _dropped, ...env } = process.env;
  let child: ChildProcess;
  try {
    child = spawn(process.execPath, [WATCHDOG_MAIN], {
      detached: true,
      stdio: ['pipe', 'ignore', 'ignore'],
      env,
      cwd: '/', // holds no directory of the owner's busy
    });
  } catch (err) {
    throw watchdogError('could not start the watchdog', err);
  }
  // A watchdog that died shows as not alive at the next guard; its errors must not crash this process.
  child.on('error', () => undefined);
  child.stdin?.on('error', () => undefined);
  if (child.pid === undefined || child.stdin === null) throw watchdogError(`could not start ${WATCHDOG_MAIN}`);
  child.unref();
  // A pipe to a child is a socket.
  (child.stdin as Socket).unref();
  return child;
}

/** Ready once it took its title (after loading the addon and leaving this process's cgroups). */
function readiness(child: ChildProcess): 'ready' | 'starting' | 'gone' {
  const stat = child.pid === undefined ? undefined : readProcStat(child.pid);
  if (stat === undefined || stat.state === 'Z' || stat.state === 'X') return 'gone';
  return stat.comm === WATCHDOG_TITLE.slice(0, 15) ? 'ready' : 'starting';
}

/** Takes over a ready watchdog, handing it what a dead predecessor guarded. */
function adopt(child: ChildProcess): Watchdog {
  const dog = new Watchdog(child, child.stdin as Writable, current?.guarded ?? new Map<string, string>());
  for (const [identity, dir] of dog.guarded) {
    if (!dog.send({ op: 'guard', identity, dir })) throw watchdogError('the new watchdog does not read its pipe');
  }
  current = dog;
  return dog;
}

function notReady(child: ChildProcess, state: 'starting' | 'gone'): CgfreezeError {
  child.kill('SIGKILL');
  return watchdogError(
    state === 'gone'
      ? `the watchdog (${WATCHDOG_MAIN}) exited while starting`
      : `the watchdog did not start within ${START_TIMEOUT_MS} ms`,
  );
}

/** Starts the watchdog on this thread, waiting in short sleeps until it is ready. */
function startSync(): Watchdog {
  const child = spawnWatchdog();
  const deadline = performance.now() + START_TIMEOUT_MS;
  const nap = new Int32Array(new SharedArrayBuffer(4));
  for (let state = readiness(child); state !== 'ready'; state = readiness(child)) {
    if (state === 'gone' || performance.now() > deadline) throw notReady(child, state);
    Atomics.wait(nap, 0, 0, START_POLL_MS);
  }
  return adopt(child);
}

async function startAsync(): Promise<void> {
  const child = spawnWatchdog();
  const deadline = performance.now() + START_TIMEOUT_MS;
  for (let state = readiness(child); state !== 'ready'; state = readiness(child)) {
    if (state === 'gone' || performance.now() > deadline) throw notReady(child, state);
    await new Promise((resolve) => setTimeout(resolve, START_POLL_MS));
  }
  adopt(child);
}

/**
 * For the Promise API: undefined when a watchdog is running, else a promise that settles once one is
 * ready, so the guard itself (synchronous, just before a freeze's write) never waits for a start.
 */
export function watchdogStarting(): Promise<void> | undefined {
  if (current?.alive === true) return undefined;
  starting ??= startAsync().finally(() => {
    starting = undefined;
  });
  return starting;
}

/** Has the watchdog guard this cgroup (before the freeze's write), starting one if none is running. */
export function guardWithWatchdog(entry: CgroupEntry): void {
  const { identity } = entry;
  const dog = current?.alive === true ? current : startSync();
  if (dog.guarded.has(identity)) return;
  const dir = entry.location.dir;
  if (!dog.send({ op: 'guard', identity, dir })) {
    // Still buffered here: it may reach the watchdog later, so the release follows it.
    dog.send({ op: 'release', identity });
    throw watchdogError(`the watchdog (pid ${String(dog.child.pid)}) does not read its pipe; ${dir} was not frozen`);
  }
  dog.guarded.set(identity, dir);
}

/** This process thawed the cgroup: the watchdog no longer guards it. */
export function releaseFromWatchdog(identity: string): void {
  if (current === undefined || !current.guarded.delete(identity)) return;
  if (current.alive) current.send({ op: 'release', identity });
}

/** The running watchdog's pid, for tests and diagnostics. */
export function watchdogPid(): number | undefined {
  return current?.alive === true ? current.child.pid : undefined;
}
