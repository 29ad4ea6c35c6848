import { describe } from '../cgroup/location.js';
import { CgfreezeError } from '../errors.js';
import { type FreezerTarget, type ResolveOptions, resolveForFreezer, resolveSync } from '../resolve/index.js';

/**
 * What freeze/thaw/state accept: a cgroup directory, or a container
 * reference. A string is a directory when it starts with `/` and has a
 * second `/` (`/sys/fs/cgroup/freezer/x`); Docker names (`web`, `/web`),
 * IDs and Kubernetes `namespace/pod/container` references never do.
 */
export type Target = string | { cgroup: string };

/**
 * `hostRoot` prefixes every path read and written, for processes that see the
 * host under another root (a sidecar with the host at `/host`); paths given and
 * returned are host paths without it. The other options say where the engines
 * keep their state, for container references (see the resolver).
 */
export type TargetOptions = ResolveOptions;

export interface ResolvedTarget {
  /** How the caller named it, for messages and results. */
  label: string;
  /** The host path of the cgroup directory. */
  cgroupDir: string;
  /** Where this process opens it: `hostRoot + cgroupDir`. */
  openDir: string;
  /** For a container reference: the engine that paused it itself, if it did. */
  pausedBy?: string;
  /** For a container reference: `dev:ino` of the cgroup it resolved to, and how to drop that resolution. */
  reference?: FreezerTarget;
}

export function isCgroupPath(target: string): boolean {
  return target.startsWith('/') && target.indexOf('/', 1) > 0;
}

export function checkHostRoot(hostRoot: unknown): string {
  if (hostRoot === undefined || hostRoot === '' || hostRoot === '/') return '';
  if (typeof hostRoot !== 'string' || !hostRoot.startsWith('/') || hostRoot.split('/').includes('..')) {
    throw new CgfreezeError(
      'ERR_INVALID_ARG',
      `hostRoot must be an absolute path without '..', got ${describe(hostRoot)}`,
    );
  }
  return hostRoot.replace(/\/+$/, '');
}

/**
 * How the caller will use the cgroup, which decides what a cached resolution
 * must prove again: the freezer's handle checks the cgroup itself, so a
 * freeze re-checks the init process and a thaw the engine's pause record;
 * a caller that goes through paths ('paths') gets the full check.
 */
export type TargetUse = 'freeze' | 'thaw' | 'paths';

export function resolveTarget(target: unknown, opts: TargetOptions, use: TargetUse): ResolvedTarget {
  const hostRoot = checkHostRoot(opts.hostRoot);
  let path: string;
  if (typeof target === 'object' && target !== null && !Array.isArray(target) && 'cgroup' in target) {
    const cgroup = (target as { cgroup: unknown }).cgroup;
    if (typeof cgroup !== 'string' || !cgroup.startsWith('/')) {
      throw new CgfreezeError('ERR_INVALID_ARG', `{ cgroup } must be an absolute path, got ${describe(cgroup)}`);
    }
    path = cgroup;
  } else if (typeof target === 'string' && isCgroupPath(target)) {
    path = target;
  } else if (typeof target === 'string' && target !== '') {
    // Resolution checks that the container runs and that this cgroup is really its own.
    const reference = use === 'paths' ? undefined : resolveForFreezer(target, opts, use === 'freeze');
    const { cgroupDir, pausedByEngine, engine } = reference?.resolved ?? resolveSync(target, opts);
    const out: ResolvedTarget = { label: target, cgroupDir, openDir: hostRoot + cgroupDir };
    if (reference !== undefined) out.reference = reference;
    if (pausedByEngine) out.pausedBy = engine;
    return out;
  } else {
    throw new CgfreezeError(
      'ERR_INVALID_ARG',
      `a target must be a cgroup path, a container reference or { cgroup: path }, got ${describe(target)}`,
    );
  }
  return { label: path, cgroupDir: path, openDir: hostRoot + path };
}
