/**
 * How long to wait before re-reading a cgroup that has not reached its target
 * state yet. One schedule serves the sync driver (which blocks in the native
 * wait) and the async driver (which uses setImmediate, timers and a uv_poll).
 *
 * - Most freezes complete within microseconds: re-read at once (spin).
 * - v2 notifications are rate-limited to one per 10 ms per file, so a wait
 *   that sleeps on POLLPRI right away often costs a full 10 ms. Keep
 *   re-reading actively, with growing sleeps, for ACTIVE_MS first.
 * - After that the freeze is likely stuck: v2 sleeps on POLLPRI in slices
 *   (the slice only guards against a missed event); v1 has no notification
 *   and re-reads with sleeps capped at V1_MAX_SLEEP_MS. Either way a stuck
 *   freeze costs well under 1% of a core while it waits for its deadline.
 */
export type Pace = { kind: 'spin' } | { kind: 'sleep'; ms: number } | { kind: 'event'; ms: number };

/**
 * Re-read without sleeping for this long. The Promise API spins only
 * briefly, since spinning holds the event loop; the sync API blocks its
 * thread anyway and spins longer, because a short sleep costs ~50 µs of timer
 * slack and the kernel's rate-limited notification rarely ends it early.
 */
export const SPIN_MS = 0.05;
export const SYNC_SPIN_MS = 1;
/** Then sleep briefly (sync: 20 µs; async: one event-loop turn) until here. */
export const YIELD_MS = 2;
/** Then sleep a quarter of the elapsed time, 0.25–4 ms, until here. */
export const ACTIVE_MS = 20;
export const V1_MAX_SLEEP_MS = 10;
/**
 * A sync group's wait can be ended early by one member's notification only. The others are re-read
 * after at most a quarter of the time they have waited so far, 10–100 ms, as v1 cgroups are: a member
 * that freezes late is seen within a quarter of its own time, and a stuck group costs a few reads a second.
 */
export function groupWaitCapMs(waitedMs: number): number {
  return clamp(waitedMs / 4, V1_MAX_SLEEP_MS, EVENT_SLICE_MS);
}
export const EVENT_SLICE_MS = 100;
const YIELD_SLEEP_MS = 0.02;

export function pace(elapsedMs: number, version: 1 | 2, spinMs = SPIN_MS): Pace {
  if (elapsedMs < spinMs) return { kind: 'spin' };
  if (elapsedMs < YIELD_MS) return { kind: 'sleep', ms: YIELD_SLEEP_MS };
  if (elapsedMs < ACTIVE_MS) return { kind: 'sleep', ms: clamp(elapsedMs / 4, 0.25, 4) };
  if (version === 2) return { kind: 'event', ms: EVENT_SLICE_MS };
  return { kind: 'sleep', ms: clamp(elapsedMs / 4, 4, V1_MAX_SLEEP_MS) };
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}
