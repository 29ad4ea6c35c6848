import type { CgfreezeError } from '../errors.js';
import { isRecord } from '../json.js';
import type { FileStamp } from './host.js';
import type { Engine, HealthStatus, K8sIdentity } from './types.js';

/** One container as an engine's on-disk state describes it. */
export interface Candidate {
  engine: Engine;
  /** Which daemon/namespace it belongs to, for messages and list output. */
  instance: string;
  id: string;
  /** containerd namespace. */
  namespace?: string;
  /** Names without Docker's leading '/'. */
  names: string[];
  labels: Record<string, string>;
  k8s?: K8sIdentity & { type: 'container' | 'sandbox'; sandboxId?: string };
  /** The engine records it as running (a pid file or State.Running); liveness is checked separately. */
  running: boolean;
  pausedByEngine: boolean;
  /** The engine's recorded health (Docker, Podman), for a container with a health check. */
  health?: HealthStatus;
  /** Init pid from the engine's state, 0 when none. */
  pid: number;
  /** OCI runtime state directories to try (runc `state.json` or crun `status` inside). */
  runtimeDirs: string[];
  /** A file whose change invalidates a cached resolution (Docker's config.v2.json), and the version read. */
  stateFile?: { path: string; stamp: FileStamp };
  /** Set when this container's state files are broken; resolving it throws this. */
  error?: CgfreezeError;
  /** The trust of the source it came from (set by the scan). */
  trust?: SourceTrust;
  /** The source's label, for messages. */
  source?: string;
}

/**
 * Who could have written a source's state: only root, or one unprivileged user (rootless engines, or
 * any state under a directory that user owns), or any user (a directory on the way is writable by
 * others). Untrusted state may only ever name that user's own cgroups.
 */
export type SourceTrust =
  { kind: 'root' } | { kind: 'user'; uid: number; why: string } | { kind: 'anyone'; why: string };

/** An entry of an engine's container listing: cheap (a directory or index read), loaded on demand. */
export interface Entry {
  id: string;
  /** Unique within the source (namespace/id for containerd). */
  key: string;
}

/** The containers of one engine instance. */
export interface Source {
  readonly label: string;
  /** The engines whose containers it holds. */
  readonly engines: readonly Engine[];
  /** Who could have written this source's state (see {@link SourceTrust}). */
  readonly trust: SourceTrust;
  /** Every container the instance knows, running or not. */
  entries(): Entry[];
  /** The directories entries() lists: one this process may not read leaves the listing incomplete. */
  listingDirs(): string[];
  /** Keys of entries whose name is exactly `name`. */
  byName(name: string): string[];
  /** Full record of one entry; undefined when it is not a container of a handled engine. */
  load(key: string): Candidate | undefined;
}

/** `{ "Status": "healthy", … }`: how Docker (`State.Health`) and Podman (`healthcheck.log`) record health. */
export function healthOf(record: unknown): { health?: HealthStatus } {
  const status = isRecord(record) ? record['Status'] : undefined;
  return status === 'starting' || status === 'healthy' || status === 'unhealthy' ? { health: status } : {};
}

/** The annotation names one engine uses for a pod member's Kubernetes identity. */
export interface K8sAnnotationKeys {
  type: string;
  namespace: string;
  pod: string;
  container: string;
  podUid: string;
  sandboxId: string;
}

/** The Kubernetes identity in a container's annotations, if it is a pod member or sandbox. */
export function k8sFromAnnotations(annotations: Record<string, string>, keys: K8sAnnotationKeys): Candidate['k8s'] {
  const type = annotations[keys.type];
  const namespace = annotations[keys.namespace];
  const pod = annotations[keys.pod];
  if ((type !== 'container' && type !== 'sandbox') || namespace === undefined || pod === undefined) return undefined;
  const container = annotations[keys.container];
  const podUid = annotations[keys.podUid];
  const sandboxId = annotations[keys.sandboxId];
  return {
    type,
    namespace,
    pod,
    ...(type === 'container' && container !== undefined ? { container } : {}),
    ...(podUid !== undefined ? { podUid } : {}),
    ...(sandboxId !== undefined ? { sandboxId } : {}),
  };
}
