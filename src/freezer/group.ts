import { CgfreezeError, fromSystemError } from '../errors.js';
import type { CgroupTarget } from './cgroup-target.js';
import { driveAllSync } from './drive.js';
import {
  type FreezeResult,
  type Started,
  type WaitOptions,
  abortSync,
  isPending,
  settledSync,
  startSync,
  transitionAsync,
  transitionSync,
} from './operations.js';
import { readStatus } from './status.js';

export type GroupItem =
  { target: string; ok: true; result: FreezeResult } | { target: string; ok: false; error: CgfreezeError };

export interface GroupResult {
  /** Every target reached the requested state. */
  ok: boolean;
  /** One entry per target, in the order given. */
  results: GroupItem[];
}

function failure(target: CgroupTarget, err: unknown): GroupItem {
  return { target: target.label, ok: false, error: fromSystemError(err, target.label) };
}

/** Which targets were frozen by themselves before an atomic freeze, so a rollback leaves them so. */
function frozenBefore(targets: readonly CgroupTarget[]): boolean[] {
  return targets.map((target) => {
    try {
      return readStatus(target).self;
    } catch {
      return false;
    }
  });
}

export function atomicFailure(count: number, failures: GroupItem[]): CgfreezeError {
  const failed = failures.flatMap((f) => (f.ok ? [] : [{ target: f.target, error: f.error }]));
  const names = failed.map((f) => `${f.target} (${f.error.code})`).join(', ');
  return new CgfreezeError(
    'ERR_ATOMIC_ROLLBACK',
    `atomic freeze failed for ${names}; all ${count} targets were rolled back`,
    {
      failures: failed,
    },
  );
}

/** Freezes or thaws every target concurrently; with `atomic` (freeze only) all end frozen or none does. */
export async function groupAsync(
  targets: readonly CgroupTarget[],
  frozen: boolean,
  atomic: boolean,
  opts: WaitOptions,
): Promise<GroupResult> {
  if (!atomic || !frozen) {
    const results = await Promise.all(
      targets.map((target) =>
        transitionAsync(target, frozen, opts).then(
          (result): GroupItem => ({ target: result.target, ok: true, result }),
          (err: unknown) => failure(target, err),
        ),
      ),
    );
    return { ok: results.every((r) => r.ok), results };
  }

  const before = frozenBefore(targets);
  const controller = new AbortController();
  const ourAbort = new CgfreezeError('ERR_ATOMIC_ROLLBACK', 'another target of the atomic freeze failed');
  const signal = opts.signal ? AbortSignal.any([opts.signal, controller.signal]) : controller.signal;
  const items = await Promise.all(
    targets.map((target) =>
      transitionAsync(target, true, { ...opts, signal }).then(
        (result): GroupItem => ({ target: result.target, ok: true, result }),
        (err: unknown) => {
          controller.abort(ourAbort);
          return failure(target, err);
        },
      ),
    ),
  );
  if (items.every((i) => i.ok)) return { ok: true, results: items };
  rollBackGroup(targets, items, before);
  throw atomicFailure(
    items.length,
    items.filter((i) => !i.ok && i.error.cause !== ourAbort),
  );
}

/**
 * Writes every target first, then waits for all of them together (driveAllSync), so the kernel
 * freezes them at once and the call takes about as long as its slowest member. An atomic freeze stops
 * at the first failure: pending members are aborted (rolled back), completed ones thawed.
 */
export function groupSync(
  targets: readonly CgroupTarget[],
  frozen: boolean,
  atomic: boolean,
  opts: WaitOptions,
): GroupResult {
  const allOrNothing = atomic && frozen;
  const before = allOrNothing ? frozenBefore(targets) : [];
  const started: Array<Started | GroupItem> = [];
  for (const target of targets) {
    try {
      started.push(startSync(target, frozen, opts));
    } catch (err) {
      started.push(failure(target, err));
      if (allOrNothing) break;
    }
  }
  const failedToStart = started.some((s) => 'ok' in s);
  // All or nothing, and something already failed: the pending members are aborted without a wait.
  const waiting =
    allOrNothing && failedToStart ? [] : started.filter((s): s is Started => !('ok' in s) && isPending(s));
  const outcomes = driveAllSync(
    waiting.map((s) => s.t),
    allOrNothing,
  );
  const outcomeOf = new Map(waiting.map((s, i) => [s, outcomes[i]]));
  const ourAbort = new CgfreezeError('ERR_ATOMIC_ROLLBACK', 'another target of the atomic freeze failed');
  const items = started.map((s, i): GroupItem => {
    if ('ok' in s) return s;
    const target = targets[i] as CgroupTarget;
    const outcome = outcomeOf.get(s) ?? (isPending(s) ? 'pending' : 'done');
    if (outcome === 'pending') return failure(target, abortSync(s, ourAbort));
    try {
      const result = settledSync(s, outcome === 'done' ? undefined : outcome);
      return { target: result.target, ok: true, result };
    } catch (err) {
      return failure(target, err);
    }
  });
  if (allOrNothing && items.some((i) => !i.ok)) {
    rollBackGroup(targets, items, before);
    throw atomicFailure(
      targets.length,
      items.filter((i) => !i.ok && i.error.cause !== ourAbort),
    );
  }
  return { ok: items.every((i) => i.ok), results: items };
}

/**
 * Thaws the group members this call froze. Members that timed out or were
 * aborted were already rolled back by their own transition.
 */
function rollBackGroup(targets: readonly CgroupTarget[], items: GroupItem[], before: boolean[]): void {
  items.forEach((item, i) => {
    if (!item.ok || before[i] === true) return;
    const target = targets[i] as CgroupTarget;
    try {
      transitionSync(target, false, {});
    } catch (err) {
      items[i] = failure(target, err);
    }
  });
}
