import { getSystemErrorName } from 'node:util';

/**
 * Every stable error code cgfreeze throws. System errors keep their errno
 * name (`ENOENT`, `EACCES`, …); cgfreeze's own conditions start with `ERR_`.
 * The README documents each one; codes are never renamed once released.
 */
export const ERROR_CODES = [
  // Bad arguments and targets.
  'ERR_INVALID_ARG',
  'ERR_NOT_A_CGROUP',
  'ERR_ROOT_CGROUP',
  'ERR_SELF_FREEZE',
  'ERR_FREEZER_UNAVAILABLE',
  // Freeze and thaw outcomes.
  'ERR_FREEZE_TIMEOUT',
  'ERR_THAW_FAILED',
  'ERR_FROZEN_BY_ANCESTOR',
  'ERR_CGROUP_GONE',
  'ERR_CANCELED',
  'ERR_ATOMIC_ROLLBACK',
  'ERR_KILL_TIMEOUT',
  'ABORT_ERR',
  // Container references.
  'ERR_CONTAINER_NOT_FOUND',
  'ERR_AMBIGUOUS_REF',
  'ERR_CONTAINER_NOT_RUNNING',
  'ERR_NO_DEDICATED_CGROUP',
  'ERR_CGROUP_MISMATCH',
  'ERR_STATE_FILE',
  // Docker's pause/unpause refusals, as the CLI reports them.
  'ERR_ALREADY_PAUSED',
  'ERR_NOT_PAUSED',
  'ERR_PAUSED_BY_ENGINE',
  'ERR_HEALTH_TIMEOUT',
  // Installation.
  'ERR_NATIVE_LOAD',
  // The sidecar (cgfreeze serve) and its client.
  'ERR_POLICY_DENIED',
  'ERR_UNAUTHENTICATED',
  'ERR_PROTECTED_CGROUP',
  'ERR_BODY_TOO_LARGE',
  'ERR_BUSY',
  'ERR_SIDECAR',
] as const;

export type CgfreezeErrorCode = (typeof ERROR_CODES)[number] | SystemErrorCode;

/** An errno name such as `ENOENT`, `EACCES`, `EPERM`, `EBUSY`. */
export type SystemErrorCode = `E${Uppercase<string>}`;

/** A task that kept a freeze from completing: it was not parked in the freezer. */
export interface Culprit {
  pid: number;
  /** Thread id when it differs from pid. */
  tid: number;
  /** Command name from /proc/<tid>/comm. */
  comm: string;
  /** State letter from /proc/<tid>/stat (`R`, `S`, `D`, …). */
  state: string;
  /** Kernel function the task waits in, from /proc/<tid>/wchan (`` when unknown). */
  wchan: string;
}

export interface CgfreezeErrorDetails {
  errno?: number;
  syscall?: string;
  path?: string;
  target?: string;
  /** ERR_FROZEN_BY_ANCESTOR: the frozen ancestor cgroup directory. */
  ancestor?: string;
  /** ERR_FREEZE_TIMEOUT / ERR_THAW_FAILED: the tasks that did not park. */
  culprits?: Culprit[];
  /** ERR_FREEZE_TIMEOUT: whether the rollback to thawed was confirmed. */
  rolledBack?: boolean;
  /** ERR_AMBIGUOUS_REF: the matching candidates. */
  candidates?: string[];
  /** ERR_ATOMIC_ROLLBACK: the targets that failed, each with its own error. */
  failures?: Array<{ target: string; error: CgfreezeError }>;
  cause?: unknown;
}

/** The one error class cgfreeze throws. Switch on `code`, never on `message`. */
export class CgfreezeError extends Error {
  override readonly name = 'CgfreezeError';
  readonly code: CgfreezeErrorCode;
  /** Positive errno value for system errors (Node's SystemError uses the negative). */
  declare readonly errno?: number;
  declare readonly syscall?: string;
  declare readonly path?: string;
  declare readonly target?: string;
  declare readonly ancestor?: string;
  declare readonly culprits?: Culprit[];
  declare readonly rolledBack?: boolean;
  declare readonly candidates?: string[];
  declare readonly failures?: Array<{ target: string; error: CgfreezeError }>;

  constructor(code: CgfreezeErrorCode, message: string, details: CgfreezeErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    const { cause: _cause, ...rest } = details;
    for (const [key, value] of Object.entries(rest)) {
      if (value !== undefined) Object.defineProperty(this, key, { value, enumerable: true });
    }
  }
}

/** The shape the native core throws: errno, syscall and path on a plain Error. */
interface NativeSystemError extends Error {
  errno: number;
  syscall: string;
  path: string;
}

export function isNativeSystemError(err: unknown): err is NativeSystemError {
  return (
    err instanceof Error &&
    typeof (err as Partial<NativeSystemError>).errno === 'number' &&
    typeof (err as Partial<NativeSystemError>).syscall === 'string'
  );
}

/** errno → `ENOENT` etc.; unknown numbers become `E<number>`-free `EUNKNOWN`. */
export function errnoName(errno: number): SystemErrorCode {
  try {
    return getSystemErrorName(-Math.abs(errno)) as SystemErrorCode;
  } catch {
    return 'EUNKNOWN';
  }
}

/**
 * Converts anything thrown by the native core or by node:fs into a
 * CgfreezeError. ENODEV means the cgroup was removed while we held it open.
 */
export function fromSystemError(err: unknown, target?: string): CgfreezeError {
  if (err instanceof CgfreezeError) return err;
  const sys = err as Partial<NativeSystemError> & { code?: unknown };
  if (err instanceof Error && typeof sys.errno === 'number') {
    const errno = Math.abs(sys.errno);
    const name = errnoName(errno);
    const details: CgfreezeErrorDetails = {
      errno,
      ...(typeof sys.syscall === 'string' ? { syscall: sys.syscall } : {}),
      ...(typeof sys.path === 'string' ? { path: sys.path } : {}),
      ...(target === undefined ? {} : { target }),
      cause: err,
    };
    if (name === 'ENODEV') {
      return new CgfreezeError('ERR_CGROUP_GONE', `cgroup was removed: ${sys.path ?? target ?? ''}`, details);
    }
    return new CgfreezeError(name, err.message, details);
  }
  return new CgfreezeError('ERR_INVALID_ARG', String(err instanceof Error ? err.message : err), {
    ...(target === undefined ? {} : { target }),
    cause: err,
  });
}
