import {
  type BigIntStats,
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  readSync,
  realpathSync,
  type Stats,
} from 'node:fs';
import { posix } from 'node:path';
import { CgfreezeError } from '../errors.js';
import { type CgroupMount, cgroup2Mount, freezerV1Mount, isUnder, parseMountinfo } from '../cgroup/mountinfo.js';
import { parseProcStat } from '../cgroup/proc.js';
import { readProcessIds } from '../cgroup/tasks.js';
import type { SourceTrust } from './candidate.js';

const scratch = Buffer.allocUnsafe(64 * 1024);
// libuv opens every file O_CLOEXEC itself.
/** The sticky bit (only an entry's owner may remove or rename it), as in /tmp. */
const S_ISVTX = 0o1000;
const DIR_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY;
/** Directories one scan may keep open (see Host.scanning): a bound on its fds, whatever the layout. */
const MAX_HELD_DIRS = 64;

/** Largest state file we read; real ones are a few KiB (config.v2.json with a big env can reach ~100 KiB). */
export const MAX_STATE_FILE = 4 * 1024 * 1024;

/** One version of a file: Docker rewrites its state by rename, so the inode changes too. */
export interface FileStamp {
  ino: number;
  size: number;
  mtimeSec: number;
  mtimeNsec: number;
}

export function stampOf(st: BigIntStats): FileStamp {
  return {
    ino: Number(st.ino),
    size: Number(st.size),
    mtimeSec: Number(st.mtimeNs / 1_000_000_000n),
    mtimeNsec: Number(st.mtimeNs % 1_000_000_000n),
  };
}

export function sameStamp(a: FileStamp | undefined, b: FileStamp | undefined): boolean {
  return (
    a !== undefined &&
    b !== undefined &&
    a.ino === b.ino &&
    a.size === b.size &&
    a.mtimeSec === b.mtimeSec &&
    a.mtimeNsec === b.mtimeNsec
  );
}

/**
 * The host as resolution sees it: every path is a host path, read under
 * `root` (the `hostRoot` option). Reads only.
 */
export class Host {
  readonly root: string;
  readonly mounts: CgroupMount[];
  /** The v1 freezer hierarchy (legacy and hybrid hosts). */
  readonly v1Freezer: CgroupMount | undefined;
  /** The cgroup2 hierarchy (unified hosts; `/sys/fs/cgroup/unified` on hybrid ones). */
  readonly cgroup2: CgroupMount | undefined;
  private realRoot: string | undefined;
  /** Directories engine state lives under: below them, no path component may be a symbolic link. */
  private readonly stateRoots: string[] = [];
  private readonly trustCache = new Map<string, SourceTrust>();
  /** During {@link scanning}: directories above state files, opened once for the whole scan, by host path. */
  private heldDirs: Map<string, number> | undefined;
  private users: Map<string, { name: string; home: string }> | undefined;

  constructor(hostRoot: string | undefined, mountinfo?: string) {
    const root = hostRoot === undefined || hostRoot === '' ? '/' : posix.normalize(hostRoot).replace(/(.)\/+$/, '$1');
    if (!root.startsWith('/')) throw new CgfreezeError('ERR_INVALID_ARG', `hostRoot must be absolute: ${hostRoot}`);
    this.root = root;
    const mountinfoPath = mountinfo ?? (root === '/' ? '/proc/self/mountinfo' : `${root}/proc/1/mountinfo`);
    let text: string;
    try {
      text = readFileSync(mountinfoPath, 'utf8');
    } catch (err) {
      throw new CgfreezeError('ERR_FREEZER_UNAVAILABLE', `cannot read ${mountinfoPath} to find the cgroup mounts`, {
        path: mountinfoPath,
        cause: err,
      });
    }
    this.mounts = parseMountinfo(text).map((m) => this.rootedAtHierarchy(m));
    this.v1Freezer = freezerV1Mount(this.mounts);
    this.cgroup2 = cgroup2Mount(this.mounts);
  }

  /**
   * In a cgroup namespace of its own, the kernel shows a cgroup mount's root relative to that namespace
   * (`/..`, `/../..`), so its real place is unknown from mountinfo. The hierarchy's root cgroup is the
   * only one without the files a freeze uses (they are not on the root), so a mount point that lacks
   * them shows the whole hierarchy: its root is `/`, as the engines that recorded the paths saw it.
   */
  private rootedAtHierarchy(mount: CgroupMount): CgroupMount {
    if (!mount.root.startsWith('/..')) return mount;
    const probe =
      mount.version === 2 ? 'cgroup.events' : mount.controllers.includes('freezer') ? 'freezer.state' : undefined;
    if (probe === undefined) return mount;
    const atRoot = lstatSync(this.path(`${mount.mountPoint}/${probe}`), { throwIfNoEntry: false }) === undefined;
    return atRoot && lstatSync(this.path(mount.mountPoint), { throwIfNoEntry: false })?.isDirectory() === true
      ? { ...mount, root: '/' }
      : mount;
  }

