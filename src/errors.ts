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
  'ERR_KERNEL_FORMAT',
  // Freeze and thaw outcomes.
  'ERR_FREEZE_TIMEOUT',
  'ERR_THAW_FAILED',
  'ERR_FROZEN_BY_ANCESTOR',
  'ERR_CGROUP_GONE',
  'ERR_CANCELED',
  'ERR_ATOMIC_ROLLBACK',
  'ERR_KILL_TIMEOUT',
  'ERR_WATCHDOG',
  'ABORT_ERR',
  // Container references.
  'ERR_CONTAINER_NOT_FOUND',
  'ERR_AMBIGUOUS_REF',
  'ERR_CONTAINER_NOT_RUNNING',
  'ERR_NO_DEDICATED_CGROUP',
  'ERR_CGROUP_MISMATCH',
  'ERR_STATE_FILE',
  'ERR_UNTRUSTED_SOURCE',
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
  // A system error whose errno Node cannot name, and a bug in cgfreeze itself.
  'ERR_SYSTEM',
  'ERR_INTERNAL',
] as const;

/**
 * The errno names a system error keeps as its code (Linux's, as Node names them). An errno Node cannot
 * name becomes `ERR_SYSTEM`; `errno` still says which.
 */
export const SYSTEM_ERROR_CODES = [
  'E2BIG',
  'EACCES',
  'EADDRINUSE',
  'EADDRNOTAVAIL',
  'EAFNOSUPPORT',
  'EAGAIN',
  'EALREADY',
  'EBADF',
  'EBADMSG',
  'EBUSY',
  'ECANCELED',
  'ECHILD',
  'ECONNABORTED',
  'ECONNREFUSED',
  'ECONNRESET',
  'EDEADLK',
  'EDESTADDRREQ',
  'EDOM',
  'EDQUOT',
  'EEXIST',
  'EFAULT',
  'EFBIG',
  'EHOSTUNREACH',
  'EIDRM',
  'EILSEQ',
  'EINPROGRESS',
  'EINTR',
  'EINVAL',
  'EIO',
  'EISCONN',
  'EISDIR',
  'ELOOP',
  'EMFILE',
  'EMLINK',
  'EMSGSIZE',
  'EMULTIHOP',
  'ENAMETOOLONG',
  'ENETDOWN',
  'ENETRESET',
  'ENETUNREACH',
  'ENFILE',
  'ENOBUFS',
  'ENODATA',
  'ENODEV',
  'ENOENT',
  'ENOEXEC',
  'ENOLCK',
  'ENOLINK',
  'ENOMEM',
  'ENOMSG',
  'ENOPROTOOPT',
  'ENOSPC',
  'ENOSR',
  'ENOSTR',
  'ENOSYS',
  'ENOTCONN',
  'ENOTDIR',
  'ENOTEMPTY',
  'ENOTSOCK',
  'ENOTSUP',
  'ENOTTY',
  'ENXIO',
  'EOPNOTSUPP',
  'EOVERFLOW',
  'EPERM',
  'EPIPE',
  'EPROTO',
  'EPROTONOSUPPORT',
  'EPROTOTYPE',
  'ERANGE',
  'EROFS',
  'ESPIPE',
  'ESRCH',
  'ESTALE',
  'ETIME',
  'ETIMEDOUT',
  'ETXTBSY',
  'EWOULDBLOCK',
  'EXDEV',
] as const;

export type SystemErrorCode = (typeof SYSTEM_ERROR_CODES)[number];

/** Every code a CgfreezeError can carry: cgfreeze's own (`ERR_…`, `ABORT_ERR`) and errno names. */
export type CgfreezeErrorCode = (typeof ERROR_CODES)[number] | SystemErrorCode;

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

/**
 * What the native core and node:fs throw for a failed system call: a plain Error with the positive
 * (native) or negative (node:fs) errno, the syscall and the path. The native core throws a plain Error
 * with a cgfreeze `code` for a condition that is not a failed call (a file that is not on a cgroup
 * filesystem, text it cannot read), and a TypeError for misuse of the raw binding, which is a bug.
 */
interface SystemCallError extends Error {
  errno: number;
  syscall?: string;
  path?: string;
}

function isSystemCallError(err: unknown): err is SystemCallError {
  return err instanceof Error && typeof (err as Partial<SystemCallError>).errno === 'number';
}

const SYSTEM_CODES: ReadonlySet<string> = new Set(SYSTEM_ERROR_CODES);
const OWN_CODES: ReadonlySet<string> = new Set(ERROR_CODES);

/** errno (either sign) → `ENOENT` etc.; an errno Node cannot name → `ERR_SYSTEM`. */
export function errnoName(errno: number): SystemErrorCode | 'ERR_SYSTEM' {
  let name: string;
  try {
    name = getSystemErrorName(-Math.abs(errno));
  } catch {
    return 'ERR_SYSTEM';
  }
  return SYSTEM_CODES.has(name) ? (name as SystemErrorCode) : 'ERR_SYSTEM';
}

/** The errno name of a system error thrown by the native core or node:fs; undefined for anything else. */
export function systemErrorName(err: unknown): SystemErrorCode | 'ERR_SYSTEM' | undefined {
  return isSystemCallError(err) ? errnoName(err.errno) : undefined;
}

/**
 * Turns anything the native core or node:fs threw into a CgfreezeError. ENODEV means the cgroup was
 * removed while we held it open. Anything that is neither a system error nor a CgfreezeError is a bug
 * in cgfreeze, and says so (`ERR_INTERNAL`): it is never reported as bad input.
 */
export function fromSystemError(err: unknown, target?: string): CgfreezeError {
  if (err instanceof CgfreezeError) return err;
  const where = target === undefined ? {} : { target };
  if (isSystemCallError(err)) {
    const name = errnoName(err.errno);
    const details: CgfreezeErrorDetails = {
      errno: Math.abs(err.errno),
      ...(typeof err.syscall === 'string' ? { syscall: err.syscall } : {}),
      ...(typeof err.path === 'string' ? { path: err.path } : {}),
      ...where,
      cause: err,
    };
    if (name === 'ENODEV') {
      return new CgfreezeError('ERR_CGROUP_GONE', `cgroup was removed: ${err.path ?? target ?? ''}`, details);
    }
    return new CgfreezeError(name, err.message, details);
  }
  const code = (err as { code?: unknown } | null)?.code;
  if (err instanceof Error && !(err instanceof TypeError) && typeof code === 'string' && OWN_CODES.has(code)) {
    const path = (err as { path?: unknown }).path;
    return new CgfreezeError(code as CgfreezeErrorCode, err.message, {
      ...(typeof path === 'string' ? { path } : {}),
      ...where,
      cause: err,
    });
  }
  const text = err instanceof Error ? err.message : String(err);
  return new CgfreezeError('ERR_INTERNAL', `internal error in cgfreeze (please report it): ${text}`, {
    ...where,
    cause: err,
  });
}

/** How a value reads in a message: strings quoted (and shortened), other values by their type. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? value.slice(0, 77) + '...' : value);
  return typeof value;
}
