import type { CgfreezeError } from '../errors.js';
import { groupWaitCapMs } from './pacing.js';
import type { Transition } from './transition.js';

/** How a transition that {@link driveAllSync} drove ended: reached, failed, or left pending (stopAtFailure). */
export type SyncOutcome = 'done' | CgfreezeError | 'pending';

/**
 * Runs begun transitions to the end together on the calling thread. Each round re-reads every pending
 * one, then waits once, as briefly as the most urgent of them asks (pacing.ts); each keeps its own
 * deadline and is rolled back alone when it passes. The waits happen in the native ppoll (v2: woken by
 * one member's cgroup.events; v1: a sleep), so stuck freezes sleep rather than spin. With several
 * pending, the wait is capped (groupWaitCapMs), since only one member's notification can end it.
 * With `stopAtFailure` it returns at the first failure, leaving the rest pending for the caller.
 */
export function driveAllSync(ts: readonly Transition[], stopAtFailure = false): SyncOutcome[] {
  const outcomes: SyncOutcome[] = ts.map(() => 'pending');
  let left = ts.length;
  /** Records an outcome; true when the caller should stop. */
  const settle = (i: number, outcome: 'done' | CgfreezeError): boolean => {
    outcomes[i] = outcome;
    left--;
    return stopAtFailure && outcome !== 'done';
  };
  while (left > 0) {
    let waitMs = Infinity;
    let waiter = -1;
    let youngestWaitedMs = Infinity;
    for (let i = 0; i < ts.length; i++) {
      const t = ts[i] as Transition;
      if (outcomes[i] !== 'pending') continue;
      const p = t.next();
      if (p === 'timeout') {
        // At the deadline, one last look: the kernel may have finished while the others were read.
        let outcome: 'done' | CgfreezeError;
        try {
          outcome = t.check() ? 'done' : t.timeout();
        } catch (err) {
          outcome = t.failed(err);
        }
        if (settle(i, outcome)) return outcomes;
        continue;
      }
      waitMs = Math.min(waitMs, p.kind === 'spin' ? 0 : p.ms);
      youngestWaitedMs = Math.min(youngestWaitedMs, t.waitedMs);
      // Wait on a v2 member's notification when one is waiting for it.
      if (waiter < 0 || (p.kind === 'event' && ts[waiter]?.entry.version === 1)) waiter = i;
    }
    if (left === 0) break;
    const t = ts[waiter] as Transition;
    try {
      if (left > 1) waitMs = Math.min(waitMs, groupWaitCapMs(youngestWaitedMs));
      if (waitMs > 0) t.entry.handle.wait(waitMs * 1000);
    } catch (err) {
      if (settle(waiter, t.failed(err))) return outcomes;
    }
    for (let i = 0; i < ts.length; i++) {
      if (outcomes[i] !== 'pending') continue;
      const member = ts[i] as Transition;
      try {
        if (member.check() && settle(i, 'done')) return outcomes;
      } catch (err) {
        if (settle(i, member.failed(err))) return outcomes;
      }
    }
  }
  return outcomes;
}

/** Runs one begun transition to the end on the calling thread (see {@link driveAllSync}). */
export function driveSync(t: Transition): void {
  const [outcome] = driveAllSync([t]);
  if (typeof outcome === 'object') throw outcome;
}

/**
 * Runs a begun transition without occupying a libuv thread-pool thread: a short
 * synchronous spin (most freezes finish there), then re-reads on event-loop
 * turns and timers, and for v2 a uv_poll on cgroup.events. The loop stays
 * free for other work the whole time.
 */
export function driveAsync(t: Transition, signal: AbortSignal | undefined): Promise<void> {
  if (signal?.aborted) return Promise.reject(t.aborted(signal.reason));
  try {
    for (let p = t.next(); p !== 'timeout' && p.kind === 'spin'; p = t.next()) {
      if (t.check()) return Promise.resolve();
    }
  } catch (err) {
    return Promise.reject(t.failed(err));
  }

  return new Promise<void>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    let immediate: NodeJS.Immediate | undefined;
    let unsubscribe: (() => void) | undefined;
    let settled = false;

    const finish = (err?: CgfreezeError): void => {
      if (settled) return;
      settled = true;
      if (timer !== undefined) clearTimeout(timer);
      if (immediate !== undefined) clearImmediate(immediate);
      unsubscribe?.();
      signal?.removeEventListener('abort', onAbort);
      if (err === undefined) resolve();
      else reject(err);
    };
    const onAbort = (): void => finish(t.aborted(signal?.reason));
    const attempt = (): void => {
      timer = undefined;
      immediate = undefined;
      if (settled) return;
      try {
        if (t.check()) return finish();
      } catch (err) {
        return finish(t.failed(err));
      }
      schedule();
    };
    const schedule = (): void => {
      const p = t.next();
      if (p === 'timeout') {
        try {
          return t.check() ? finish() : finish(t.timeout());
        } catch (err) {
          return finish(t.failed(err));
        }
      }
      if (p.kind === 'event' && unsubscribe === undefined) {
        // Re-read at once: a change between the last read and the watch is not signalled again.
        unsubscribe = t.entry.subscribe(onEvent);
        immediate = setImmediate(attempt);
        return;
      }
      if (p.kind === 'spin' || (p.kind === 'sleep' && p.ms < 1)) immediate = setImmediate(attempt);
      else timer = setTimeout(attempt, p.ms);
    };
    const onEvent = (): void => {
      if (timer !== undefined) clearTimeout(timer);
      if (immediate === undefined) attempt();
    };

    signal?.addEventListener('abort', onAbort, { once: true });
    schedule();
  });
}