  /** The path under which `hostPath` is read. */
  path(hostPath: string): string {
    return this.root === '/' ? hostPath : this.root + hostPath;
  }

  /** realpath of the root itself, so cgroup directories can be checked for symlinks. */
  realRootPath(): string {
    this.realRoot ??= this.root === '/' ? '/' : realpathSync(this.root);
    return this.realRoot;
  }

  /**
   * Follows symlinks in a host directory path inside the host root (an
   * absolute link target restarts at the root, as it would on the host), so
   * `/var/run` → `/run` works under a hostRoot without ever leaving it.
   */
  resolveDir(hostPath: string): string {
    if (this.root === '/') return hostPath;
    const parts = hostPath.split('/').filter((p) => p !== '' && p !== '.');
    const done: string[] = [];
    let hops = 0;
    while (parts.length > 0) {
      const part = parts.shift() as string;
      if (part === '..') {
        done.pop();
        continue;
      }
      const candidate = '/' + [...done, part].join('/');
      let isLink: boolean;
      try {
        isLink = lstatSync(this.path(candidate)).isSymbolicLink();
      } catch {
        isLink = false;
      }
      if (!isLink) {
        done.push(part);
        continue;
      }
      if (++hops > 40) throw new CgfreezeError('ELOOP', `too many symbolic links in ${hostPath}`, { path: hostPath });
      const target = readlinkSync(this.path(candidate));
      if (target.startsWith('/')) done.length = 0;
      parts.unshift(...target.split('/').filter((p) => p !== '' && p !== '.'));
    }
    return '/' + done.join('/');
  }

  /**
   * Declares a directory that an engine keeps its state under. Every later read below it walks the
   * path one component at a time, each opened without following a symbolic link (through
   * /proc/self/fd of its parent, so nothing can be swapped in between), as the freezer's openat2 does
   * for cgroups. The root itself may be reached through links (`/var/run` → `/run`).
   */
  addStateRoot(hostDir: string): void {
    if (!this.stateRoots.includes(hostDir)) this.stateRoots.push(hostDir);
  }

  /** The longest state root that holds `hostPath`, if any. */
  private stateRootOf(hostPath: string): string | undefined {
    let best: string | undefined;
    for (const root of this.stateRoots) {
      if (isUnder(hostPath, root) && (best === undefined || root.length > best.length)) best = root;
    }
    return best;
  }

  /**
   * Runs `fn`, a synchronous scan of many state files, with the directories above them kept open until
   * it returns: the walk from a state root to `containers/` is made once, not once per file. The
   * directories are opened as every walk opens them, and closed at the end, also when `fn` throws.
   */
  scanning<T>(fn: () => T): T {
    if (this.heldDirs !== undefined) return fn();
    const held = new Map<string, number>();
    this.heldDirs = held;
    try {
      return fn();
    } finally {
      this.heldDirs = undefined;
      for (const fd of held.values()) closeSync(fd);
    }
  }

