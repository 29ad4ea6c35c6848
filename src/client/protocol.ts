/**
 * The sidecar's wire format (HTTP/JSON), shared by `cgfreeze serve` and the
 * client: its types, errors on the wire, and the duration grammar of `ttl`
 * (which the CLI's durations share). Loads nothing but the error class.
 */
import { CgfreezeError, type CgfreezeErrorCode } from '../errors.js';

const DURATION_UNIT_MS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** Longer text is no duration anyone means; the bound keeps the scan short. */
const MAX_DURATION_TEXT = 64;

/**
 * cgfreeze's one duration grammar, Go's and docker's: `30s`, `1m30s`, `250ms`, `1.5h` (units `ns`, `us`,
 * `µs`, `ms`, `s`, `m`, `h`); a bare number is seconds, as in `docker stop --time 10`. Returns
 * milliseconds, or undefined for anything else (empty, signed, spaced, unknown units). Whether 0 is
 * allowed is for the user of the value to say.
 */
export function parseDuration(text: unknown): number | undefined {
  if (typeof text !== 'string' || text === '' || text.length > MAX_DURATION_TEXT) return undefined;
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text) * 1000;
  const part = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/y;
  let total = 0;
  while (part.lastIndex < text.length) {
    const match = part.exec(text);
    if (match === null) return undefined;
    total += Number(match[1]) * (DURATION_UNIT_MS[match[2] ?? ''] ?? NaN);
  }
  return Number.isFinite(total) ? total : undefined;
}

export type WireState = 'thawed' | 'freezing' | 'frozen';

/** An error as the sidecar sends it; the client rebuilds a CgfreezeError from it. */
export interface WireError {
  code: string;
  message: string;
  target?: string;
  ancestor?: string;
  candidates?: string[];
}

/**
 * A CgfreezeError as the sidecar sends it. A bug (ERR_INTERNAL, or anything that is no CgfreezeError) is
 * sent without its details, which are for the sidecar's log.
 */
export function toWireError(err: unknown): WireError {
  if (!(err instanceof CgfreezeError) || err.code === 'ERR_INTERNAL') {
    const target = err instanceof CgfreezeError && err.target !== undefined ? { target: err.target } : {};
    return { code: 'ERR_INTERNAL', message: 'internal error in cgfreeze serve (please report it)', ...target };
  }
  return {
    code: err.code,
    message: err.message,
    ...(err.target !== undefined ? { target: err.target } : {}),
    ...(err.ancestor !== undefined ? { ancestor: err.ancestor } : {}),
    ...(err.candidates !== undefined ? { candidates: err.candidates } : {}),
  };
}

/** Rebuilds the sidecar's error with its stable code. */
export function errorFromWire(wire: WireError, status: number): CgfreezeError {
  const code = (typeof wire.code === 'string' && wire.code !== '' ? wire.code : 'ERR_SIDECAR') as CgfreezeErrorCode;
  return new CgfreezeError(code, `${wire.message} (HTTP ${status})`, {
    ...(wire.target !== undefined ? { target: wire.target } : {}),
    ...(wire.ancestor !== undefined ? { ancestor: wire.ancestor } : {}),
    ...(wire.candidates !== undefined ? { candidates: wire.candidates } : {}),
  });
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
  /** Lease length as a duration (see parseDuration): `30s`, `1m30s`, `500ms`, `1h`. Pausing again renews it. */
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
