import { describe } from '../cgroup/location.js';
import { CgfreezeError } from '../errors.js';
import { type GroupOptions, type GroupResult, groupAsync, groupSync } from './group.js';
import { type FreezeOptions, type FreezeResult, checkOptions, transitionAsync, transitionSync } from './operations.js';
import type { Target } from './targets.js';

/**
 * Freezes a cgroup (or a list of them) and resolves once the kernel reports
 * it frozen. On timeout, abort or error the freeze is rolled back.
 */
export function freeze(target: Target, opts?: FreezeOptions): Promise<FreezeResult>;
export function freeze(targets: readonly Target[], opts?: GroupOptions): Promise<GroupResult>;
export function freeze(target: Target | readonly Target[], opts?: GroupOptions): Promise<FreezeResult | GroupResult> {
  return run(target, true, opts);
}

/** Thaws a cgroup (or a list); rejects with ERR_FROZEN_BY_ANCESTOR when an ancestor keeps it frozen. */
export function thaw(target: Target, opts?: FreezeOptions): Promise<FreezeResult>;
export function thaw(targets: readonly Target[], opts?: GroupOptions): Promise<GroupResult>;
export function thaw(target: Target | readonly Target[], opts?: GroupOptions): Promise<FreezeResult | GroupResult> {
  return run(target, false, opts);
}

/** Blocking freeze, for CLIs and scripts: the calling thread waits (up to timeoutMs). */
export function freezeSync(target: Target, opts?: Omit<FreezeOptions, 'signal'>): FreezeResult;
export function freezeSync(targets: readonly Target[], opts?: Omit<GroupOptions, 'signal'>): GroupResult;
export function freezeSync(
  target: Target | readonly Target[],
  opts?: Omit<GroupOptions, 'signal'>,
): FreezeResult | GroupResult {
  return runSync(target, true, opts);
}

export function thawSync(target: Target, opts?: Omit<FreezeOptions, 'signal'>): FreezeResult;
export function thawSync(targets: readonly Target[], opts?: Omit<GroupOptions, 'signal'>): GroupResult;
export function thawSync(
  target: Target | readonly Target[],
  opts?: Omit<GroupOptions, 'signal'>,
): FreezeResult | GroupResult {
  return runSync(target, false, opts);
}

function checkAtomic(target: unknown, opts: GroupOptions): void {
  if (opts.atomic !== undefined && (typeof opts.atomic !== 'boolean' || !Array.isArray(target))) {
    throw new CgfreezeError(
      'ERR_INVALID_ARG',
      `atomic must be a boolean and needs a list of targets, got ${describe(opts.atomic)}`,
    );
  }
}

async function run(
  target: Target | readonly Target[],
  frozen: boolean,
  rawOpts: unknown,
): Promise<FreezeResult | GroupResult> {
  const opts: GroupOptions = checkOptions(rawOpts, true);
  checkAtomic(target, opts);
  return Array.isArray(target) ? groupAsync(target, frozen, opts) : transitionAsync(target as Target, frozen, opts);
}

function runSync(target: Target | readonly Target[], frozen: boolean, rawOpts: unknown): FreezeResult | GroupResult {
  const opts: GroupOptions = checkOptions(rawOpts, false);
  checkAtomic(target, opts);
  return Array.isArray(target) ? groupSync(target, frozen, opts) : transitionSync(target as Target, frozen, opts);
}
