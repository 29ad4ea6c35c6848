import { CgfreezeError, describeValue, fromSystemError } from '../errors.js';
import {
  type FrozenGroupResult,
  type GroupItem,
  type GroupResult,
  atomicFailure,
  frozenGroup,
  groupAsync,
  groupSync,
} from '../freezer/group.js';
import { DEFAULT_KILL_TIMEOUT_MS, type KillResult, killCgroup } from '../freezer/kill.js';
import {
  type FreezeResult,
  type FrozenResult,
  type Started,
  type WaitOptions,
  finishAsync,
  finishSync,
  startAsync,
  startSync,
} from '../freezer/operations.js';
import { type CgroupStatus, readStatus } from '../freezer/status.js';
import { watchdogStarting } from '../freezer/watchdog.js';
import { RESOLVE_OPTION_KEYS, type Engine } from '../resolve/index.js';
import { type PreparedTarget, type Target, type TargetOptions, labelOf, prepareTarget } from './targets.js';

/** `timeoutMs` and `signal` (Promise API only), and where the target is. */
export interface ThawOptions extends TargetOptions, Omit<WaitOptions, 'untilExit'> {}

/** A thaw's options, and `untilExit`: README "A freeze that cannot outlive its owner". */
export interface FreezeOptions extends TargetOptions, WaitOptions {}

export interface GroupOptions extends FreezeOptions {
  /**
   * Freeze only: either every target ends frozen or none does. On the first
   * failure the pending freezes are aborted and the completed ones thawed
   * (those that were already frozen before the call are left frozen).
   */
  atomic?: boolean;
}

export interface KillOptions extends TargetOptions {
  /** How long to wait for the cgroup to empty, in ms (default 5000). */
  timeoutMs?: number;
}

const OPTION_KEYS = new Set<string>(['timeoutMs', 'signal', 'atomic', 'untilExit', ...RESOLVE_OPTION_KEYS]);

function checkOptions(opts: unknown, target: unknown, allowSignal: boolean, frozen: boolean): GroupOptions {
  if (opts === undefined) return {};
  if (typeof opts !== 'object' || opts === null || Array.isArray(opts)) {
    throw new CgfreezeError('ERR_INVALID_ARG', `options must be an object, got ${describeValue(opts)}`);
  }
  for (const key of Object.keys(opts)) {
    if (!OPTION_KEYS.has(key)) {
      throw new CgfreezeError(
        'ERR_INVALID_ARG',
        `unknown option ${JSON.stringify(key)} (known: ${[...OPTION_KEYS].join(', ')})`,
      );
    }
  }
  const { timeoutMs, signal, atomic, untilExit } = opts as GroupOptions;
  if (timeoutMs !== undefined && (typeof timeoutMs !== 'number' || Number.isNaN(timeoutMs) || timeoutMs < 0)) {
    throw new CgfreezeError(
      'ERR_INVALID_ARG',
      `timeoutMs must be a number >= 0 (or Infinity), got ${describeValue(timeoutMs)}`,
    );
  }
  if (signal !== undefined) {
    if (!allowSignal) throw new CgfreezeError('ERR_INVALID_ARG', 'signal is only accepted by the Promise API');
    if (!(signal instanceof AbortSignal)) {
      throw new CgfreezeError('ERR_INVALID_ARG', `signal must be an AbortSignal, got ${describeValue(signal)}`);
    }
  }
  if (atomic !== undefined && (typeof atomic !== 'boolean' || !Array.isArray(target))) {
    throw new CgfreezeError(
      'ERR_INVALID_ARG',
      `atomic must be a boolean and needs a list of targets, got ${describeValue(atomic)}`,
    );
  }
  if (untilExit !== undefined && (typeof untilExit !== 'boolean' || !frozen)) {
    throw new CgfreezeError(
      'ERR_INVALID_ARG',
      `untilExit must be a boolean and is a freeze option, got ${describeValue(untilExit)}${frozen ? '' : ' for a thaw'}`,
    );
  }
  return opts;
}

function waitOptions(opts: GroupOptions): WaitOptions {
  return {
    ...(opts.timeoutMs === undefined ? {} : { timeoutMs: opts.timeoutMs }),
    ...(opts.signal === undefined ? {} : { signal: opts.signal }),
    ...(opts.untilExit === true ? { untilExit: true } : {}),
  };
}

/**
 * The "paused by its engine" rule, in its one place: a thaw never undoes a pause the engine itself
 * made and recorded. Thawing behind its back leaves the engine believing the container paused, which
 * wedges its own unpause and exec.
 */
export function pausedByEngineError(label: string, engine: Engine): CgfreezeError {
  return new CgfreezeError(
    'ERR_PAUSED_BY_ENGINE',
    `${label} was paused by ${engine}; unpause it with '${engine} unpause ${label}' so ${engine} knows`,
    { target: label },
  );
}

