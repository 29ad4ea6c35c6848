import type { FreezerState } from '../cgroup/freezer-files.js';
import { CgfreezeError, fromSystemError } from '../errors.js';
import type { CgroupTarget } from './cgroup-target.js';
import { driveAsync, driveSync } from './drive.js';
import { openEntry, reopenEntry } from './handles.js';
import type { Claim } from './holds.js';
import { SPIN_MS, SYNC_SPIN_MS } from './pacing.js';
import { Transition } from './transition.js';

/** How one freeze or thaw waits, and what guards a freeze. */
export interface WaitOptions {
  /**
   * How long to wait for the kernel to confirm, in ms. Freeze default 10000,
   * thaw default 1000; 0 writes and returns without waiting (no rollback);
   * Infinity waits as long as it takes.
   */
  timeoutMs?: number;
  /** Aborting a pending freeze rolls it back; the promise rejects with ABORT_ERR. */
  signal?: AbortSignal;
  /**
   * Freeze only: the freeze cannot outlive this process. Should it die before thawing (SIGKILL and the
   * OOM killer included), a watchdog process thaws the cgroup (watchdog.ts).
   */
  untilExit?: boolean;
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

/**
 * What a freeze returns: its result, disposable. When its scope ends (`using`, `await using`, or a call
 * of either method) it thaws what this freeze froze, unless the cgroup was frozen by another's request
 * before it, another freeze result of this process still claims it, or this process thawed it since
 * (holds.ts). Disposing twice does nothing more. A cgroup that is gone, or stays frozen only because an
 * ancestor is, has nothing of ours left to thaw: that is no error.
 */
export interface FrozenResult extends FreezeResult {
  /** Thaws on this thread (freezeSync's scope: `using`). */
  [Symbol.dispose](): void;
  /** Thaws with the Promise API (freeze's scope: `await using`). */
  [Symbol.asyncDispose](): Promise<void>;
}

export const DEFAULT_FREEZE_TIMEOUT_MS = 10_000;
export const DEFAULT_THAW_TIMEOUT_MS = 1_000;

/** Errors of a scope's thaw that mean nothing of ours is left frozen. */
const NOTHING_LEFT_TO_THAW: ReadonlySet<string> = new Set([
  'ERR_CGROUP_GONE',
  'ENOENT',
  'ERR_CGROUP_MISMATCH',
  'ERR_FROZEN_BY_ANCESTOR',
]);

export function leftNothingFrozen(err: CgfreezeError): boolean {
  return NOTHING_LEFT_TO_THAW.has(err.code);
}

class Frozen implements FrozenResult {
  readonly target: string;
  readonly cgroupDir: string;
  readonly version: 'v1' | 'v2';
  readonly state: FreezerState;
  readonly elapsedMs: number;
  readonly #claim: Claim | undefined;
  readonly #cg: CgroupTarget;
  readonly #identity: string;

  constructor(t: Transition, cg: CgroupTarget) {
    this.target = t.target;
    this.cgroupDir = cg.cgroupDir;
    this.version = t.entry.version === 1 ? 'v1' : 'v2';
    this.state = t.state;
    this.elapsedMs = t.elapsedMs;
    this.#claim = t.claim;
    this.#cg = cg;
    this.#identity = t.entry.identity;
  }