  /**
   * Opens the directory that holds `hostPath`'s last component and returns its fd (the caller closes
   * it) and that component. Below a state root, each directory on the way is opened with O_NOFOLLOW.
   * Throws the fs error (ENOENT, ENOTDIR, and ELOOP for a symbolic link on the way).
   */
  private openParent(hostPath: string): { dirFd: number; name: string } {
    const cut = hostPath.lastIndexOf('/');
    const name = hostPath.slice(cut + 1);
    const parent = hostPath.slice(0, cut) || '/';
    const root = this.stateRootOf(parent);
    if (root === undefined || name === '' || name === '.' || name === '..') {
      return { dirFd: openSync(this.path(parent), DIR_FLAGS), name };
    }
    const parts = parent
      .slice(root.length)
      .split('/')
      .filter((part) => part !== '');
    /** The directory `i` components below the state root. */
    const dirAt = (i: number): string => (i === 0 ? root : `${root}/${parts.slice(0, i).join('/')}`);
    const held = this.heldDirs;
    // The walk goes on from the deepest directory above the parent that this scan already holds, if any.
    let depth = held === undefined ? -1 : parts.length - 1;
    while (depth >= 0 && held?.has(dirAt(depth)) !== true) depth--;
    const kept = depth < 0 ? undefined : held?.get(dirAt(depth));
    let dirFd = kept ?? openSync(this.path(root), DIR_FLAGS);
    let owned = kept === undefined;
    try {
      for (depth = Math.max(depth, 0); depth < parts.length; depth++) {
        const part = parts[depth] as string;
        if (part === '.' || part === '..')
          throw Object.assign(new Error(`'${part}' in ${hostPath}`), { code: 'ELOOP' });
        // Kept for the scan: a directory above the parent (never the parent, which the caller closes).
        if (owned && held !== undefined && held.size < MAX_HELD_DIRS && !held.has(dirAt(depth))) {
          held.set(dirAt(depth), dirFd);
          owned = false;
        }
        const next = openSync(`/proc/self/fd/${dirFd}/${part}`, DIR_FLAGS | constants.O_NOFOLLOW);
        if (owned) closeSync(dirFd);
        dirFd = next;
        owned = true;
      }
    } catch (err) {
      if (owned) closeSync(dirFd);
      throw err;
    }
    // The walk above started at most at the parent's parent, so the parent's fd is always fresh: the caller's.
    return { dirFd, name };
  }

  /** open(2) of a state file: its last component never followed, and none below a state root. */
  openState(hostPath: string, flags: number): number {
    const { dirFd, name } = this.openParent(hostPath);
    try {
      return openSync(`/proc/self/fd/${dirFd}/${name}`, flags | constants.O_NOFOLLOW);
    } finally {
      closeSync(dirFd);
    }
  }

  /** lstat of a state path (confined as {@link openState}); undefined when it cannot be reached. */
  private lstatState(hostPath: string): Stats | undefined {
    let parent: { dirFd: number; name: string };
    try {
      parent = this.openParent(hostPath);
    } catch {
      return undefined;
    }
    try {
      return lstatSync(`/proc/self/fd/${parent.dirFd}/${parent.name}`, { throwIfNoEntry: false });
    } finally {
      closeSync(parent.dirFd);
    }
  }

  /**
   * Who could have written what lies under these directories: each directory on the path from `/` to
   * each of them (links followed as the engine would) must be owned by root and writable by root alone
   * (or sticky, like /tmp); the first one owned by a user makes it that user's, one writable by other
   * users makes it anyone's. A missing directory holds no state, so only its existing ancestors count.
   */
  trustOf(hostDirs: readonly string[], rootlessUid?: number): SourceTrust {
    // A rootless engine's state is its user's, wherever its configuration points.
    let verdict: SourceTrust =
      rootlessUid === undefined
        ? { kind: 'root' }
        : { kind: 'user', uid: rootlessUid, why: `rootless state of uid ${rootlessUid}` };
    for (const dir of hostDirs) {
      const found = this.dirTrust(dir);
      if (found.kind === 'anyone') return found;
      if (found.kind === 'user' && verdict.kind === 'root') verdict = found;
    }
    return verdict;
  }

  private dirTrust(hostDir: string): SourceTrust {
    const cached = this.trustCache.get(hostDir);
    if (cached !== undefined) return cached;
    let real: string;
    try {
      real = realpathSync(this.path(hostDir));
    } catch {
      // Not there (yet): its parent decides who could create it.
      const parent = posix.dirname(hostDir);
      return parent === hostDir ? { kind: 'root' } : this.dirTrust(parent);
    }
    const rootPrefix = this.realRootPath() === '/' ? '' : this.realRootPath();
    let verdict: SourceTrust = { kind: 'root' };
    let path = rootPrefix;
    for (const part of real.slice(rootPrefix.length).split('/')) {
      if (part !== '') path += `/${part}`;
      const st = lstatSync(path === '' ? '/' : path);
      const sticky = (st.mode & S_ISVTX) !== 0;
      const shown = path.slice(rootPrefix.length) || '/';
      if (!sticky && ((st.mode & 0o002) !== 0 || ((st.mode & 0o020) !== 0 && st.gid !== 0))) {
        verdict = { kind: 'anyone', why: `${shown} is writable by other users` };
        break;
      }
      if (st.uid !== 0) {
        verdict = { kind: 'user', uid: st.uid, why: `${shown} belongs to uid ${st.uid}` };
        break;
      }
    }
    this.trustCache.set(hostDir, verdict);
    return verdict;
  }

