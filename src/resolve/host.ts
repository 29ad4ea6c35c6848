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
} from 'node:fs';
import { posix } from 'node:path';
import { CgfreezeError } from '../errors.js';
import { type CgroupMount, cgroup2Mount, freezerV1Mount, parseMountinfo } from '../cgroup/mountinfo.js';
import { parseProcStat } from '../cgroup/proc.js';

const scratch = Buffer.allocUnsafe(64 * 1024);

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
    this.mounts = parseMountinfo(text);
    this.v1Freezer = freezerV1Mount(this.mounts);
    this.cgroup2 = cgroup2Mount(this.mounts);
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

  /** Names of subdirectories (symlinks are not followed), [] when the directory is missing or unreadable. */
  subdirs(hostDir: string): string[] {
    try {
      return readdirSync(this.path(hostDir), { withFileTypes: true })
        .filter((d) => d.isDirectory())
        .map((d) => d.name);
    } catch {
      return [];
    }
  }

  exists(hostPath: string): boolean {
    try {
      lstatSync(this.path(hostPath));
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Users whose runtime directory holds `/run/user/<uid>/<name>` (a rootless
   * engine's state), with their home directory from /etc/passwd.
   */
  rootlessUsers(name: string): Array<{ uid: string; home: string }> {
    const uids = this.subdirs('/run/user').filter((uid) => /^\d+$/.test(uid) && this.isDir(`/run/user/${uid}/${name}`));
    if (uids.length === 0) return [];
    let passwd: string | undefined;
    try {
      passwd = this.readState('/etc/passwd');
    } catch {
      return [];
    }
    const homes = new Map<string, string>();
    for (const line of (passwd ?? '').split('\n')) {
      const f = line.split(':');
      if (f[2] !== undefined && f[5]?.startsWith('/') === true && !homes.has(f[2])) homes.set(f[2], f[5]);
    }
    return uids.flatMap((uid) => {
      const home = homes.get(uid);
      return home === undefined ? [] : [{ uid, home }];
    });
  }

  isDir(hostPath: string): boolean {
    try {
      return lstatSync(this.path(hostPath)).isDirectory();
    } catch {
      return false;
    }
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
      fd = openSync(this.path(hostPath), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
      throw new CgfreezeError(
        'ERR_STATE_FILE',
        `cannot open state file ${hostPath}: ${code === 'ELOOP' ? 'it is a symbolic link' : String(code)}`,
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
      fd = openSync(this.path(hostPath), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
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

  /** Contents of /proc/<pid>/cgroup, undefined if the process is gone. */
  procCgroup(pid: number): string | undefined {
    try {
      return readFileSync(this.path(`/proc/${pid}/cgroup`), 'utf8');
    } catch {
      return undefined;
    }
  }
}
