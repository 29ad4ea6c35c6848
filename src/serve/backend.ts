import type { CgfreezeError } from '../errors.js';
import type { WireState } from '../client/protocol.js';
import type { PolicySubject } from './policy.js';

/** A target as the sidecar decides on it: where its cgroup is and what the policy matches. */
export interface TargetInfo extends PolicySubject {
  /** The reference or path as the caller wrote it. */
  target: string;
  id?: string;
  /** The engine paused it itself (Docker State.Paused): thawing behind its back would wedge its unpause. */
  pausedByEngine?: boolean;
}

export interface Settled {
  cgroupDir: string;
  version: 'v1' | 'v2';
  state: WireState;
  elapsedMs: number;
}

export type Outcome = { ok: true; result: Settled } | { ok: false; error: CgfreezeError };

export interface TargetStatus {
  cgroupDir: string;
  version: 'v1' | 'v2';
  state: WireState;
  self: boolean;
  byAncestor: boolean;
  ancestor?: string;
}

/**
 * What the server needs from the rest of cgfreeze. Targets reach the freezer
 * as cgroup directories the server already resolved and authorized, so the
 * decision and the action are about the same cgroup.
 */
export interface Backend {
  /** Throws a CgfreezeError (ERR_CONTAINER_NOT_FOUND, ERR_NOT_A_CGROUP, …). */
  resolve(target: string): TargetInfo;
  /** Running containers the engines know of. */
  list(): TargetInfo[];
  /** One outcome per directory, in order. With `atomic`, all frozen or none. */
  freeze(cgroupDirs: string[], opts: { atomic: boolean; timeoutMs: number }): Promise<Outcome[]>;
  thaw(cgroupDirs: string[], opts: { timeoutMs: number }): Promise<Outcome[]>;
  status(cgroupDir: string): TargetStatus;
}
