import { type FreezerState, frozenAncestor } from '../cgroup/freezer-files.js';
import { findCulprits } from '../cgroup/tasks.js';
import { CgfreezeError, type Culprit, fromSystemError } from '../errors.js';
import type { CgroupEntry } from './handles.js';
import { type Claim, claimFreeze, thawWritten } from './holds.js';
import { ACTIVE_MS, type Pace, pace } from './pacing.js';

/**
 * v1: while a freeze stays starved, thaw briefly and freeze again this often
 * (runc's exec-storm remedy). Paced by time, not attempts: each thaw and
 * refreeze flips the kernel's freezer static key, which costs 0.1 ms on an
 * idle machine and several ms under load, and a stuck task never benefits.
 */
const V1_RETHAW_INTERVAL_MS = 1000;
const V1_RETHAW_MS = 1;
const ROLLBACK_CONFIRM_READS = 3;

/**
 * One freeze or thaw of one cgroup, as a state machine that the sync and
 * async drivers advance: begin() writes and reads once, check() re-reads,
 * next() says how long to wait, and the failure paths roll back.
 */
export class Transition {
  readonly startedAt = performance.now();
  /**
   * When our write returned: the pacing counts from here, not from the call.
   * A v1 write can itself take milliseconds (it flips the kernel's freezer
   * static key), and the wait that follows deserves its full spin phase.
   */
  private writtenAt = this.startedAt;
  /** When a read first showed the target state: the result's elapsedMs, however late it is collected. */
  private reachedAt: number | undefined;
  private generation = 0;
  private last: FreezerState = 'thawed';
  /** v1 storm remedy in progress: THAWED was written, FROZEN is due next. */
  private rethawed = false;
  private lastRethawMs = 0;
  /** A freeze's share in this process's hold on the cgroup (holds.ts); undefined when it is not ours. */
  claim: Claim | undefined;

  constructor(
    readonly entry: CgroupEntry,
    readonly frozen: boolean,
    readonly timeoutMs: number,
    readonly target: string,
    /** How long to re-read without sleeping first (see pacing.ts). */
    readonly spinMs: number,
  ) {}

  get elapsedMs(): number {
    return (this.reachedAt ?? performance.now()) - this.startedAt;
  }

  /** Since our write returned. */
  get waitedMs(): number {
    return performance.now() - this.writtenAt;
  }

  get state(): FreezerState {
    if (this.last === 'frozen') return 'frozen';
    return this.frozen ? 'freezing' : this.last;
  }

  /**
   * Writes the new state and reads it back once. True when it is already reached. A freeze first
   * claims its hold (and with `untilExit` has the watchdog guard it), all before the write.
   */
  begin(untilExit = false): boolean {
    if (this.frozen) this.claim = claimFreeze(this.entry, untilExit);
    this.generation = this.entry.setIntent(this.frozen);
    this.entry.handle.writeState(this.frozen);
    this.writtenAt = performance.now();
    if (!this.frozen) thawWritten(this.entry);
    if (this.read()) {
      this.reachedAt = this.writtenAt;
      return true;
    }
    if (!this.frozen) this.assertNoFrozenAncestor();
    return false;
  }

  /** One more attempt. Throws ERR_CANCELED when another operation reversed ours. */
  check(): boolean {
    if (this.entry.generation !== this.generation) {
      const verb = this.frozen ? 'freeze' : 'thaw';
      throw new CgfreezeError('ERR_CANCELED', `the ${verb} of ${this.target} was superseded by an opposite operation`, {
        target: this.target,
        path: this.entry.location.dir,
      });
    }
    if (this.frozen && this.entry.version === 1) {
      if (this.rethawed) {
        this.entry.handle.writeState(true);
        this.rethawed = false;
      } else if (this.waitedMs >= ACTIVE_MS) {
        // New tasks push a v1 cgroup back to FREEZING; re-asserting FROZEN
        // (and, now and then, a brief thaw) gets a starved freeze through.
        const waited = this.waitedMs;
        if (waited - this.lastRethawMs >= V1_RETHAW_INTERVAL_MS) {
          this.lastRethawMs = waited;
          this.entry.handle.writeState(false);
          this.rethawed = true;
          return false;
        }
        this.entry.handle.writeState(true);
      }
    }
    if (!this.read()) return false;
    this.reachedAt = performance.now();
    return true;
  }

