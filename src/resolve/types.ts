import type { MemoryUsage } from '../cgroup/resources.js';
import type { CgfreezeError } from '../errors.js';

export type Engine = 'docker' | 'containerd' | 'podman' | 'cri-o';
export const ENGINES: readonly Engine[] = ['docker', 'containerd', 'podman', 'cri-o'];

/** A Docker daemon's directories (`--data-root`, `--exec-root`). */
export interface DockerRoots {
  dataRoot: string;
  /** Default `/var/run/docker`; holds `runtime-runc/<ns>/<id>/state.json`. */
  execRoot?: string;
  /** containerd namespace of this daemon's tasks; default `moby`. */
  namespace?: string;
}

/** A containerd instance's `state` directory (holds `io.containerd.runtime.v2.task/<ns>/<id>`). */
export interface ContainerdRoots {
  state: string;
  /** The CRI plugin's root (`<root>/io.containerd.grpc.v1.cri`), for exited Kubernetes attempts. */
  criRoot?: string;
  /** runc/crun roots to try when a bundle's options.json names none; default `/run/containerd/runc`. */
  runtimeRoots?: string[];
}

/** A containers/storage instance shared by Podman and CRI-O. */
export interface StorageRoots {
  graphRoot: string;
  runRoot: string;
  /** OCI runtime state roots; default `/run/runc`, `/run/crun`. */
  runtimeRoots?: string[];
}

/** Roots found without the caller naming them; a rootless engine's carry its user's uid. */
export type Discovered<T> = T & { rootlessUid?: number };

/** Every key of {@link ResolveOptions}. */
export const RESOLVE_OPTION_KEYS = [
  'hostRoot',
  'engines',
  'docker',
  'containerd',
  'storage',
  'mountinfo',
  'cache',
] as const;

export interface ResolveOptions {
  /** Prefix for every path read (host filesystem seen under e.g. `/host`). Results are host paths without it. */
  hostRoot?: string;
  /** Only search these engines (default: all). */
  engines?: Engine[];
  /** Docker daemons; default from `/etc/docker/daemon.json`, the defaults, and rootless daemons under `/run/user`. */
  docker?: DockerRoots[];
  /** containerd instances; default `/run/containerd`, k3s and microk8s state dirs that exist. */
  containerd?: ContainerdRoots[];
  /** Podman/CRI-O storage; default from `/etc/containers/storage.conf` or the rootful defaults. */
  storage?: StorageRoots[];
  /** mountinfo to map cgroup paths; default `/proc/self/mountinfo`, or `<hostRoot>/proc/1/mountinfo` with a hostRoot. */
  mountinfo?: string;
  /** Use and fill the per-process cache of resolved references (default true). */
  cache?: boolean;
}

export interface K8sIdentity {
  namespace: string;
  pod: string;
  container?: string;
  podUid?: string;
}

/**
 * The health of a container with a health check, as its engine records it after every probe (Docker
 * `State.Health` in config.v2.json, Podman `healthcheck.log` next to its run directory).
 */
export type HealthStatus = 'starting' | 'healthy' | 'unhealthy';

interface ResolvedCommon {
  /** The reference or cgroup path as given. */
  ref: string;
  /** Host path of the cgroup directory, without hostRoot. */
  cgroupDir: string;
  /** Host path of the file a freeze writes (`freezer.state` or `cgroup.freeze`). */
  freezeFile: string;
  cgroupVersion: 'v1' | 'v2';
  /**
   * `dev:ino` of the cgroup directory when it was resolved. Handed to freeze or thaw, the cgroup must
   * still be this directory: one recreated under the same path (a restarted container) is refused.
   */
  cgroupIdentity: string;
  /** The container's labels (Kubernetes pods: the sandbox's); none for a bare cgroup. */
  labels: Record<string, string>;
  /** The engine itself paused it (Docker `State.Paused`); thawing behind its back wedges `docker unpause`. */
  pausedByEngine: boolean;
}

/** A container (or a Kubernetes pod) found in an engine's state on disk. */
export interface ResolvedContainer extends ResolvedCommon {
  kind: 'container' | 'pod';
  engine: Engine;
  id: string;
  name?: string;
  k8s?: K8sIdentity;
  initPid: number;
  /** The engine's recorded health (Docker, Podman), for a container with a health check. */
  health?: HealthStatus;
}

/** A cgroup directory given by path. */
export interface ResolvedCgroup extends ResolvedCommon {
  kind: 'cgroup';
}

/**
 * Where a target's cgroup is, resolved once. freeze, thaw, state and kill take it as a target: they do
 * not resolve again, they check that the cgroup is still the same directory (`cgroupIdentity`), and a
 * thaw refuses one that `pausedByEngine` says its engine paused. It is a snapshot: pass the reference
 * string instead to have the engine's state checked again at every call.
 */
export type Resolved = ResolvedContainer | ResolvedCgroup;

/** What a container is doing: `paused` when its cgroup is frozen (by anyone) or its engine paused it. */
export type ContainerStatus = 'running' | 'paused';

/**
 * Memory use against a size (`bytes`) or against the container's own limit (`percent`, 0-100). A
 * container whose memory cannot be read never matches; one without a limit never matches a `percent`.
 */
export type MemoryCondition = { op: '<' | '>'; bytes: number } | { op: '<' | '>'; percent: number };

/**
 * Which containers list() returns. Every key given must match (AND across keys, as docker's filters);
 * within `label` and `memory` every entry must match, within `status` any one. parseContainerFilter()
 * reads the same from docker-style `--filter` strings.
 */
export interface ContainerFilter {
  /** `key=value` or `key` (any value); every entry must match. */
  label?: string | string[];
  engine?: Engine;
  /** Only containers with a live init process. */
  running?: boolean;
  /** Running containers in one of these states. */
  status?: ContainerStatus | ContainerStatus[];
  memory?: MemoryCondition | MemoryCondition[];
}

export interface ListOptions extends ResolveOptions {
  filter?: ContainerFilter;
}

export interface ListedContainer {
  engine: Engine;
  id: string;
  name?: string;
  k8s?: K8sIdentity & { type: 'container' | 'sandbox' };
  labels: Record<string, string>;
  running: boolean;
  pausedByEngine: boolean;
  /** Present when the cgroup was resolved. */
  cgroupDir?: string;
  cgroupVersion?: 'v1' | 'v2';
  /** Present when it is running and its cgroup was found: a target for freeze, thaw, state and kill. */
  resolved?: ResolvedContainer;
  /** Freezer state of the cgroup when it could be read. */
  freezer?: 'thawed' | 'freezing' | 'frozen';
  /** Memory use and limit of its cgroup, when it runs and a memory controller accounts it. */
  memory?: MemoryUsage;
  /** CPU time its tasks used, in µs, when it runs and it could be read. */
  cpuTimeUs?: number;
  /** Why it could not be resolved (not running, broken state file, …). */
  error?: CgfreezeError;
}
