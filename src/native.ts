import { dirname } from 'node:path';
import { loadAddon } from './addon-loader.js';

/** Raw states returned by {@link NativeCgroupHandle.readState}. */
export const RAW_THAWED = 0;
export const RAW_FREEZING = 1;
export const RAW_FROZEN = 2;
export type RawState = typeof RAW_THAWED | typeof RAW_FREEZING | typeof RAW_FROZEN;

/**
 * The open freezer files of one cgroup (native/cgroup_handle.cc). Every
 * method throws an Error carrying `errno`, `syscall` and `path` on failure.
 */
export interface NativeCgroupHandle {
  /** 1 for the v1 freezer controller, 2 for cgroup2. */
  readonly version: 1 | 2;
  /** `st_dev:st_ino` of the cgroup directory, to tell a recreated cgroup apart. */
  readonly identity: string;
  readonly path: string;
  readonly closed: boolean;
  /** v1: FROZEN/THAWED to freezer.state; v2: 1/0 to cgroup.freeze. */
  writeState(frozen: boolean): void;
  /** v1: freezer.state; v2: the `frozen` key of cgroup.events (0 or 2, never 1). */
  readState(): RawState;
  /** v1: freezer.self_freezing; v2: cgroup.freeze. */
  readSelf(): boolean;
  /** v1 only: freezer.parent_freezing. */
  readParentFreezing(): boolean;
  /**
   * Blocks up to `timeoutUs`. v2: wakes early when cgroup.events signals a
   * change (POLLPRI) and returns true; v1: a plain sleep, returns false.
   */
  wait(timeoutUs: number): boolean;
  /** v2 only: calls `callback` on the event loop whenever cgroup.events changes. */
  watch(callback: () => void): void;
  unwatch(): void;
  close(): void;
}

/** The kernel's record of who is at the other end of a unix socket (SO_PEERCRED). */
export interface PeerCredentials {
  pid: number;
  uid: number;
  gid: number;
}

export interface NativeBinding {
  CgroupHandle: new (mountPoint: string, relativePath: string) => NativeCgroupHandle;
  /** getsockopt(SO_PEERCRED) on a connected unix socket fd. */
  peerCred(fd: number): PeerCredentials;
  /**
   * pread(2) of up to 64 bytes at offset 0; returns the count. On a held
   * /proc/<pid>/ file it fails (ESRCH) once that process is gone.
   */
  readProbe(fd: number): number;
  /**
   * fstatat(2) of `name` in the open directory `dirFd`, symlinks not followed:
   * fills `out` with [ino, mtime s, mtime ns, size]; false if it does not exist.
   */
  statAt(dirFd: number, name: string, out: Float64Array): boolean;
  readonly abiVersion: number;
}

const EXPECTED_ABI = 3;
let cached: NativeBinding | undefined;

/** The package root, where `build/Release/cgfreeze.node` lives. */
export const packageRoot = dirname(__dirname);

/**
 * Loads the addon once. Resolution never needs it; only freezing does, so the
 * loader runs on first use and a broken build fails with a remedy, not at import.
 */
export function loadNative(): NativeBinding {
  cached ??= loadAddon(packageRoot, EXPECTED_ABI) as NativeBinding;
  return cached;
}