  /** How long to wait before the next check, or 'timeout' once the deadline has passed. */
  next(): Pace | 'timeout' {
    const remaining = this.timeoutMs - (performance.now() - this.startedAt);
    if (remaining <= 0) return 'timeout';
    if (this.rethawed) return { kind: 'sleep', ms: Math.min(V1_RETHAW_MS, remaining) };
    const p = pace(this.waitedMs, this.entry.version, this.spinMs);
    return p.kind === 'spin' ? p : { kind: p.kind, ms: Math.min(p.ms, remaining) };
  }

  /** The deadline passed: name the culprits, roll a freeze back, and describe it. */
  timeout(): CgfreezeError {
    const { dir, version } = this.entry.location;
    const culprits = safely(() => findCulprits(dir, version), []);
    if (this.frozen) {
      const rolledBack = this.rollback();
      this.claim?.release();
      return new CgfreezeError(
        'ERR_FREEZE_TIMEOUT',
        `freezing ${this.target} did not complete within ${this.timeoutMs} ms` +
          `${rolledBack ? '; rolled back to thawed' : '; ROLLBACK NOT CONFIRMED'}` +
          describeCulprits(culprits),
        { target: this.target, path: dir, culprits, rolledBack },
      );
    }
    try {
      this.assertNoFrozenAncestor();
    } catch (err) {
      return this.failed(err);
    }
    return new CgfreezeError(
      'ERR_THAW_FAILED',
      `thawing ${this.target} did not complete within ${this.timeoutMs} ms${describeCulprits(culprits)}`,
      { target: this.target, path: dir, culprits },
    );
  }

  /**
   * Something failed after we wrote: a freeze is rolled back (unless another
   * operation already took over), so it can never complete later.
   */
  failed(err: unknown): CgfreezeError {
    const error = err instanceof CgfreezeError ? err : fromSystemError(err, this.target);
    if (this.frozen && error.code !== 'ERR_CANCELED' && error.code !== 'ERR_FROZEN_BY_ANCESTOR') this.rollback();
    this.claim?.release();
    return error;
  }

  /** The caller aborted: roll a freeze back and reject with ABORT_ERR. */
  aborted(reason: unknown): CgfreezeError {
    const rolledBack = this.frozen ? this.rollback() : false;
    this.claim?.release();
    return new CgfreezeError(
      'ABORT_ERR',
      `the ${this.frozen ? 'freeze' : 'thaw'} of ${this.target} was aborted${rolledBack ? ' and rolled back' : ''}`,
      { target: this.target, path: this.entry.location.dir, cause: reason, ...(this.frozen ? { rolledBack } : {}) },
    );
  }

  private read(): boolean {
    this.last = this.entry.readState();
    return this.last === (this.frozen ? 'frozen' : 'thawed');
  }

  /**
   * Writes thawed even when nothing reads frozen yet (a pending freeze must
   * not complete later) and confirms that our own request is cleared.
   */
  private rollback(): boolean {
    if (this.entry.generation !== this.generation) return false; // someone else owns the state now
    const { handle } = this.entry;
    try {
      this.entry.setIntent(false);
      handle.writeState(false);
      thawWritten(this.entry);
      for (let i = 0; i < ROLLBACK_CONFIRM_READS; i++) {
        if (!this.entry.readSelf()) return true;
        handle.wait(1000);
      }
    } catch {
      // The cgroup is gone or unreadable: nothing of ours is left in it to undo.
    }
    return false;
  }

  /** A thaw cannot complete under a frozen ancestor: say which one instead of spinning. */
  private assertNoFrozenAncestor(): void {
    const { dir, version, mount } = this.entry.location;
    const frozenAbove =
      version === 1 ? this.entry.readParentFreezing() : !this.entry.readSelf() && this.last === 'frozen';
    if (!frozenAbove) return;
    const ancestor = frozenAncestor(dir, version, mount.mountPoint) ?? mount.mountPoint;
    throw new CgfreezeError(
      'ERR_FROZEN_BY_ANCESTOR',
      `${this.target} stays frozen because its ancestor ${ancestor} is frozen`,
      {
        target: this.target,
        path: dir,
        ancestor,
      },
    );
  }
}

function describeCulprits(culprits: Culprit[]): string {
  if (culprits.length === 0) return '';
  const list = culprits
    .slice(0, 5)
    .map(
      (c) =>
        `pid ${c.pid}${c.tid === c.pid ? '' : `/${c.tid}`} (${c.comm}) state ${c.state}${c.wchan ? ` in ${c.wchan}` : ''}`,
    )
    .join(', ');
  return `; not frozen: ${list}${culprits.length > 5 ? ` and ${culprits.length - 5} more` : ''}`;
}

function safely<T>(fn: () => T, fallback: T): T {
  try {
    return fn();
  } catch {
    return fallback;
  }
}
