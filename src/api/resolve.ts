import { CgfreezeError } from '../errors.js';
import type { ResourceUsage } from '../cgroup/resources.js';
import {
  type ListedContainer,
  type ListOptions,
  type Resolved,
  type ResolvedCgroup,
  type ResolvedContainer,
  listSync,
  resolveForUse,
  unreadableEngineState,
  usageOf,
} from '../resolve/index.js';
import { type Target, type TargetOptions, checkResolved, isCgroupPath, resolveCgroupPath } from './targets.js';

/**
 * Resolves a container reference to its cgroup by reading the engines' on-disk state (never a daemon);
 * `{ cgroup: path }` checks and normalizes a cgroup directory instead. The result is a target for
 * freeze, thaw, state and kill. Throws CgfreezeError: ERR_INVALID_ARG, ERR_CONTAINER_NOT_FOUND,
 * ERR_AMBIGUOUS_REF, ERR_CONTAINER_NOT_RUNNING, ERR_NO_DEDICATED_CGROUP, ERR_CGROUP_MISMATCH,
 * ERR_STATE_FILE; for a cgroup, ERR_NOT_A_CGROUP, ERR_ROOT_CGROUP, ERR_FREEZER_UNAVAILABLE.
 */
export function resolveSync(ref: string, opts?: TargetOptions): ResolvedContainer;
export function resolveSync(target: { cgroup: string }, opts?: TargetOptions): ResolvedCgroup;
export function resolveSync(target: string | { cgroup: string }, opts?: TargetOptions): Resolved;
export function resolveSync(target: string | { cgroup: string }, opts: TargetOptions = {}): Resolved {
  if (typeof target === 'object' && target !== null && typeof target.cgroup === 'string') {
    return resolveCgroupPath(target.cgroup, opts);
  }
  if (typeof target !== 'string') {
    throw new CgfreezeError('ERR_INVALID_ARG', 'resolve() takes a container reference or { cgroup: path }');
  }
  if (isCgroupPath(target)) {
    throw new CgfreezeError('ERR_INVALID_ARG', `${target} is a cgroup path: resolve({ cgroup: path }) checks one`, {
      target,
    });
  }
  // A copy: the cached resolution must not change under its other users.
  return { ...resolveForUse(target, opts, 'paths').resolved };
}

export function resolve(ref: string, opts?: TargetOptions): Promise<ResolvedContainer>;
export function resolve(target: { cgroup: string }, opts?: TargetOptions): Promise<ResolvedCgroup>;
export function resolve(target: string | { cgroup: string }, opts: TargetOptions = {}): Promise<Resolved> {
  return Promise.resolve().then(() => resolveSync(target, opts));
}

/** Every container found on disk, with its labels, its cgroup when running, and its freezer state. */
export function list(opts: ListOptions = {}): Promise<ListedContainer[]> {
  return Promise.resolve().then(() => listSync(opts));
}

export { listSync, unreadableEngineState };

/**
 * Memory use and limit and CPU time of a target's cgroup, read with node:fs (no addon): `{ memory?: {
 * usageBytes, limitBytes }, cpuTimeUs? }`, `limitBytes` null for no limit, a reading absent when no
 * controller accounts the cgroup. A reference is resolved as for state(); a Resolved is read as it is.
 */
export function usage(target: Target, opts: TargetOptions = {}): ResourceUsage {
  let resolved: Resolved;
  if (typeof target === 'string' && isCgroupPath(target)) resolved = resolveCgroupPath(target, opts);
  else if (typeof target === 'object' && target !== null && 'kind' in target) resolved = checkResolved(target);
  else resolved = resolveSync(target, opts);
  return usageOf(resolved, opts);
}
