import { describe } from '../cgroup/location.js';
import { CgfreezeError } from '../errors.js';

/**
 * What freeze/thaw/state accept: a cgroup directory, or a container
 * reference. A string is a directory when it starts with `/` and has a
 * second `/` (`/sys/fs/cgroup/freezer/x`); Docker names (`web`, `/web`),
 * IDs and Kubernetes `namespace/pod/container` references never do.
 */
export type Target = string | { cgroup: string };

export interface TargetOptions {
  /**
   * Prefix for every path read and written, for processes that see the host
   * under another root (a sidecar with the host at `/host`). Paths given and
   * returned are host paths without it.
   */
  hostRoot?: string;
}

export interface ResolvedTarget {
  /** How the caller named it, for messages and results. */
  label: string;
  /** The host path of the cgroup directory. */
  cgroupDir: string;
  /** Where this process opens it: `hostRoot + cgroupDir`. */
  openDir: string;
}

export function isCgroupPath(target: string): boolean {
  return target.startsWith('/') && target.indexOf('/', 1) > 0;
}

export function checkHostRoot(hostRoot: unknown): string {
  if (hostRoot === undefined || hostRoot === '' || hostRoot === '/') return '';
  if (typeof hostRoot !== 'string' || !hostRoot.startsWith('/') || hostRoot.split('/').includes('..')) {
    throw new CgfreezeError('ERR_INVALID_ARG', `hostRoot must be an absolute path without '..', got ${describe(hostRoot)}`);
  }
  return hostRoot.replace(/\/+$/, '');
}

export function resolveTarget(target: unknown, opts: TargetOptions = {}): ResolvedTarget {
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
    throw new CgfreezeError('ERR_CONTAINER_NOT_FOUND', `container references are not available in this build: ${target}`, {
      target,
    });
  } else {
    throw new CgfreezeError(
      'ERR_INVALID_ARG',
      `a target must be a cgroup path, a container reference or { cgroup: path }, got ${describe(target)}`,
    );
  }
  return { label: path, cgroupDir: path, openDir: hostRoot + path };
}
