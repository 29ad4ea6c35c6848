// What a test makes and must not leave behind: scratch cgroups (one per-run parent in each hierarchy,
// children on demand, and a teardown that works after any failure: thaw, kill, wait, rmdir), temporary
// directories, and child processes. Each is undone by the test, else by an exit hook, else, after a
// SIGKILL, by the stale sweep of the next run (names carry the pid of the run that made them).
// Plain node:fs only: it must keep working when the freezer code under test is broken.
import { type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readProcs, sleep, sleepSync, thawCgroup, type CgroupVersion } from '../../scripts/workload/cgroupfs.js';
import { atExit, pidAlive } from '../../scripts/workload/index.js';

export { sleep };

export const FREEZER_V1_MOUNT = '/sys/fs/cgroup/freezer';
export const CGROUP2_MOUNT = '/sys/fs/cgroup/unified';
const PARENT_PREFIX = 'cgfreeze-test-';
const STALE_NAME = /^cgfreeze-test-(\d+)-[0-9a-f]+$/;
const TEMP_PREFIX = 'cgfreeze-tmp-';
const STALE_TEMP = /^cgfreeze-tmp-(\d+)-[0-9a-f]+$/;
const TEARDOWN_TIMEOUT_MS = 10_000;

export interface Scratch {
  /** `cgfreeze-test-<pid>-<rand>`, the parent's name in both hierarchies. */
  readonly name: string;
  /** The per-run parent under the v1 freezer mount. */
  readonly v1Root: string;
  /** The per-run parent under the cgroup2 mount. */
  readonly v2Root: string;
  root(version: CgroupVersion): string;
  /**
   * Creates a child cgroup and returns its directory. `name` may be nested
   * (`a/b/c`, missing levels are created); by default a fresh `cN`. The leaf
   * must not exist yet.
   */
  make(version: CgroupVersion, name?: string): string;
  /**
   * Thaws, kills every task and removes both parents with everything under
   * them. Safe to call more than once and after failures; rejects, after
   * trying everything, if something could not be removed.
   */
  cleanup(): Promise<void>;
}

function mountOf(version: CgroupVersion): string {
  return version === 1 ? FREEZER_V1_MOUNT : CGROUP2_MOUNT;
}

function isMissing(error: unknown): boolean {
  return (error as NodeJS.ErrnoException).code === 'ENOENT';
}

/** DIR and every cgroup below it, parents before children. */
function subtree(dir: string): string[] {
  const out = [dir];
  for (let i = 0; i < out.length; i++) {
    const current = out[i] as string;
    let entries;
    try {
      entries = readdirSync(current, { withFileTypes: true });
    } catch (error) {
      if (isMissing(error)) continue;
      throw error;
    }
    for (const entry of entries) if (entry.isDirectory()) out.push(join(current, entry.name));
  }
  return out;
}

/** Never kill the test runner itself, even if a bug moved it into a scratch cgroup. */
const protectedPids = new Set([process.pid, process.ppid]);

function killTasks(dir: string, version: CgroupVersion, errors: string[]): void {
  if (version === 2) {
    // cgroup.kill takes the whole subtree, frozen tasks included.
    const procs = subtree(dir).flatMap((d) => safeProcs(d));
    const mine = procs.filter((pid) => protectedPids.has(pid));
    if (mine.length > 0) {
      errors.push(`${dir} holds the test process (${mine.join(' ')}); not killing it`);
      return;
    }
    try {
      writeFileSync(`${dir}/cgroup.kill`, '1');
    } catch (error) {
      if (!isMissing(error)) errors.push(`${dir}/cgroup.kill: ${String(error)}`);
    }
    return;
  }
  for (const pid of safeProcs(dir)) {
    if (protectedPids.has(pid)) {
      errors.push(`${dir} holds the test process (${pid}); not killing it`);
      continue;
    }
    try {
      process.kill(pid, 'SIGKILL');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') errors.push(`kill ${pid}: ${String(error)}`);
    }
  }
}

function safeProcs(dir: string): number[] {
  try {
    return readProcs(dir);
  } catch {
    return [];
  }
}

function safeThaw(dir: string, version: CgroupVersion, errors: string[]): void {
  try {
    thawCgroup(dir, version);
  } catch (error) {
    if (!isMissing(error)) errors.push(`thaw ${dir}: ${String(error)}`);
  }
}

/**
 * Starts tearing down DIR's subtree: thaw top-down (v1 frozen tasks cannot
 * die), kill every task, thaw again in case something froze meanwhile.
 * Returns the directories, children first, for {@link removeStep}.
 */
function beginTeardown(dir: string, version: CgroupVersion, errors: string[]): string[] {
  if (!existsSync(dir)) return [];
  const dirs = subtree(dir);
  for (const d of dirs) safeThaw(d, version, errors);
  if (version === 2) killTasks(dir, 2, errors);
  else for (const d of dirs) killTasks(d, 1, errors);
  for (const d of dirs) safeThaw(d, version, errors);
  return dirs.reverse();
}

/** One pass: rmdir every empty cgroup (children first); re-kill what is not. Returns what is left. */
function removeStep(dirs: string[], version: CgroupVersion, errors: string[]): string[] {
  const left: string[] = [];
  for (const dir of dirs) {
    if (!existsSync(dir)) continue;
    if (safeProcs(dir).length > 0) {
      safeThaw(dir, version, errors);
      killTasks(dir, version, []);
      left.push(dir);
      continue;
    }
    try {
      rmdirSync(dir);
    } catch (error) {
      if (!isMissing(error)) left.push(dir);
    }
  }
  return left;
}

function leftover(dirs: string[]): string {
  return dirs.map((d) => `${d} (tasks: ${safeProcs(d).slice(0, 10).join(' ') || 'none'})`).join(', ');
}

