import { type ResolveOptions, type UnreadableState, unreadableEngineState } from '../index.js';
import { type OptionSpecs, type ParsedValues, stringList, stringValue, usageError } from './args.js';

/**
 * Where the engines keep their state, for daemons started with non-default
 * roots. Without these flags the resolver reads the engines' defaults.
 */
export const ENGINE_OPTIONS: OptionSpecs = {
  'host-root': {
    type: 'string',
    arg: 'DIR',
    help: 'The host filesystem is mounted at DIR (running in a sidecar container)',
  },
  'docker-root': {
    type: 'string',
    multiple: true,
    arg: 'DIR',
    help: "A Docker data root (default: daemon.json's data-root, /var/lib/docker)",
  },
  'docker-exec-root': {
    type: 'string',
    multiple: true,
    arg: 'DIR',
    help: 'The exec root of the matching --docker-root (default /var/run/docker)',
  },
  'containerd-state': {
    type: 'string',
    multiple: true,
    arg: 'DIR',
    help: 'A containerd state directory (default /run/containerd)',
  },
  'runtime-root': {
    type: 'string',
    multiple: true,
    arg: 'DIR',
    help: 'A runc/crun root of containerd tasks (default /run/containerd/runc)',
  },
  'podman-root': {
    type: 'string',
    multiple: true,
    arg: 'DIR',
    help: 'A containers/storage graph root, as podman --root',
  },
  'podman-runroot': {
    type: 'string',
    multiple: true,
    arg: 'DIR',
    help: 'The run root of the matching --podman-root, as podman --runroot',
  },
  mountinfo: {
    type: 'string',
    arg: 'FILE',
    help: "The mountinfo that maps cgroup paths (default /proc/self/mountinfo, or the host's PID 1's under --host-root)",
  },
};

export function hostRootOf(values: ParsedValues): { hostRoot?: string } {
  const hostRoot = stringValue(values, 'host-root');
  return hostRoot === undefined ? {} : { hostRoot };
}

/** Pairs `--x-root` with `--x-exec-root` by position, as a daemon's two directories. */
function paired(
  command: string,
  first: string[],
  second: string[],
  names: [string, string],
): Array<[string, string | undefined]> {
  if (second.length > first.length) throw usageError(command, `each --${names[1]} needs a --${names[0]} before it`);
  return first.map((dir, i) => [dir, second[i]]);
}

export function resolveOptionsOf(command: string, values: ParsedValues): ResolveOptions {
  const opts: ResolveOptions = { ...hostRootOf(values) };
  const mountinfo = stringValue(values, 'mountinfo');
  if (mountinfo !== undefined) opts.mountinfo = mountinfo;
  const docker = paired(command, stringList(values, 'docker-root'), stringList(values, 'docker-exec-root'), [
    'docker-root',
    'docker-exec-root',
  ]);
  if (docker.length > 0)
    opts.docker = docker.map(([dataRoot, execRoot]) =>
      execRoot === undefined ? { dataRoot } : { dataRoot, execRoot },
    );
  const runtimeRoots = stringList(values, 'runtime-root');
  const states = stringList(values, 'containerd-state');
  if (runtimeRoots.length > 0 && states.length === 0)
    throw usageError(command, '--runtime-root needs a --containerd-state');
  if (states.length > 0)
    opts.containerd = states.map((state) => (runtimeRoots.length > 0 ? { state, runtimeRoots } : { state }));
  const storage = paired(command, stringList(values, 'podman-root'), stringList(values, 'podman-runroot'), [
    'podman-root',
    'podman-runroot',
  ]);
  if (storage.length > 0) {
    opts.storage = storage.map(([graphRoot, runRoot]) => {
      if (runRoot === undefined) throw usageError(command, '--podman-root needs a matching --podman-runroot');
      return { graphRoot, runRoot };
    });
  }
  return opts;
}

/** `docker (/var/lib/docker/containers: EACCES)`: engine state this process may not read, for a message. */
export function describeUnreadable(u: UnreadableState): string {
  return `${u.engines.join('/')} (${u.path}: ${u.code})`;
}

/** What a listing as this user misses, as a clause for a message; '' when it misses nothing. */
export function unreadableNote(ropts: ResolveOptions): string {
  const missing = unreadableEngineState(ropts);
  if (missing.length === 0) return '';
  return `; cannot read the state of ${missing.map(describeUnreadable).join(', ')}: run cgfreeze as root`;
}
