import { realpathSync } from 'node:fs';
import { posix } from 'node:path';
import { CgfreezeError, describeValue, fromSystemError } from '../errors.js';
import { type CgroupMount, cgroupMounts, dirToHierarchyPath, mountFor } from './mountinfo.js';

/** A validated cgroup directory on a cgroup mount that has a freezer. */
export interface CgroupLocation {
  /** Normalized absolute directory, e.g. `/sys/fs/cgroup/freezer/docker/<id>`. */
  dir: string;
  mount: CgroupMount;
  /** `dir` relative to the mount point (never empty: the root is refused). */
  relativePath: string;
  /** Path inside the hierarchy, as /proc/<pid>/cgroup shows it, e.g. `/docker/<id>`. */
  hierarchyPath: string;
  version: 1 | 2;
}

/**
 * Checks that `input` names a non-root cgroup directory on a mount with a
 * freezer, with no `..` segments and no symbolic links on the way. The
 * native open then confines itself beneath the mount (openat2) as well.
 */
export function locateCgroup(input: unknown, mounts: CgroupMount[] = cgroupMounts()): CgroupLocation {
  if (typeof input !== 'string' || input === '') {
    throw new CgfreezeError('ERR_INVALID_ARG', `a cgroup path must be a non-empty string, got ${describeValue(input)}`);
  }
  if (input.includes('\0')) {
    throw new CgfreezeError('ERR_INVALID_ARG', 'a cgroup path must not contain NUL bytes', { target: input });
  }
  if (!input.startsWith('/')) {
    throw new CgfreezeError('ERR_INVALID_ARG', `a cgroup path must be absolute: ${input}`, { target: input });
  }
  if (input.split('/').includes('..')) {
    throw new CgfreezeError('ERR_NOT_A_CGROUP', `a cgroup path must not contain '..': ${input}`, { target: input });
  }
  const dir = posix.normalize(input).replace(/(.)\/+$/, '$1');
  const mount = mountFor(dir, mounts);
  if (mount === undefined) {
    throw new CgfreezeError('ERR_NOT_A_CGROUP', `not on a cgroup mount: ${input}`, { target: input, path: dir });
  }
  if (mount.version === 1 && !mount.controllers.includes('freezer')) {
    throw new CgfreezeError(
      'ERR_FREEZER_UNAVAILABLE',
      `${mount.mountPoint} is a cgroup v1 hierarchy without the freezer controller (${mount.controllers.join(',')}): ${input}`,
      { target: input, path: dir },
    );
  }
  const relativePath = mount.mountPoint === '/' ? dir.slice(1) : dir.slice(mount.mountPoint.length + 1);
  const hierarchyPath = dirToHierarchyPath(mount, dir);
  if (relativePath === '' && mount.root === '/') {
    throw new CgfreezeError('ERR_ROOT_CGROUP', `${dir} is the root cgroup of its hierarchy, which is never frozen`, {
      target: input,
      path: dir,
    });
  }
  let real: string;
  try {
    real = realpathSync(dir);
  } catch (err) {
    throw fromSystemError(err, input);
  }
  if (real !== dir) {
    throw new CgfreezeError(
      'ERR_NOT_A_CGROUP',
      `a cgroup path must not go through a symbolic link: ${input} is ${real}`,
      {
        target: input,
        path: dir,
      },
    );
  }
  return { dir, mount, relativePath, hierarchyPath, version: mount.version };
}