/** Synchronous teardown, for exit handlers and the stale sweep. Returns error messages. */
export function removeCgroupTreeSync(dir: string, version: CgroupVersion): string[] {
  const errors: string[] = [];
  let dirs = beginTeardown(dir, version, errors);
  const deadline = Date.now() + TEARDOWN_TIMEOUT_MS;
  while ((dirs = removeStep(dirs, version, errors)).length > 0 && Date.now() < deadline) sleepSync(5);
  if (dirs.length > 0) errors.push(`could not remove ${leftover(dirs)}`);
  return errors;
}

/** Like {@link removeCgroupTreeSync} but lets the event loop run (so Node can reap its children). */
export async function removeCgroupTree(dir: string, version: CgroupVersion): Promise<string[]> {
  const errors: string[] = [];
  let dirs = beginTeardown(dir, version, errors);
  const deadline = Date.now() + TEARDOWN_TIMEOUT_MS;
  while ((dirs = removeStep(dirs, version, errors)).length > 0 && Date.now() < deadline) await sleep(5);
  if (dirs.length > 0) errors.push(`could not remove ${leftover(dirs)}`);
  return errors;
}

/** Removes `cgfreeze-test-<pid>-*` parents whose run is dead. Returns the directories removed. */
export function sweepStaleScratch(): string[] {
  const swept: string[] = [];
  for (const version of [1, 2] as const) {
    const mount = mountOf(version);
    let names: string[];
    try {
      names = readdirSync(mount);
    } catch {
      continue;
    }
    for (const name of names) {
      const match = STALE_NAME.exec(name);
      if (match === null || pidAlive(Number(match[1]))) continue;
      const dir = join(mount, name);
      if (removeCgroupTreeSync(dir, version).length === 0) swept.push(dir);
    }
  }
  return swept;
}

/** Creates the per-run parents (sweeping dead runs' first). Throws if a hierarchy is missing. */
export function createScratch(): Scratch {
  for (const mount of [FREEZER_V1_MOUNT, CGROUP2_MOUNT]) {
    if (!existsSync(`${mount}/cgroup.procs`)) throw new Error(`no cgroup hierarchy mounted at ${mount}`);
  }
  sweepStaleScratch();
  const name = `${PARENT_PREFIX}${process.pid}-${randomBytes(4).toString('hex')}`;
  const v1Root = join(FREEZER_V1_MOUNT, name);
  const v2Root = join(CGROUP2_MOUNT, name);
  mkdirSync(v1Root);
  try {
    mkdirSync(v2Root);
  } catch (error) {
    rmdirSync(v1Root);
    throw error;
  }

  let cleaned: Promise<void> | undefined;
  const unregister = atExit(() => {
    removeCgroupTreeSync(v1Root, 1);
    removeCgroupTreeSync(v2Root, 2);
  });
  let next = 0;
  const root = (version: CgroupVersion): string => (version === 1 ? v1Root : v2Root);

  return {
    name,
    v1Root,
    v2Root,
    root,
    make(version, childName) {
      const relative = childName ?? `c${next++}`;
      const parts = relative.split('/');
      if (parts.some((part) => !/^[A-Za-z0-9_.-]+$/.test(part) || part === '.' || part === '..')) {
        throw new Error(`bad scratch cgroup name ${JSON.stringify(relative)}`);
      }
      const dir = join(root(version), ...parts);
      const parent = join(dir, '..');
      mkdirSync(parent, { recursive: true });
      mkdirSync(dir);
      return dir;
    },
    cleanup() {
      cleaned ??= (async () => {
        unregister();
        const errors = [...(await removeCgroupTree(v1Root, 1)), ...(await removeCgroupTree(v2Root, 2))];
        if (errors.length > 0) throw new Error(`scratch cleanup of ${name}: ${errors.join('; ')}`);
      })();
      return cleaned;
    },
  };
}

/** Temporary directories made by {@link makeTempDir} and not yet removed, with their exit hooks. */
const liveTempDirs = new Map<string, () => void>();

/**
 * A fresh directory `<tmpdir>/cgfreeze-tmp-<pid>-<rand>`, removed by {@link removeTempDir}, else when
 * the process exits, else by the next run's sweep. `mode` 0o755 lets other uids in (socket tests).
 */
export function makeTempDir(mode = 0o700): string {
  sweepStaleTemp();
  const dir = join(tmpdir(), `${TEMP_PREFIX}${process.pid}-${randomBytes(4).toString('hex')}`);
  mkdirSync(dir);
  chmodSync(dir, mode);
  liveTempDirs.set(
    dir,
    atExit(() => rmSync(dir, { recursive: true, force: true })),
  );
  return dir;
}

export function removeTempDir(dir: string): void {
  liveTempDirs.get(dir)?.();
  liveTempDirs.delete(dir);
  rmSync(dir, { recursive: true, force: true });
}

/** Removes `cgfreeze-tmp-<pid>-*` directories whose run is dead. */
export function sweepStaleTemp(): void {
  const parent = tmpdir();
  for (const name of readdirSync(parent)) {
    const match = STALE_TEMP.exec(name);
    if (match === null || pidAlive(Number(match[1]))) continue;
    rmSync(join(parent, name), { recursive: true, force: true });
  }
}

/**
 * SIGKILLs `child` when this process exits, if it is still running then: a sidecar or a `pause --for`
 * left behind by a failed test would otherwise outlive the run.
 */
export function killAtExit(child: ChildProcess): ChildProcess {
  const unregister = atExit(() => child.kill('SIGKILL'));
  child.once('exit', unregister);
  return child;
}

/** Polls `check` until it is true; fails after a generous deadline (a liveness bound, not a speed assertion). */
export async function until(what: string, check: () => boolean, deadlineMs = 20_000): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}