  /** Gives up a result's claim: the cgroup to thaw when it was the last one. Not on the instances. */
  static releaseForThaw(result: Frozen): CgroupTarget | undefined {
    if (result.#claim?.release() !== true) return undefined;
    // The identity guard: a cgroup recreated at the same path since is not the one we froze.
    return { ...result.#cg, identity: result.#identity };
  }

  [Symbol.dispose](): void {
    const cg = Frozen.releaseForThaw(this);
    if (cg === undefined) return;
    try {
      transitionSync(cg, false, {});
    } catch (err) {
      if (!leftNothingFrozen(fromSystemError(err, cg.label))) throw err;
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    const cg = Frozen.releaseForThaw(this);
    if (cg === undefined) return;
    try {
      await transitionAsync(cg, false, {});
    } catch (err) {
      if (!leftNothingFrozen(fromSystemError(err, cg.label))) throw err;
    }
  }
}

/** The cgroup a freeze result's scope would thaw, its claim given up; undefined for anything else. */
export function releaseForThaw(result: FreezeResult): CgroupTarget | undefined {
  return result instanceof Frozen ? Frozen.releaseForThaw(result) : undefined;
}

/** A begun transition: the write is done, the wait (if any) is not. */
export interface Started {
  t: Transition;
  done: boolean;
  cg: CgroupTarget;
}

/**
 * Opens the cgroup and starts the transition. A cached handle may belong to a removed cgroup (ENODEV
 * at the write): the same path is then opened afresh, guard checked again, and written once more.
 */
function begin(target: CgroupTarget, frozen: boolean, opts: WaitOptions, spinMs: number): Started {
  const timeoutMs = opts.timeoutMs ?? (frozen ? DEFAULT_FREEZE_TIMEOUT_MS : DEFAULT_THAW_TIMEOUT_MS);
  let entry = openEntry(target);
  for (let attempt = 0; ; attempt++) {
    const t = new Transition(entry, frozen, timeoutMs, target.label, spinMs);
    try {
      return { t, done: t.begin(opts.untilExit === true), cg: target };
    } catch (err) {
      const error = t.failed(err);
      if (error.code !== 'ERR_CGROUP_GONE' || attempt > 0) throw error;
      entry = reopenEntry(entry, target);
    }
  }
}

function result(s: Started): FreezeResult {
  const { t } = s;
  if (t.frozen) return new Frozen(t, s.cg);
  return {
    target: t.target,
    cgroupDir: s.cg.cgroupDir,
    version: t.entry.version === 1 ? 'v1' : 'v2',
    state: t.state,
    elapsedMs: t.elapsedMs,
  };
}

/** Its wait is still to come (not done at the write, and not `timeoutMs: 0`). */
export function isPending(s: Started): boolean {
  return !s.done && s.t.timeoutMs !== 0;
}

/** Writes the target's new state. A pending transition holds its entry open until it is settled. */
export function startSync(target: CgroupTarget, frozen: boolean, opts: WaitOptions): Started {
  const s = begin(target, frozen, opts, SYNC_SPIN_MS);
  if (isPending(s)) s.t.entry.busy++;
  return s;
}

/** Waits, on this thread, until the kernel confirms (or the deadline rolls it back). */
export function finishSync(s: Started): FreezeResult {
  if (isPending(s)) {
    try {
      driveSync(s.t);
    } finally {
      s.t.entry.busy--;
    }
  }
  return result(s);
}

/** The result of a pending transition that {@link driveAllSync} settled, its entry let go. */
export function settledSync(s: Started, error: CgfreezeError | undefined): FreezeResult {
  if (isPending(s)) s.t.entry.busy--;
  if (error !== undefined) throw error;
  return result(s);
}

/** Gives up a pending transition before its wait: a freeze is rolled back. */
export function abortSync(s: Started, reason: unknown): CgfreezeError {
  s.t.entry.busy--;
  return s.t.aborted(reason);
}

export function transitionSync(target: CgroupTarget, frozen: boolean, opts: WaitOptions): FreezeResult {
  return finishSync(startSync(target, frozen, opts));
}

/**
 * The Promise API's first step, on the calling thread: writes, and reads once. Most transitions are
 * complete here, and then cost no more than the sync call and one settled promise.
 */
export function startAsync(target: CgroupTarget, frozen: boolean, opts: WaitOptions): Started {
  if (opts.signal?.aborted) {
    throw new CgfreezeError(
      'ABORT_ERR',
      `the ${frozen ? 'freeze' : 'thaw'} of ${target.label} was aborted before it started`,
      { target: target.label, cause: opts.signal.reason },
    );
  }
  return begin(target, frozen, opts, SPIN_MS);
}

/** Waits without holding the event loop or a thread-pool thread (see driveAsync). */
export function finishAsync(s: Started, signal: AbortSignal | undefined): Promise<FreezeResult> {
  if (!isPending(s)) return Promise.resolve(result(s));
  const { entry } = s.t;
  entry.busy++;
  return driveAsync(s.t, signal).then(
    () => {
      entry.busy--;
      return result(s);
    },
    (err: unknown) => {
      entry.busy--;
      throw err;
    },
  );
}

export function transitionAsync(target: CgroupTarget, frozen: boolean, opts: WaitOptions): Promise<FreezeResult> {
  let s: Started;
  try {
    s = startAsync(target, frozen, opts);
  } catch (err) {
    return Promise.reject(fromSystemError(err, target.label));
  }
  return finishAsync(s, opts.signal);
}
