import { CgfreezeError, fromSystemError } from '../errors.js';
import type { CgroupTarget } from './cgroup-target.js';
import { driveAllSync } from './drive.js';
import {
  type FreezeResult,
  type Started,
  type WaitOptions,
  abortSync,
  isPending,
  leftNothingFrozen,
  releaseForThaw,
  settledSync,
  startSync,
  transitionAsync,
  transitionSync,
} from './operations.js';

export type GroupItem =
  { target: string; ok: true; result: FreezeResult } | { target: string; ok: false; error: CgfreezeError };

export interface GroupResult {
  /** Every target reached the requested state. */
  ok: boolean;
  /** One entry per target, in the order given. */
  results: GroupItem[];
}

/**
 * What a freeze of a list returns: disposable like each member's result (FrozenResult). When its scope
 * ends it thaws, together, the members whose freeze it made; failures of that thaw are thrown (one as
 * itself, several as ERR_THAW_FAILED with `failures`).
 */
export interface FrozenGroupResult extends GroupResult {
  [Symbol.dispose](): void;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * The reason members of a failed atomic freeze are aborted with, made only then: an error's stack
 * trace costs more than a whole freeze of an empty cgroup.
 */
function abortReason(): CgfreezeError {
  return new CgfreezeError('ERR_ATOMIC_ROLLBACK', 'another target of the atomic freeze failed');
}

function failure(target: CgroupTarget, err: unknown): GroupItem {
  return { target: target.label, ok: false, error: fromSystemError(err, target.label) };
}

function success(result: FreezeResult): GroupItem {
  return { target: result.target, ok: true, result };
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
        transitionAsync(target, frozen, opts).then(success, (err: unknown) => failure(target, err)),
      ),
    );
    return { ok: results.every((r) => r.ok), results };
  }

  const controller = new AbortController();
  let ourAbort: CgfreezeError | undefined;
  const signal = opts.signal ? AbortSignal.any([opts.signal, controller.signal]) : controller.signal;
  const items = await Promise.all(
    targets.map((target) =>
      transitionAsync(target, true, { ...opts, signal }).then(success, (err: unknown) => {
        controller.abort((ourAbort ??= abortReason()));
        return failure(target, err);
      }),
    ),
  );
  if (items.every((i) => i.ok)) return { ok: true, results: items };
  rollBackGroup(targets, items);
  throw atomicFailure(
    items.length,
    items.filter((i) => !i.ok && (ourAbort === undefined || i.error.cause !== ourAbort)),
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
  let ourAbort: CgfreezeError | undefined;
  const items = started.map((s, i): GroupItem => {
    if ('ok' in s) return s;
    const target = targets[i] as CgroupTarget;
    const outcome = outcomeOf.get(s) ?? (isPending(s) ? 'pending' : 'done');
    if (outcome === 'pending') return failure(target, abortSync(s, (ourAbort ??= abortReason())));
    try {
      return success(settledSync(s, outcome === 'done' ? undefined : outcome));
    } catch (err) {
      return failure(target, err);
    }
  });
  if (allOrNothing && items.some((i) => !i.ok)) {
    rollBackGroup(targets, items);
    throw atomicFailure(
      targets.length,
      items.filter((i) => !i.ok && (ourAbort === undefined || i.error.cause !== ourAbort)),
    );
  }
  return { ok: items.every((i) => i.ok), results: items };
}

/**
 * Thaws the group members this call froze, as their scopes would (holds.ts): not those frozen by
 * another's request before, nor those another freeze of this process still claims. Members that timed
 * out or were aborted were already rolled back by their own transition.
 */
function rollBackGroup(targets: readonly CgroupTarget[], items: GroupItem[]): void {
  items.forEach((item, i) => {
    const cg = item.ok ? releaseForThaw(item.result) : undefined;
    if (cg === undefined) return;
    try {
      transitionSync(cg, false, {});
    } catch (err) {
      items[i] = failure(targets[i] as CgroupTarget, err);
    }
  });
}

/** The members a group's scope thaws, their claims given up. */
function dueForThaw(results: readonly GroupItem[]): CgroupTarget[] {
  return results.flatMap((item) => {
    const cg = item.ok ? releaseForThaw(item.result) : undefined;
    return cg === undefined ? [] : [cg];
  });
}

/** A scope's thaw of several: what failed and left something of ours frozen is thrown. */
function throwScopeFailures(thawed: GroupResult): void {
  const failed = thawed.results.flatMap((r) => (r.ok || leftNothingFrozen(r.error) ? [] : [r]));
  const [first] = failed;
  if (first === undefined) return;
  if (failed.length === 1) throw first.error;
  const names = failed.map((f) => `${f.target} (${f.error.code})`).join(', ');
  throw new CgfreezeError('ERR_THAW_FAILED', `thawing at the end of their scope failed for ${names}`, {
    failures: failed.map(({ target, error }) => ({ target, error })),
  });
}

class FrozenGroup implements FrozenGroupResult {
  ok: boolean;
  constructor(public results: GroupItem[]) {
    this.ok = results.every((r) => r.ok);
  }

  [Symbol.dispose](): void {
    const due = dueForThaw(this.results);
    if (due.length > 0) throwScopeFailures(groupSync(due, false, false, {}));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    const due = dueForThaw(this.results);
    if (due.length > 0) throwScopeFailures(await groupAsync(due, false, false, {}));
  }
}

/** A group freeze's result as the public API returns it: disposable. */
export function frozenGroup(results: GroupItem[]): FrozenGroupResult {
  return new FrozenGroup(results);
}
