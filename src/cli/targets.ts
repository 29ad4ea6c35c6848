import { CgfreezeError, fromSystemError } from '../errors.js';
import { type Engine, isCgroupPath, listSync, type ResolveOptions, resolveSync, type Target } from '../index.js';
import { containerFilterOf, type Parsed, stringList, usageError } from './args.js';
import { unreadableNote } from './engines.js';

/** What the engine says about a selected container. */
export interface EngineView {
  engine: Engine;
  id: string;
  name?: string;
  /** The engine paused it itself (Docker `State.Paused`). */
  pausedByEngine: boolean;
}

/** One thing to act on, with the text that names it in output (the reference as typed). */
export interface Selection {
  label: string;
  target: Target;
  /** Present for container references. */
  container?: EngineView;
  /** The reference could not be resolved; reported as this target's failure. */
  error?: CgfreezeError;
}

function fromRef(ref: string, ropts: ResolveOptions): Selection {
  if (isCgroupPath(ref)) return { label: ref, target: ref };
  try {
    const r = resolveSync(ref, ropts);
    return {
      label: ref,
      // The resolution itself: the freeze checks it is still that cgroup, and a thaw refuses an engine's pause.
      target: r,
      container: {
        engine: r.engine,
        id: r.id,
        ...(r.name === undefined ? {} : { name: r.name }),
        pausedByEngine: r.pausedByEngine,
      },
    };
  } catch (err) {
    return { label: ref, target: ref, error: fromSystemError(err, ref) };
  }
}

/**
 * Positional references (container references, or cgroup directories when they
 * look like `/a/b`), then every `--cgroup PATH`, then the running containers
 * that match every `--filter`, in that order.
 */
export function selectTargets(command: string, args: Parsed, ropts: ResolveOptions): Selection[] {
  const fromRefs = args.positionals.map((ref) => fromRef(ref, ropts));
  const fromPaths = stringList(args.values, 'cgroup').map((path): Selection => {
    if (!path.startsWith('/'))
      throw usageError(command, `--cgroup needs an absolute cgroup directory, such as /sys/fs/cgroup/unified/${path}`);
    return { label: path, target: { cgroup: path } };
  });
  const filter = containerFilterOf(command, args.values);
  const fromFilter: Selection[] = [];
  if (filter !== undefined) {
    const listed = listSync({ ...ropts, filter: { ...filter, running: true } });
    for (const c of listed) {
      const label = c.name ?? c.id;
      if (c.cgroupDir === undefined) {
        fromFilter.push({
          label,
          target: label,
          error: c.error ?? new CgfreezeError('ERR_CONTAINER_NOT_RUNNING', `Container ${label} is not running`),
        });
        continue;
      }
      fromFilter.push({
        label,
        target: c.resolved ?? { cgroup: c.cgroupDir },
        container: {
          engine: c.engine,
          id: c.id,
          ...(c.name === undefined ? {} : { name: c.name }),
          pausedByEngine: c.pausedByEngine,
        },
      });
    }
    if (listed.length === 0) {
      fromFilter.push({
        label: '',
        target: '',
        error: new CgfreezeError(
          'ERR_CONTAINER_NOT_FOUND',
          `No running container matches --filter ${stringList(args.values, 'filter').join(' --filter ')}${unreadableNote(ropts)}`,
        ),
      });
    }
  }
  const all = [...fromRefs, ...fromPaths, ...fromFilter];
  if (all.length === 0) {
    throw usageError(
      command,
      `'cgfreeze ${command}' requires at least 1 CONTAINER argument, a --cgroup PATH or a --filter`,
    );
  }
  return all;
}
