import { describe } from '../cgroup/location.js';
import { CgfreezeError, fromSystemError } from '../errors.js';
import {
  type FreezeOptions,
  type FreezeResult,
  type StartedSync,
  abortSync,
  finishSync,
  isPending,
  startSync,
  transitionAsync,
  transitionSync,
} from './operations.js';
import { state } from './status.js';
import type { Target } from './targets.js';

export interface GroupOptions extends FreezeOptions {
  /**
   * Freeze only: either every target ends frozen or none does. On the first
   * failure the pending freezes are aborted and the completed ones thawed
   * (those that were already frozen before the call are left frozen).
   */
  atomic?: boolean;
}

export type GroupItem =
  { target: string; ok: true; result: FreezeResult } | { target: string; ok: false; error: CgfreezeError };

export interface GroupResult {
  /** Every target reached the requested state. */
  ok: boolean;
  /** One entry per target, in the order given. */
  results: GroupItem[];
}

function checkTargets(targets: readonly unknown[]): void {
  if (targets.length === 0) throw new CgfreezeError('ERR_INVALID_ARG', 'the list of targets is empty');
}

function labelOf(target: unknown): string {
  if (typeof target === 'string') return target;
  if (typeof target === 'object' && target !== null && typeof (target as { cgroup?: unknown }).cgroup === 'string') {
    return (target as { cgroup: string }).cgroup;
  }
  return describe(target);
}

function failure(target: Target, err: unknown): GroupItem {
  return { target: labelOf(target), ok: false, error: err instanceof CgfreezeError ? err : fromSystemError(err) };
}

/** Which targets were frozen by themselves before an atomic freeze, so a rollback leaves them so. */
function frozenBefore(targets: readonly Target[], opts: GroupOptions): boolean[] {
  return targets.map((target) => {
    try {
      return state(target, opts).self;
    } catch {
      return false;
    }
  });
}

function atomicFailure(items: GroupItem[], failures: GroupItem[]): CgfreezeError {
  const failed = failures.flatMap((f) => (f.ok ? [] : [{ target: f.target, error: f.error }]));
  const names = failed.map((f) => `${f.target} (${f.error.code})`).join(', ');
  return new CgfreezeError(
    'ERR_ATOMIC_ROLLBACK',
    `atomic freeze failed for ${names}; all ${items.length} targets were rolled back`,
    {
      failures: failed,
    },
  );
}

export async function groupAsync(
  targets: readonly Target[],
  frozen: boolean,
  opts: GroupOptions,
): Promise<GroupResult> {
  checkTargets(targets);
  const { atomic, ...single } = opts;
  if (!atomic || !frozen) {
    const results = await Promise.all(
      targets.map((target) =>
        transitionAsync(target, frozen, single).then(
          (result): GroupItem => ({ target: result.target, ok: true, result }),
          (err: unknown) => failure(target, err),
        ),
      ),
    );
    return { ok: results.every((r) => r.ok), results };
  }

  const before = frozenBefore(targets, single);
  const controller = new AbortController();
  const ourAbort = new CgfreezeError('ERR_ATOMIC_ROLLBACK', 'another target of the atomic freeze failed');
  const signal = single.signal ? AbortSignal.any([single.signal, controller.signal]) : controller.signal;
  const items = await Promise.all(
    targets.map((target) =>
      transitionAsync(target, true, { ...single, signal }).then(
        (result): GroupItem => ({ target: result.target, ok: true, result }),
        (err: unknown) => {
          controller.abort(ourAbort);
          return failure(target, err);
        },
      ),
    ),
  );
  if (items.every((i) => i.ok)) return { ok: true, results: items };
  rollBackGroup(targets, items, before, single);
  throw atomicFailure(
    items,
    items.filter((i) => !i.ok && i.error.cause !== ourAbort),
  );
}

/**
 * Writes every target first and then waits for each, so the kernel freezes
 * them all at once. An atomic freeze stops at the first failure: pending
 * members are aborted (rolled back), completed ones thawed.
 */
export function groupSync(targets: readonly Target[], frozen: boolean, opts: GroupOptions): GroupResult {
  checkTargets(targets);
  const { atomic, ...single } = opts;
  const allOrNothing = atomic === true && frozen;
  const before = allOrNothing ? frozenBefore(targets, single) : [];
  const started: Array<StartedSync | GroupItem> = [];
  for (const target of targets) {
    try {
      started.push(startSync(target, frozen, single));
    } catch (err) {
      started.push(failure(target, err));
      if (allOrNothing) break;
    }
  }
  const items: GroupItem[] = [];
  let failed: GroupItem | undefined = started.find((s): s is GroupItem => 'ok' in s);
  const ourAbort = new CgfreezeError('ERR_ATOMIC_ROLLBACK', 'another target of the atomic freeze failed');
  started.forEach((s, i) => {
    const target = targets[i] as Target;
    if ('ok' in s) {
      items.push(s);
    } else if (allOrNothing && failed !== undefined && isPending(s)) {
      items.push(failure(target, abortSync(s, ourAbort)));
    } else {
      try {
        const result = finishSync(s);
        items.push({ target: result.target, ok: true, result });
      } catch (err) {
        items.push(failure(target, err));
        failed ??= items[items.length - 1];
      }
    }
  });
  if (allOrNothing && failed !== undefined) {
    rollBackGroup(targets, items, before, single);
    throw atomicFailure(items, [failed]);
  }
  return { ok: items.every((i) => i.ok), results: items };
}

/**
 * Thaws the group members this call froze. Members that timed out or were
 * aborted were already rolled back by their own transition.
 */
function rollBackGroup(targets: readonly Target[], items: GroupItem[], before: boolean[], opts: FreezeOptions): void {
  items.forEach((item, i) => {
    if (!item.ok || before[i] === true) return;
    const target = targets[i] as Target;
    try {
      const { timeoutMs: _t, signal: _s, ...where } = opts;
      transitionSync(target, false, where);
    } catch (err) {
      items[i] = failure(target, err);
    }
  });
}