function prepare(target: unknown, frozen: boolean, opts: TargetOptions): PreparedTarget {
  const prepared = prepareTarget(target, opts, frozen ? 'freeze' : 'thaw');
  if (!frozen && prepared.pausedBy !== undefined) throw pausedByEngineError(prepared.cg.label, prepared.pausedBy);
  return prepared;
}

/**
 * A reference whose cgroup proved recreated since it was resolved (a restart between our check and
 * our open): its cached resolution is dropped, so the next call (and our one retry) resolves afresh.
 */
function isStale(prepared: PreparedTarget, err: unknown): boolean {
  if (prepared.forget === undefined || !(err instanceof CgfreezeError) || err.code !== 'ERR_CGROUP_MISMATCH')
    return false;
  prepared.forget();
  return true;
}

/** Resolves once and writes; a reference whose cgroup proved recreated is resolved and written once more. */
function startOne(target: unknown, frozen: boolean, opts: GroupOptions, start: typeof startSync): Started {
  const prepared = prepare(target, frozen, opts);
  try {
    return start(prepared.cg, frozen, waitOptions(opts));
  } catch (err) {
    if (!isStale(prepared, err)) throw err;
    return start(prepare(target, frozen, opts).cg, frozen, waitOptions(opts));
  }
}

/** Every member resolved first (a failure is that member's result); then the group runs on cgroups. */
function prepareGroup(
  targets: readonly unknown[],
  frozen: boolean,
  opts: GroupOptions,
): { prepared: Array<PreparedTarget | GroupItem>; atomic: boolean } {
  if (targets.length === 0) throw new CgfreezeError('ERR_INVALID_ARG', 'the list of targets is empty');
  const prepared = targets.map((target): PreparedTarget | GroupItem => {
    try {
      return prepare(target, frozen, opts);
    } catch (err) {
      return { target: labelOf(target), ok: false, error: fromSystemError(err, labelOf(target)) };
    }
  });
  const atomic = opts.atomic === true && frozen;
  const failures = prepared.filter((p): p is GroupItem => 'ok' in p);
  // All or nothing, and something already failed: nothing is frozen at all.
  if (atomic && failures.length > 0) throw atomicFailure(targets.length, failures);
  return { prepared, atomic };
}

function mergeGroup(prepared: Array<PreparedTarget | GroupItem>, ran: GroupResult, frozen: boolean): GroupResult {
  let k = 0;
  const results = prepared.map((p) => {
    if ('ok' in p) return p;
    const item = ran.results[k++] as GroupItem;
    if (!item.ok) isStale(p, item.error);
    return item;
  });
  return frozen ? frozenGroup(results) : { ok: results.every((r) => r.ok), results };
}

function cgroupsOf(prepared: Array<PreparedTarget | GroupItem>): PreparedTarget['cg'][] {
  return prepared.flatMap((p) => ('ok' in p ? [] : [p.cg]));
}

/**
 * The Promise API. Everything up to the write runs in the call (a thrown error becomes the rejection),
 * so a transition complete at its write costs one settled promise over the sync call.
 */
function run(target: unknown, frozen: boolean, rawOpts: unknown): Promise<FreezeResult | GroupResult> {
  try {
    const opts = checkOptions(rawOpts, target, true, frozen);
    // The guard itself is written just before the freeze's write: the watchdog must be running by then.
    const watchdog = opts.untilExit === true ? watchdogStarting() : undefined;
    if (watchdog !== undefined) return watchdog.then(() => runChecked(target, frozen, opts));
    return runChecked(target, frozen, opts);
  } catch (err) {
    return Promise.reject(fromSystemError(err));
  }
}

function runChecked(target: unknown, frozen: boolean, opts: GroupOptions): Promise<FreezeResult | GroupResult> {
  if (!Array.isArray(target)) return finishAsync(startOne(target, frozen, opts, startAsync), opts.signal);
  const { prepared, atomic } = prepareGroup(target, frozen, opts);
  return groupAsync(cgroupsOf(prepared), frozen, atomic, waitOptions(opts)).then((ran) =>
    mergeGroup(prepared, ran, frozen),
  );
}

function runSync(target: unknown, frozen: boolean, rawOpts: unknown): FreezeResult | GroupResult {
  const opts = checkOptions(rawOpts, target, false, frozen);
  if (!Array.isArray(target)) return finishSync(startOne(target, frozen, opts, startSync));
  const { prepared, atomic } = prepareGroup(target, frozen, opts);
  return mergeGroup(prepared, groupSync(cgroupsOf(prepared), frozen, atomic, waitOptions(opts)), frozen);
}

/**
 * Freezes a cgroup (or a list of them) and resolves once the kernel reports it frozen. On timeout,
 * abort or error the freeze is rolled back. The result is disposable: `await using` thaws what this
 * freeze froze when the scope ends (README: "Scoped freeze").
 */
