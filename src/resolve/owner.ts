import { CgfreezeError } from '../errors.js';
import { resolveForUse } from './index.js';
import type { ResolvedContainer, ResolveOptions } from './types.js';

/** A container ID as the engines put it into a cgroup's name: 64 hex digits. */
const ID_IN_NAME = /[0-9a-f]{64}/;

/**
 * Which container's cgroup `cgroupDir` is, by the engines' state on disk: the reverse of resolve().
 * The engines name a container's cgroup after its ID (`docker-<id>.scope`, `/docker/<id>`,
 * `cri-containerd-<id>.scope`, `crio-<id>`, `libpod-<id>.scope`), so each ID in the path, innermost
 * first, is resolved as a reference (under the resolver's trust rules, from its cache when it
 * holds), and the container whose cgroup is exactly `cgroupDir` owns it. Undefined when none does:
 * a pod's or a bare cgroup, or a container whose custom cgroup is not named after its ID.
 */
export function cgroupOwnerSync(cgroupDir: string, opts: ResolveOptions = {}): ResolvedContainer | undefined {
  const ids = cgroupDir
    .split('/')
    .reverse()
    .flatMap((name) => ID_IN_NAME.exec(name)?.[0] ?? []);
  for (const id of ids) {
    let resolved: ResolvedContainer;
    try {
      resolved = resolveForUse(id, opts, 'paths').resolved;
    } catch (err) {
      // Not a running container of any engine, or a sandbox: this ID does not own the cgroup.
      if (err instanceof CgfreezeError) continue;
      throw err;
    }
    // A copy: the cached resolution must not change under its other users.
    if (resolved.cgroupDir === cgroupDir) return { ...resolved };
  }
  return undefined;
}
