import type { FreezerState } from '../cgroup/freezer-files.js';
import { describe } from '../cgroup/location.js';
import { CgfreezeError } from '../errors.js';
import { driveAsync, driveSync } from './drive.js';
import { openEntry, reopenEntry } from './handles.js';
import { RESOLVE_OPTION_KEYS } from '../resolve/index.js';
import { type ResolvedTarget, type Target, type TargetOptions, resolveTarget } from './targets.js';
import { SPIN_MS, SYNC_SPIN_MS } from './pacing.js';
import { Transition } from './transition.js';

export interface FreezeOptions extends TargetOptions {
  /**
   * How long to wait for the kernel to confirm, in ms. Freeze default 10000,
   * thaw default 1000; 0 writes and returns without waiting (no rollback);
   * Infinity waits as long as it takes.
   */
  timeoutMs?: number;
  /** Aborting a pending freeze rolls it back; the promise rejects with ABORT_ERR. */
  signal?: AbortSignal;
}

export interface FreezeResult {
  /** The target as given (a path or a container reference). */
  target: string;
  /** Host path of the cgroup directory. */
  cgroupDir: string;
  version: 'v1' | 'v2';
  /** `freezing` only when `timeoutMs: 0` returned before the kernel finished. */
  state: FreezerState;
  elapsedMs: number;
}

export const DEFAULT_FREEZE_TIMEOUT_MS = 10_000;
export const DEFAULT_THAW_TIMEOUT_MS = 1_000;

const OPTION_KEYS = new Set<string>(['timeoutMs', 'signal', 'atomic', ...RESOLVE_OPTION_KEYS]);

export function checkOptions(opts: unknown, allowSignal: boolean): FreezeOptions {
  if (opts === undefined) return {};
  if (typeof opts !== 'object' || opts === null || Array.isArray(opts)) {
    throw new CgfreezeError('ERR_INVALID_ARG', `options must be an object, got ${describe(opts)}`);
  }
  for (const key of Object.keys(opts)) {
    if (!OPTION_KEYS.has(key)) {
      throw new CgfreezeError(
        'ERR_INVALID_ARG',
        `unknown option ${JSON.stringify(key)} (known: ${[...OPTION_KEYS].join(', ')})`,
      );
    }
  }
  const { timeoutMs, signal } = opts as FreezeOptions;
  if (timeoutMs !== undefined && (typeof timeoutMs !== 'number' || Number.isNaN(timeoutMs) || timeoutMs < 0)) {
    throw new CgfreezeError(
      'ERR_INVALID_ARG',
      `timeoutMs must be a number >= 0 (or Infinity), got ${describe(timeoutMs)}`,
    );
  }
  if (signal !== undefined) {
    if (!allowSignal) throw new CgfreezeError('ERR_INVALID_ARG', 'signal is only accepted by the Promise API');
    if (!(signal instanceof AbortSignal)) {
      throw new CgfreezeError('ERR_INVALID_ARG', `signal must be an AbortSignal, got ${describe(signal)}`);
    }
  }
  return opts as FreezeOptions;
}

/**
 * Opens the target and starts the transition. A cached handle or a cached
 * resolution may be stale (the cgroup was removed, or recreated for a
 * restarted container): then both are refreshed and the write is tried once more.
 */
