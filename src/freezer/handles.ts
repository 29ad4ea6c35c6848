import { type FreezerState, parseEventsFrozen, parseFlag, parseV1State } from '../cgroup/freezer-files.js';
import { type CgroupLocation, locateCgroup } from '../cgroup/location.js';
import { assertNotHoldingSelf } from '../cgroup/membership.js';
import { CgfreezeError, fromSystemError } from '../errors.js';
import { type NativeCgroupHandle, loadNative } from '../native.js';
import type { CgroupTarget } from './cgroup-target.js';

/**
 * One cgroup we operate on: its validated location, its open native handle,
 * and the bookkeeping that serializes operations on it within this process.
 */
export class CgroupEntry {
  /** Desired state of the last operation that wrote (true = frozen). */
  private intent: boolean | undefined;
  /** Bumped whenever the intent flips; a waiter whose generation is stale was superseded. */
  generation = 0;
  /** Operations in flight; an entry is never closed under them. */
  busy = 0;
  private readonly listeners = new Set<() => void>();

  /** The handle's `dev:ino`, read once: each read of the native accessor makes a new string. */
  readonly identity: string;

  constructor(
    /** The path this entry is cached under, as callers give it. */
    readonly key: string,
    readonly location: CgroupLocation,
    readonly handle: NativeCgroupHandle,
  ) {
    this.identity = handle.identity;
  }

  get version(): 1 | 2 {
    return this.location.version;
  }

  /** The kernel's state: v1 freezer.state; v2 `frozen` of cgroup.events (so never 'freezing'). */
  readState(): FreezerState {
    const { dir } = this.location;
    if (this.location.version === 1) return parseV1State(this.handle.readState(), `${dir}/freezer.state`);
    return parseEventsFrozen(this.handle.readState(), `${dir}/cgroup.events`) ? 'frozen' : 'thawed';
  }

  /** This cgroup's own request: v1 freezer.self_freezing, v2 cgroup.freeze. */
  readSelf(): boolean {
    const file = this.location.version === 1 ? 'freezer.self_freezing' : 'cgroup.freeze';
    return parseFlag(this.handle.readSelf(), `${this.location.dir}/${file}`);
  }

  /** v1 only: an ancestor is freezing or frozen. */
  readParentFreezing(): boolean {
    return parseFlag(this.handle.readParentFreezing(), `${this.location.dir}/freezer.parent_freezing`);
  }

  /** Records the direction of a write; returns the generation the writer waits under. */
  setIntent(frozen: boolean): number {
    if (this.intent !== frozen) {
      this.intent = frozen;
      this.generation++;
    }
    return this.generation;
  }

  /**
   * v2: calls `listener` on the event loop whenever cgroup.events changes. One
   * uv_poll serves every waiter on this cgroup. Returns the unsubscribe function.
   */
  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    if (this.listeners.size === 1) {
      this.handle.watch(() => {
        for (const l of [...this.listeners]) l();
      });
    }
    return () => {
      if (this.listeners.delete(listener) && this.listeners.size === 0 && !this.handle.closed) this.handle.unwatch();
    };
  }
}

/** Open handles kept for repeated operations (each holds 2–4 fds). */
const MAX_ENTRIES = 256;
const entries = new Map<string, CgroupEntry>();

/**
 * The entry for a cgroup, opening and validating it on first use: on a cgroup mount with a freezer,
 * not the root, not holding this process or its ancestors. A cached handle needs no per-call
 * validation: its fds stay bound to the directory's inode, so a removed (or removed and recreated)
 * cgroup fails with ENODEV, and {@link reopenEntry} starts over. With an identity guard, a cached
 * handle of another inode (the directory was recreated since) is replaced, and a fresh one must match.
 */
export function openEntry(target: CgroupTarget): CgroupEntry {
  const cached = entries.get(target.openDir);
  if (cached !== undefined && !cached.handle.closed) {
    return matchesGuard(cached, target) ? cached : reopenEntry(cached, target);
  }
  const location = locateCgroup(target.openDir);
  // Checked once per handle: a repeated freeze of the same cgroup costs no extra syscalls.
  assertNotHoldingSelf(location, target.label);
  const entry = new CgroupEntry(target.openDir, location, openHandle(location, target.label));
  entries.set(target.openDir, entry);
  if (entries.size > MAX_ENTRIES) evictOne();
  if (!matchesGuard(entry, target)) {
    throw new CgfreezeError(
      'ERR_CGROUP_MISMATCH',
      `the cgroup of ${target.label} at ${target.cgroupDir} is not the one it resolved to (recreated since); try again`,
      { target: target.label, path: target.cgroupDir },
    );
  }
  return entry;
}

/** A handle for one use, not cached (the caller closes it): for cgroups touched once, like a kill's descendants. */
export function openOnce(target: CgroupTarget): CgroupEntry {
  const location = locateCgroup(target.openDir);
  assertNotHoldingSelf(location, target.label);
  return new CgroupEntry(target.openDir, location, openHandle(location, target.label));
}

function matchesGuard(entry: CgroupEntry, target: CgroupTarget): boolean {
  return target.identity === undefined || entry.identity === target.identity;
}

/** Drops a stale entry (its cgroup was removed) and opens the target's directory afresh. */
export function reopenEntry(stale: CgroupEntry, target: CgroupTarget): CgroupEntry {
  dropEntry(stale);
  const cached = entries.get(target.openDir);
  if (cached !== undefined) dropEntry(cached);
  return openEntry(target);
}

export function dropEntry(entry: CgroupEntry): void {
  if (entries.get(entry.key) === entry) entries.delete(entry.key);
  if (entry.busy === 0) entry.handle.close();
}

function evictOne(): void {
  for (const entry of entries.values()) {
    if (entry.busy === 0) {
      dropEntry(entry);
      return;
    }
  }
}

function openHandle(location: CgroupLocation, target: string): NativeCgroupHandle {
  const { CgroupHandle } = loadNative();
  try {
    return new CgroupHandle(location.mount.mountPoint, location.relativePath === '' ? '.' : location.relativePath);
  } catch (err) {
    throw classifyOpenError(fromSystemError(err, target), location, target);
  }
}

/** Turns an open failure into the error a caller can act on. */
function classifyOpenError(error: CgfreezeError, location: CgroupLocation, target: string): CgfreezeError {
  const details = { target, ...(error.path === undefined ? {} : { path: error.path }), cause: error };
  // openat2 refuses a walk that meets a symlink, another mount or a non-directory.
  if (error.syscall === 'openat2' && (error.code === 'ENOTDIR' || error.code === 'EXDEV' || error.code === 'ELOOP')) {
    return new CgfreezeError('ERR_NOT_A_CGROUP', `not a cgroup directory: ${location.dir}`, details);
  }
  if (error.syscall === 'openat' && error.code === 'ENOENT') {
    const reason =
      location.version === 2 ? 'no cgroup.freeze (the cgroup v2 freezer needs Linux 5.2 or later)' : 'no freezer.state';
    return new CgfreezeError('ERR_FREEZER_UNAVAILABLE', `${location.dir} has ${reason}`, details);
  }
  return error;
}
