import { CgfreezeError, fromSystemError } from '../errors.js';
import {
  type GroupItem,
  type ListedContainer,
  type ResolveOptions,
  freeze,
  isCgroupPath,
  listSync,
  resolveSync,
  state,
  thaw,
} from '../index.js';
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

/** How long a listing of the engines' containers (for labels) is reused. */
const LIST_TTL_MS = 2_000;

function fromListed(c: ListedContainer & { cgroupDir: string }, target: string): TargetInfo {
  return {
    target,
    cgroupDir: c.cgroupDir,
    id: c.id,
    engine: c.engine,
    labels: c.labels,
    ...(c.name !== undefined ? { name: c.name } : {}),
  };
}

/**
 * The real thing: container references resolved from the engines' state
 * (src/resolve), and cgfreeze's freezer API on cgroup directories, all seen
 * through `hostRoot`. `resolve` carries the engine roots when they are not
 * the defaults.
 */
export function freezerBackend(opts: { hostRoot?: string; resolve?: ResolveOptions } = {}): Backend {
  const base = opts.hostRoot === undefined ? {} : { hostRoot: opts.hostRoot };
  const resolveOpts: ResolveOptions = { ...opts.resolve, ...base };
  let listing: { at: number; items: ListedContainer[] } | undefined;
  const listed = (fresh: boolean): ListedContainer[] => {
    if (fresh || listing === undefined || Date.now() - listing.at > LIST_TTL_MS)
      listing = { at: Date.now(), items: listSync(resolveOpts) };
    return listing.items;
  };
  /** Labels are in the listing only; a container started a moment ago needs a fresh one. */
  const labelsOf = (engine: string, id: string): Record<string, string> => {
    const find = (fresh: boolean): ListedContainer | undefined =>
      listed(fresh).find((c) => c.engine === engine && c.id === id);
    return (find(false) ?? find(true))?.labels ?? {};
  };
  return {
    resolve(target: string): TargetInfo {
      if (isCgroupPath(target)) {
        // Normalized, on a freezer mount, no symlinks, not the root: what the policy globs match against.
        return { target, cgroupDir: resolveSync({ cgroup: target }, resolveOpts).cgroupDir, labels: {} };
      }
      const r = resolveSync(target, resolveOpts);
      return {
        target,
        cgroupDir: r.cgroupDir,
        id: r.id,
        engine: r.engine,
        labels: labelsOf(r.engine, r.id),
        pausedByEngine: r.pausedByEngine,
        ...(r.name !== undefined ? { name: r.name } : {}),
      };
    },
    list(): TargetInfo[] {
      return listed(true).flatMap((c) =>
        c.running && c.cgroupDir !== undefined ? [fromListed({ ...c, cgroupDir: c.cgroupDir }, c.name ?? c.id)] : [],
      );
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
