import { existsSync, readFileSync } from 'node:fs';
import { type FreezerState, frozenAncestor, parseEventsFrozen, readFreezerFiles } from '../cgroup/freezer-files.js';
import { type CgroupLocation, locateCgroup } from '../cgroup/location.js';
import { cgroup2Mount, cgroupMounts } from '../cgroup/mountinfo.js';
import { fromSystemError } from '../errors.js';
import type { CgroupTarget } from './cgroup-target.js';

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
  /**
   * Hybrid hosts, v1 cgroups only: the cgroup2 directory of the same path, when it is frozen. runc
   * makes that twin for every container, and a write to its cgroup.freeze stops the container too,
   * invisibly to freezer.state and to the engines. Not looked for under a hostRoot.
   */
  frozenTwin?: string;
}

/**
 * The kernel's view of a cgroup's freezer, read with node:fs (no addon, no blocking). Reading needs no
 * self-check: looking at your own cgroup is safe.
 */
export function readStatus(target: CgroupTarget): CgroupStatus {
  const location = locateCgroup(target.openDir);
  const { dir, version, mount } = location;
  const hostRootLength = target.openDir.length - target.cgroupDir.length;
  try {
    const files = readFreezerFiles(dir, version, mount.mountPoint);
    const ancestor = files.byAncestor ? frozenAncestor(dir, version, mount.mountPoint) : undefined;
    const twin = hostRootLength === 0 && version === 1 ? frozenTwinOf(location) : undefined;
    return {
      target: target.label,
      cgroupDir: target.cgroupDir,
      version: files.version,
      state: files.state,
      self: files.self,
      byAncestor: files.byAncestor,
      ...(ancestor === undefined ? {} : { ancestor: ancestor.slice(hostRootLength) }),
      freezeFile: files.freezeFile.slice(hostRootLength),
      ...(twin === undefined ? {} : { frozenTwin: twin }),
    };
  } catch (err) {
    throw fromSystemError(err, target.label);
  }
}

function frozenTwinOf(location: CgroupLocation): string | undefined {
  const v2 = cgroup2Mount(cgroupMounts());
  if (v2 === undefined) return undefined;
  const twin = `${v2.mountPoint}/${location.relativePath}`;
  const events = `${twin}/cgroup.events`;
  if (!existsSync(events)) return undefined;
  return parseEventsFrozen(readFileSync(events, 'utf8'), events) ? twin : undefined;
}
