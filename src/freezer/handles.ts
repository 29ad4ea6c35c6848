import { type CgroupLocation, locateCgroup } from '../cgroup/location.js';
import { assertNotHoldingSelf } from '../cgroup/membership.js';
import { CgfreezeError, fromSystemError, isNativeSystemError } from '../errors.js';
import { type NativeCgroupHandle, loadNative } from '../native.js';

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

  constructor(
    readonly location: CgroupLocation,
    readonly handle: NativeCgroupHandle,
  ) {}

  get version(): 1 | 2 {
    return this.location.version;
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
 * The cached entry for a cgroup directory, opening and validating it on first
 * use: on a cgroup mount with a freezer, not the root, not holding this
 * process or its ancestors. A cached handle needs no per-call validation: its
 * fds stay bound to the directory's inode, so a removed (or removed and
 * recreated) cgroup fails with ENODEV, and {@link reopenEntry} starts over.
 */
export function openEntry(dir: string, target: string): CgroupEntry {
  const cached = entries.get(dir);
  if (cached !== undefined && !cached.handle.closed) return cached;
  const location = locateCgroup(dir);
  // Checked once per handle: a repeated freeze of the same cgroup costs no extra syscalls.
  assertNotHoldingSelf(location, target);
  const entry = new CgroupEntry(location, openHandle(location, target));
  entries.set(dir, entry);
  if (entries.size > MAX_ENTRIES) evictOne();
  return entry;
}

/** Drops a stale entry (its cgroup was removed) and opens `dir` afresh (the same path, or a re-resolved one). */
export function reopenEntry(stale: CgroupEntry, dir: string, target: string): CgroupEntry {
  dropEntry(stale);
  const cached = entries.get(dir);
  if (cached !== undefined) dropEntry(cached);
  return openEntry(dir, target);
}

export function dropEntry(entry: CgroupEntry): void {
  if (entries.get(entry.location.dir) === entry) entries.delete(entry.location.dir);
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
    throw classifyOpenError(err, location, target);
  }
}

/** Turns an open failure into the error a caller can act on. */
function classifyOpenError(err: unknown, location: CgroupLocation, target: string): CgfreezeError {
  if (!isNativeSystemError(err)) return fromSystemError(err, target);
  const details = { target, path: err.path, errno: err.errno, syscall: err.syscall, cause: err };
  if (
    err.syscall === 'openat2' &&
    (err.errno === 20 /* ENOTDIR */ || err.errno === 18 /* EXDEV */ || err.errno === 40) /* ELOOP */
  ) {
    return new CgfreezeError('ERR_NOT_A_CGROUP', `not a cgroup directory: ${location.dir}`, details);
  }
  if (err.syscall === 'fstatfs' && err.errno === 18) {
    return new CgfreezeError('ERR_NOT_A_CGROUP', `not on a cgroup filesystem: ${location.dir}`, details);
  }
  if (err.syscall === 'openat' && err.errno === 2 /* ENOENT */) {
    const reason =
      location.version === 2 ? 'no cgroup.freeze (the cgroup v2 freezer needs Linux 5.2 or later)' : 'no freezer.state';
    return new CgfreezeError('ERR_FREEZER_UNAVAILABLE', `${location.dir} has ${reason}`, details);
  }
  return fromSystemError(err, target);
}
