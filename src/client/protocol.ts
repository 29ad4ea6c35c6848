/**
 * The sidecar's wire format (HTTP/JSON), shared by `cgfreeze serve` and the
 * client. Types only: importing this module loads nothing.
 */

export type WireState = 'thawed' | 'freezing' | 'frozen';

/** An error as the sidecar sends it; the client rebuilds a CgfreezeError from it. */
export interface WireError {
  code: string;
  message: string;
  target?: string;
  ancestor?: string;
  candidates?: string[];
}

/** A lease on a pause: the sidecar thaws the target at `expiresAt` unless renewed. */
export interface WireLease {
  /** ISO time; null for a pause without TTL (it stays until unpaused). */
  expiresAt: string | null;
  /** Who took it, from the peer credentials (unix socket) or `tcp`. */
  owner: string;
}

export interface PauseBody {
  /** One reference or cgroup path, or several (then `atomic` applies). */
  target?: string;
  targets?: string[];
  /** Lease length such as `30s`, `500ms`, `5m`, `1h`. Pausing again renews it. */
  ttl?: string;
  /** All or nothing for several targets: on failure the ones already frozen are thawed. */
  atomic?: boolean;
  /** How long to wait for the freeze to settle (the sidecar caps it). */
  timeoutMs?: number;
}

export interface UnpauseBody {
  target?: string;
  targets?: string[];
  timeoutMs?: number;
}

export type WireResult =
  | {
      target: string;
      ok: true;
      cgroupDir: string;
      version: 'v1' | 'v2';
      state: WireState;
      elapsedMs: number;
      lease: WireLease | null;
    }
  | { target: string; ok: false; error: WireError };

export interface OperationResponse {
  ok: boolean;
  results: WireResult[];
}

/** What the sidecar knows about a container (or a bare cgroup given by path). */
export interface WireContainer {
  target: string;
  cgroupDir: string;
  id?: string;
  name?: string;
  engine?: string;
  labels: Record<string, string>;
  state: WireState;
  lease: WireLease | null;
}

export interface StatusResponse extends WireContainer {
  version: 'v1' | 'v2';
  /** This cgroup itself asked to be frozen. */
  self: boolean;
  /** An ancestor keeps it frozen. */
  byAncestor: boolean;
  ancestor?: string;
}

export interface ListResponse {
  items: WireContainer[];
}

/** Filters for GET /v1/list; every given filter must match. */
export interface ListFilter {
  /** Glob on the name (or the cgroup path for bare cgroups): `*` and `?`. */
  name?: string;
  /** `key` or `key=value`; several are ANDed. */
  label?: string[];
  state?: WireState;
  engine?: string;
  /** Only targets this sidecar holds paused (with or without a lease). */
  leased?: boolean;
}

export interface HealthResponse {
  ok: true;
  uptimeMs: number;
  leases: number;
}
