import { locateCgroup } from '../cgroup/location.js';
import { type CgroupMount, cgroupMounts } from '../cgroup/mountinfo.js';
import { CgfreezeError, fromSystemError } from '../errors.js';
import { checkHostRoot, isCgroupPath } from '../freezer/targets.js';
import { freeze, state, thaw } from '../index.js';
import type { GroupItem } from '../index.js';
import type { Backend, Outcome, TargetInfo } from './backend.js';

function toOutcome(item: GroupItem): Outcome {
  if (!item.ok) return { ok: false, error: item.error };
  const { cgroupDir, version, state: s, elapsedMs } = item.result;
  return { ok: true, result: { cgroupDir, version, state: s, elapsedMs } };
}

/** An atomic freeze that rolled back throws once; give each target its own part of the story. */
function spread(dirs: string[], err: unknown): Outcome[] {
  const error = err instanceof CgfreezeError ? err : fromSystemError(err);
  return dirs.map((dir) => {
    const own = error.failures?.find((f) => f.target === dir);
    return { ok: false, error: own?.error ?? error };
  });
}

const MOUNTS_TTL_MS = 10_000;

/** The real thing: cgfreeze's freezer API on cgroup directories, seen through `hostRoot`. */
export function freezerBackend(opts: { hostRoot?: string } = {}): Backend {
  const base = opts.hostRoot === undefined ? {} : { hostRoot: opts.hostRoot };
  const root = checkHostRoot(opts.hostRoot);
  // The cgroup mounts do not change under a running sidecar; re-reading mountinfo per request costs more than the freeze.
  let mounts: { at: number; list: CgroupMount[] } | undefined;
  const currentMounts = (): CgroupMount[] => {
    if (mounts === undefined || Date.now() - mounts.at > MOUNTS_TTL_MS) mounts = { at: Date.now(), list: cgroupMounts() };
    return mounts.list;
  };
  return {
    resolve(target: string): TargetInfo {
      if (isCgroupPath(target)) {
        // Normalized, on a freezer mount, no symlinks, not the root: what the policy globs match against.
        const location = locateCgroup(root + target, currentMounts());
        return { target, cgroupDir: location.dir.slice(root.length), labels: {} };
      }
      const s = state(target, base);
      return { target, cgroupDir: s.cgroupDir, labels: {} };
    },
    list(): TargetInfo[] {
      // Engine listing comes with container references (src/resolve); until then the
      // server lists the bare cgroups it holds frozen.
      return [];
    },
    async freeze(cgroupDirs, { atomic, timeoutMs }) {
      try {
        const group = await freeze(
          cgroupDirs.map((cgroup) => ({ cgroup })),
          { ...base, timeoutMs, ...(atomic ? { atomic } : {}) },
        );
        return group.results.map(toOutcome);
      } catch (err) {
        return spread(cgroupDirs, err);
      }
    },
    async thaw(cgroupDirs, { timeoutMs }) {
      try {
        const group = await thaw(
          cgroupDirs.map((cgroup) => ({ cgroup })),
          { ...base, timeoutMs },
        );
        return group.results.map(toOutcome);
      } catch (err) {
        return spread(cgroupDirs, err);
      }
    },
    status(cgroupDir) {
      const s = state({ cgroup: cgroupDir }, base);
      return {
        cgroupDir: s.cgroupDir,
        version: s.version,
        state: s.state,
        self: s.self,
        byAncestor: s.byAncestor,
        ...(s.ancestor !== undefined ? { ancestor: s.ancestor } : {}),
      };
    },
  };
}
