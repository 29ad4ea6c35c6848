import type { CgfreezeError } from '../errors.js';
import type { Transition } from './transition.js';

/**
 * Runs a begun transition to the end on the calling thread. The waits happen
 * in the native ppoll (v2: woken by cgroup.events; v1: a sleep), so a stuck
 * freeze sleeps rather than spins while it waits for its deadline.
 */
export function driveSync(t: Transition): void {
  for (;;) {
    const p = t.next();
    try {
      // At the deadline, one last look: the kernel may have finished while the
      // caller was busy elsewhere (a sync group waits on its members in turn).
      if (p === 'timeout') {
        if (t.check()) return;
        break;
      }
      if (p.kind !== 'spin') t.entry.handle.wait(p.ms * 1000);
      if (t.check()) return;
    } catch (err) {
      throw t.failed(err);
    }
  }
  throw t.timeout();
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