export function freeze(target: Target, opts?: FreezeOptions): Promise<FrozenResult>;
export function freeze(targets: readonly Target[], opts?: GroupOptions): Promise<FrozenGroupResult>;
export function freeze(
  target: Target | readonly Target[],
  opts?: GroupOptions,
): Promise<FrozenResult | FrozenGroupResult> {
  return run(target, true, opts) as Promise<FrozenResult | FrozenGroupResult>;
}

/** Thaws a cgroup (or a list); rejects with ERR_FROZEN_BY_ANCESTOR when an ancestor keeps it frozen. */
export function thaw(target: Target, opts?: ThawOptions): Promise<FreezeResult>;
export function thaw(targets: readonly Target[], opts?: ThawOptions): Promise<GroupResult>;
export function thaw(target: Target | readonly Target[], opts?: ThawOptions): Promise<FreezeResult | GroupResult> {
  return run(target, false, opts);
}

/** Blocking freeze, for CLIs and scripts: the calling thread waits (up to timeoutMs). `using` thaws it. */
export function freezeSync(target: Target, opts?: Omit<FreezeOptions, 'signal'>): FrozenResult;
export function freezeSync(targets: readonly Target[], opts?: Omit<GroupOptions, 'signal'>): FrozenGroupResult;
export function freezeSync(
  target: Target | readonly Target[],
  opts?: Omit<GroupOptions, 'signal'>,
): FrozenResult | FrozenGroupResult {
  return runSync(target, true, opts) as FrozenResult | FrozenGroupResult;
}

export function thawSync(target: Target, opts?: Omit<ThawOptions, 'signal'>): FreezeResult;
export function thawSync(targets: readonly Target[], opts?: Omit<ThawOptions, 'signal'>): GroupResult;
export function thawSync(
  target: Target | readonly Target[],
  opts?: Omit<ThawOptions, 'signal'>,
): FreezeResult | GroupResult {
  return runSync(target, false, opts);
}

/**
 * Freezes the target, runs `fn` with the freeze's result, and thaws what the freeze froze when `fn`
 * returns or throws (an `await using` scope). Resolves to what `fn` returns. A list is frozen all or
 * nothing (`atomic`), so `fn` never runs with part of it frozen.
 */
export function withFrozen<T>(
  target: Target,
  fn: (frozen: FrozenResult) => T,
  opts?: FreezeOptions,
): Promise<Awaited<T>>;
export function withFrozen<T>(
  targets: readonly Target[],
  fn: (frozen: FrozenGroupResult) => T,
  opts?: FreezeOptions,
): Promise<Awaited<T>>;
export async function withFrozen<T>(
  target: Target | readonly Target[],
  fn: ((frozen: FrozenResult) => T) | ((frozen: FrozenGroupResult) => T),
  opts: FreezeOptions = {},
): Promise<Awaited<T>> {
  if (typeof fn !== 'function') {
    throw new CgfreezeError('ERR_INVALID_ARG', `withFrozen needs a function to run, got ${describeValue(fn)}`);
  }
  const frozen = (await run(target, true, Array.isArray(target) ? { ...opts, atomic: true } : opts)) as
    FrozenResult | FrozenGroupResult;
  // What `await using` does, written out: tools that run TypeScript source do not all compile `using`.
  let value: Awaited<T>;
  try {
    // The overloads pair a single target with FrozenResult and a list with FrozenGroupResult.
    value = await (fn as (frozen: FrozenResult | FrozenGroupResult) => T)(frozen);
  } catch (err) {
    try {
      await frozen[Symbol.asyncDispose]();
    } catch (thawError) {
      throw suppressedError(thawError, err);
    }
    throw err;
  }
  await frozen[Symbol.asyncDispose]();
  return value;
}

/** What `using` throws when the scope and its disposal both fail: a SuppressedError, or its shape. */
function suppressedError(error: unknown, suppressed: unknown): Error {
  const message = 'thawing at the end of the scope failed after the scope itself threw';
  const Suppressed = (globalThis as { SuppressedError?: new (e: unknown, s: unknown, m: string) => Error })
    .SuppressedError;
  if (Suppressed !== undefined) return new Suppressed(error, suppressed, message);
  return Object.assign(new Error(message), { name: 'SuppressedError', error, suppressed });
}

/**
 * The kernel's view of a cgroup's freezer, read without blocking and without the addon. Reading needs
 * no self-check: looking at your own cgroup is safe.
 */
export function state(target: Target, opts: TargetOptions = {}): CgroupStatus {
  return readStatus(prepareTarget(target, opts, 'paths').cg);
}

/**
 * Kills every task in a cgroup tree, frozen or not, and waits until it is empty (see
 * freezer/kill.ts for the order of signals and thaws on v1).
 */
export async function kill(target: Target, opts: KillOptions = {}): Promise<KillResult> {
  const { timeoutMs = DEFAULT_KILL_TIMEOUT_MS, ...where } = opts;
  return killCgroup(prepareTarget(target, where, 'paths').cg, timeoutMs);
}