  /** The uid and subordinate uid ranges (/etc/subuid) of a user: the ids its rootless containers run as. */
  userIds(uid: number): (id: number) => boolean {
    const ranges: Array<[number, number]> = [];
    const name = this.passwd().get(String(uid))?.name;
    for (const line of this.systemLines('/etc/subuid')) {
      const [who, start, count] = line.split(':');
      if (who !== String(uid) && (name === undefined || who !== name)) continue;
      const first = Number(start);
      const n = Number(count);
      if (Number.isSafeInteger(first) && Number.isSafeInteger(n) && first > 0 && n > 0) ranges.push([first, first + n]);
    }
    return (id) => id === uid || ranges.some(([first, end]) => id >= first && id < end);
  }

  /** Owner uid of a host path (lstat), undefined when it is gone. */
  ownerOf(hostPath: string): number | undefined {
    return lstatSync(this.path(hostPath), { throwIfNoEntry: false })?.uid;
  }

  /** Names of subdirectories (symlinks are not followed), [] when the directory is missing or unreadable. */
  subdirs(hostDir: string): string[] {
    let fd: number;
    try {
      fd = this.openState(hostDir, DIR_FLAGS);
    } catch {
      return [];
    }
    try {
      return readdirSync(`/proc/self/fd/${fd}`, { withFileTypes: true })
        .filter((d) => d.isDirectory())
        .map((d) => d.name);
    } catch {
      return [];
    } finally {
      closeSync(fd);
    }
  }

  /**
   * Why this process may not list a state directory (`EACCES`, `EPERM`, `ELOOP`, …); undefined when it
   * can, or when the directory is not there (an engine that is not installed).
   */
  unreadableDir(hostDir: string): string | undefined {
    let fd: number;
    try {
      fd = this.openState(hostDir, DIR_FLAGS);
    } catch (err) {
      const code = String((err as { code?: unknown }).code);
      return code === 'ENOENT' || code === 'ENOTDIR' ? undefined : code;
    }
    closeSync(fd);
    return undefined;
  }

  exists(hostPath: string): boolean {
    return this.lstatState(hostPath) !== undefined;
  }

  /**
   * Users whose runtime directory holds `/run/user/<uid>/<name>` (a rootless
   * engine's state), with their home directory from /etc/passwd.
   */
  rootlessUsers(name: string): Array<{ uid: string; home: string }> {
    const uids = this.subdirs('/run/user').filter((uid) => /^\d+$/.test(uid) && this.isDir(`/run/user/${uid}/${name}`));
    if (uids.length === 0) return [];
    const users = this.passwd();
    return uids.flatMap((uid) => {
      const home = users.get(uid)?.home;
      return home === undefined ? [] : [{ uid, home }];
    });
  }

  /** The lines of a host's account file; none when it is missing or cannot be read (nobody is known then). */
  private systemLines(hostPath: string): string[] {
    try {
      return (this.readState(hostPath) ?? '').split('\n');
    } catch {
      return [];
    }
  }

  /** /etc/passwd by uid (the first entry wins), read once per scan. */
  private passwd(): Map<string, { name: string; home: string }> {
    if (this.users !== undefined) return this.users;
    const users = new Map<string, { name: string; home: string }>();
    for (const line of this.systemLines('/etc/passwd')) {
      const f = line.split(':');
      const [name, , uid, , , home] = f;
      if (name !== undefined && uid !== undefined && home?.startsWith('/') === true && !users.has(uid)) {
        users.set(uid, { name, home });
      }
    }
    this.users = users;
    return users;
  }

  isDir(hostPath: string): boolean {
    return this.lstatState(hostPath)?.isDirectory() === true;
  }

  /**
   * Reads a small regular state file. The last component must not be a
   * symlink, FIFOs and devices are refused without blocking, and the size is
   * capped, so a hostile file gives ERR_STATE_FILE instead of a hang or a crash.
   * Returns undefined when the file does not exist.
   */
  readState(hostPath: string, limit = MAX_STATE_FILE): string | undefined {
    return this.readStamped(hostPath, limit)?.text;
  }