function begin(
  target: Target,
  frozen: boolean,
  opts: FreezeOptions,
  spinMs: number,
): { t: Transition; done: boolean; cgroupDir: string } {
  const timeoutMs = opts.timeoutMs ?? (frozen ? DEFAULT_FREEZE_TIMEOUT_MS : DEFAULT_THAW_TIMEOUT_MS);
  let resolved = resolveTarget(target, opts, frozen ? 'freeze' : 'thaw');
  let entry = openEntry(resolved.openDir, resolved.label);
  let refreshed = false;
  const refresh = (): void => {
    refreshed = true;
    resolved.reference?.forget();
    resolved = resolveTarget(target, opts, frozen ? 'freeze' : 'thaw');
    entry = reopenEntry(entry, resolved.openDir, resolved.label);
  };
  // A reference must land on the very cgroup it resolved to: a handle opened before a restart
  // holds the old one, and a resolution made before it names the old one.
  const mismatch = (): boolean =>
    resolved.reference !== undefined && entry.handle.identity !== resolved.reference.identity;
  if (mismatch()) {
    entry = reopenEntry(entry, resolved.openDir, resolved.label);
    if (mismatch()) refresh();
    if (mismatch()) {
      throw new CgfreezeError(
        'ERR_CGROUP_MISMATCH',
        `the cgroup of ${resolved.label} changed while it was being opened; try again`,
        {
          target: resolved.label,
          path: resolved.cgroupDir,
        },
      );
    }
  }
  for (;;) {
    assertNotPausedByEngine(resolved, frozen);
    const t = new Transition(entry, frozen, timeoutMs, resolved.label, spinMs);
    try {
      return { t, done: t.begin(), cgroupDir: resolved.cgroupDir };
    } catch (err) {
      const error = t.failed(err);
      // Our fds belonged to a removed cgroup; the path (or the container) may have a new one.
      if (error.code !== 'ERR_CGROUP_GONE' || refreshed) throw error;
      refresh();
    }
  }
}

function assertNotPausedByEngine(resolved: ResolvedTarget, frozen: boolean): void {
  if (frozen || resolved.pausedBy === undefined) return;
  // The engine records the pause; thawing behind its back wedges its own unpause and exec.
  throw new CgfreezeError(
    'ERR_PAUSED_BY_ENGINE',
    `${resolved.label} was paused by ${resolved.pausedBy}; unpause it with '${resolved.pausedBy} unpause ${resolved.label}'`,
    { target: resolved.label, path: resolved.cgroupDir },
  );
}

function result(t: Transition, cgroupDir: string): FreezeResult {
  return {
    target: t.target,
    cgroupDir,
    version: t.entry.version === 1 ? 'v1' : 'v2',
    state: t.state,
    elapsedMs: t.elapsedMs,
  };
}

/** A begun synchronous transition: the write is done, the wait (if any) is not. */
export interface StartedSync {
  t: Transition;
  done: boolean;
  cgroupDir: string;
}

/** Its wait is still to come (not done at the write, and not `timeoutMs: 0`). */
export function isPending(s: StartedSync): boolean {
  return !s.done && s.t.timeoutMs !== 0;
}

/** Writes the target's new state. A pending transition holds its entry open until finishSync or abortSync. */
export function startSync(target: Target, frozen: boolean, opts: FreezeOptions): StartedSync {
  const s = begin(target, frozen, opts, SYNC_SPIN_MS);
  if (isPending(s)) s.t.entry.busy++;
  return s;
}

/** Waits, on this thread, until the kernel confirms (or the deadline rolls it back). */
export function finishSync(s: StartedSync): FreezeResult {
  if (isPending(s)) {
    try {
      driveSync(s.t);
    } finally {
      s.t.entry.busy--;
    }
  }
  return result(s.t, s.cgroupDir);
}

/** Gives up a pending transition before its wait: a freeze is rolled back. */
export function abortSync(s: StartedSync, reason: unknown): CgfreezeError {
  s.t.entry.busy--;
  return s.t.aborted(reason);
}

export function transitionSync(target: Target, frozen: boolean, opts: FreezeOptions): FreezeResult {
  return finishSync(startSync(target, frozen, opts));
}

export async function transitionAsync(target: Target, frozen: boolean, opts: FreezeOptions): Promise<FreezeResult> {
  if (opts.signal?.aborted) {
    throw new CgfreezeError('ABORT_ERR', `the ${frozen ? 'freeze' : 'thaw'} was aborted before it started`, {
      cause: opts.signal.reason,
    });
  }
  const { t, done, cgroupDir } = begin(target, frozen, opts, SPIN_MS);
  if (done || t.timeoutMs === 0) return result(t, cgroupDir);
  t.entry.busy++;
  try {
    await driveAsync(t, opts.signal);
  } finally {
    t.entry.busy--;
  }
  return result(t, cgroupDir);
}
