import { dirname } from 'node:path';
import { loadAddon } from './addon-loader.js';

/**
 * The open freezer files of one cgroup (native/cgroup_handle.cc). A failed system call throws an Error
 * with the real `errno`, `syscall` and `path`; a finding that is not a failed call (not a cgroup
 * filesystem) throws an Error with a cgfreeze `code` and `path`. Reads return the kernel's text
 * unparsed: src/cgroup/freezer-files.ts is the one parser.
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
  /** v1: the text of freezer.state; v2: the text of cgroup.events. */
  readState(): string;
  /** v1: freezer.self_freezing; v2: cgroup.freeze. */
  readSelf(): string;
  /** v1 only: freezer.parent_freezing. */
  readParentFreezing(): string;
  /** v2 only: writes 1 to cgroup.kill; false when the kernel has no cgroup.kill (before 5.14). */
  writeKill(): boolean;
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
  /** getsockopt(SO_PEERGROUPS) on a connected unix socket fd: the peer's supplementary groups. */
  peerGroups(fd: number): number[];
  readonly abiVersion: number;
}

const EXPECTED_ABI = 5;
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