  /** {@link readState}, with the stamp of the very version read (for a cache to notice the next rewrite). */
  readStamped(hostPath: string, limit = MAX_STATE_FILE): { text: string; stamp: FileStamp } | undefined {
    let fd: number;
    try {
      fd = this.openState(hostPath, constants.O_RDONLY | constants.O_NONBLOCK);
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
      throw new CgfreezeError(
        'ERR_STATE_FILE',
        `cannot open state file ${hostPath}: ${code === 'ELOOP' ? 'it, or a directory on its way, is a symbolic link' : String(code)}`,
        {
          path: hostPath,
          cause: err,
        },
      );
    }
    try {
      const st = fstatSync(fd, { bigint: true });
      if (!st.isFile())
        throw new CgfreezeError('ERR_STATE_FILE', `state file ${hostPath} is not a regular file`, { path: hostPath });
      if (st.size > BigInt(limit))
        throw new CgfreezeError('ERR_STATE_FILE', `state file ${hostPath} is too large (${st.size} bytes)`, {
          path: hostPath,
        });
      const buf = Buffer.allocUnsafe(Math.min(limit, Number(st.size)) + 1);
      let len = 0;
      for (;;) {
        const n = readSync(fd, buf, len, buf.length - len, null);
        if (n === 0) break;
        len += n;
        if (len >= buf.length)
          throw new CgfreezeError('ERR_STATE_FILE', `state file ${hostPath} grew while reading`, { path: hostPath });
      }
      return { text: buf.toString('utf8', 0, len), stamp: stampOf(st) };
    } catch (err) {
      if (err instanceof CgfreezeError) throw err;
      throw new CgfreezeError('ERR_STATE_FILE', `cannot read state file ${hostPath}`, { path: hostPath, cause: err });
    } finally {
      closeSync(fd);
    }
  }

  /**
   * The first `scratch.length` bytes of a file, for cheap pre-filters over
   * many files (3 syscalls, no allocation). Never blocks and never follows a
   * final symlink; '' when the file cannot be read. Not a validated read:
   * use readState for anything that is trusted.
   */
  peek(hostPath: string): string {
    let fd: number;
    try {
      fd = this.openState(hostPath, constants.O_RDONLY | constants.O_NONBLOCK);
    } catch {
      return '';
    }
    try {
      const n = readSync(fd, scratch, 0, scratch.length, 0);
      return scratch.toString('latin1', 0, n);
    } catch {
      return '';
    } finally {
      closeSync(fd);
    }
  }

  /** Reads and parses a JSON state file; undefined when missing. */
  readJson(hostPath: string, limit?: number): unknown {
    return this.readJsonStamped(hostPath, limit)?.value;
  }

  readJsonStamped(hostPath: string, limit?: number): { value: unknown; stamp: FileStamp } | undefined {
    const read = this.readStamped(hostPath, limit);
    if (read === undefined) return undefined;
    try {
      return { value: JSON.parse(read.text) as unknown, stamp: read.stamp };
    } catch (err) {
      throw new CgfreezeError('ERR_STATE_FILE', `state file ${hostPath} is not valid JSON`, {
        path: hostPath,
        cause: err,
      });
    }
  }

  /** A decimal pid file (`init.pid`, `pidfile`); 0 when missing or empty. */
  readPid(hostPath: string): number {
    const text = this.readState(hostPath, 64);
    if (text === undefined || text.trim() === '') return 0;
    const pid = Number(text.trim());
    if (!Number.isSafeInteger(pid) || pid <= 0 || pid > 0x3fffffff) {
      throw new CgfreezeError(
        'ERR_STATE_FILE',
        `pid file ${hostPath} does not hold a pid: ${JSON.stringify(text.slice(0, 40))}`,
        { path: hostPath },
      );
    }
    return pid;
  }

  /** Start time of a process in clock ticks since boot (/proc/<pid>/stat), undefined if it is gone. */
  startTime(pid: number): number | undefined {
    let stat: string;
    try {
      stat = readFileSync(this.path(`/proc/${pid}/stat`), 'utf8');
    } catch {
      return undefined;
    }
    return parseProcStat(stat)?.startTime;
  }

  /** The first process a cgroup directory lists in its cgroup.procs; 0 when it holds none (or is gone). */
  firstTask(cgroupDir: string): number {
    let pid: number | undefined;
    try {
      pid = readProcessIds(this.path(cgroupDir))[0];
    } catch {
      return 0;
    }
    return pid !== undefined && Number.isSafeInteger(pid) && pid > 0 ? pid : 0;
  }

  /** Contents of /proc/<pid>/cgroup, undefined if the process is gone. */
  procCgroup(pid: number): string | undefined {
    try {
      return readFileSync(this.path(`/proc/${pid}/cgroup`), 'utf8');
    } catch {
      return undefined;
    }
  }
}
