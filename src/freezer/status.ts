import { type FreezerState, frozenV1Ancestor, frozenV2Ancestor, readFreezerFiles } from '../cgroup/freezer-files.js';
import { locateCgroup } from '../cgroup/location.js';
import { fromSystemError } from '../errors.js';
import { type Target, type TargetOptions, resolveTarget } from './targets.js';

export interface CgroupStatus {
  target: string;
  /** Host path of the cgroup directory. */
  cgroupDir: string;
  version: 'v1' | 'v2';
  /** Effective state: frozen by itself or by an ancestor. */
  state: FreezerState;
  /** The cgroup itself asked to be frozen (v1 self_freezing, v2 cgroup.freeze). */
  self: boolean;
  /** An ancestor keeps it frozen. */
  byAncestor: boolean;
  /** The frozen ancestor's host path, when byAncestor. */
  ancestor?: string;
  /** Host path of the file a freeze writes. */
  freezeFile: string;
}

/**
 * The kernel's view of a cgroup's freezer, read without blocking and without
 * the addon. Reading needs no self-check: looking at your own cgroup is safe.
 */
export function state(target: Target, opts: TargetOptions = {}): CgroupStatus {
  const resolved = resolveTarget(target, opts, 'paths');
  const location = locateCgroup(resolved.openDir);
  const { dir, version, mount } = location;
  try {
    const files = readFreezerFiles(dir, version, mount.mountPoint);
    const hostRootLength = resolved.openDir.length - resolved.cgroupDir.length;
    let ancestor: string | undefined;
    if (files.byAncestor) {
      ancestor = version === 1 ? frozenV1Ancestor(dir, mount.mountPoint) : frozenV2Ancestor(dir, mount.mountPoint);
    }
    return {
      target: resolved.label,
      cgroupDir: resolved.cgroupDir,
      version: files.version,
      state: files.state,
      self: files.self,
      byAncestor: files.byAncestor,
      ...(ancestor === undefined ? {} : { ancestor: ancestor.slice(hostRootLength) }),
      freezeFile: files.freezeFile.slice(hostRootLength),
    };
  } catch (err) {
    throw fromSystemError(err, resolved.label);
  }
}
