import { CgfreezeError } from '../errors.js';
import { resolveForUse } from './index.js';
import type { ResolvedContainer, ResolveOptions } from './types.js';

/** A container ID as the engines put it into a cgroup's name: 64 hex digits. */
const ID_IN_NAME = /[0-9a-f]{64}/;

/**
 * How long a cgroup that no container owned is taken to have none: an ID in its path that resolves to
 * nothing costs a scan of every engine's state, and a caller may ask about it many times a second.
 */
const NO_OWNER_MS = 2_000;
const NO_OWNER_LIMIT = 1_024;
/** Per resolver options (the same object, call after call), the cgroups without an owner, until when. */
const noOwner = new WeakMap<ResolveOptions, Map<string, number>>();

/**
 * Which container's cgroup `cgroupDir` is, by the engines' state on disk: the reverse of resolve().
 * The engines name a container's cgroup after its ID (`docker-<id>.scope`, `/docker/<id>`,
 * `cri-containerd-<id>.scope`, `crio-<id>`, `libpod-<id>.scope`), so each ID in the path, innermost
 * first, is resolved as a reference (under the resolver's trust rules, from its cache when it
 * holds), and the container whose cgroup is exactly `cgroupDir` owns it. Undefined when none does:
 * a pod's or a bare cgroup, or a container whose custom cgroup is not named after its ID. A path with
 * IDs but no owner is remembered as such for 2 s.
 */
export function cgroupOwnerSync(cgroupDir: string, opts: ResolveOptions = {}): ResolvedContainer | undefined {
  const ids = cgroupDir
    .split('/')
    .reverse()
    .flatMap((name) => ID_IN_NAME.exec(name)?.[0] ?? []);
  if (ids.length === 0) return undefined;
  const now = Date.now();
  let known = noOwner.get(opts);
  if ((known?.get(cgroupDir) ?? 0) > now) return undefined;
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
  if (known === undefined) noOwner.set(opts, (known = new Map<string, number>()));
  if (known.size >= NO_OWNER_LIMIT) for (const [dir, until] of known) if (until <= now) known.delete(dir);
  if (known.size < NO_OWNER_LIMIT) known.set(cgroupDir, now + NO_OWNER_MS);
  return undefined;
}
