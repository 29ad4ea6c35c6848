import { readFileSync } from 'node:fs';

/** One cgroup or cgroup2 mount, from /proc/self/mountinfo. */
export interface CgroupMount {
  /** Where it is mounted, e.g. `/sys/fs/cgroup/freezer`. */
  mountPoint: string;
  /** The hierarchy path shown at the mount point (`/` unless bind-mounted or namespaced). */
  root: string;
  version: 1 | 2;
  /** v1: the controllers of the hierarchy (`freezer`, `name=systemd`, …); v2: empty. */
  controllers: string[];
}

/** mountinfo escapes space, tab, newline and backslash as octal. */
function unescapeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/**
 * Parses mountinfo text (proc(5)) into cgroup mounts. Mounts hidden by a later
 * mount on the same mount point are dropped: only the topmost one is visible.
 */
export function parseMountinfo(text: string): CgroupMount[] {
  const byMountPoint = new Map<string, CgroupMount | null>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const pre = line.slice(0, sep).split(' ');
    const post = line.slice(sep + 3).split(' ');
    const root = pre[3];
    const mountPointRaw = pre[4];
    const fsType = post[0];
    const superOptions = post[2] ?? '';
    if (root === undefined || mountPointRaw === undefined || fsType === undefined) continue;
    const mountPoint = unescapeMountField(mountPointRaw);
    // Any later mount over the same point hides what was there.
    byMountPoint.delete(mountPoint);
    if (fsType === 'cgroup2') {
      byMountPoint.set(mountPoint, { mountPoint, root: unescapeMountField(root), version: 2, controllers: [] });
    } else if (fsType === 'cgroup') {
      const controllers = superOptions
        .split(',')
        .filter((opt) => opt !== 'rw' && opt !== 'ro' && !opt.startsWith('release_agent=') && opt !== 'clone_children');
      byMountPoint.set(mountPoint, { mountPoint, root: unescapeMountField(root), version: 1, controllers });
    } else {
      byMountPoint.set(mountPoint, null);
    }
  }
  const mounts: CgroupMount[] = [];
  for (const mount of byMountPoint.values()) {
    if (mount !== null && !isHidden(mount.mountPoint, byMountPoint)) mounts.push(mount);
  }
  return mounts;
}

/** A mount is hidden when anything is mounted over one of its ancestors afterwards. */
function isHidden(mountPoint: string, all: Map<string, CgroupMount | null>): boolean {
  let seenSelf = false;
  for (const point of all.keys()) {
    if (point === mountPoint) {
      seenSelf = true;
      continue;
    }
    if (seenSelf && isUnder(mountPoint, point)) return true;
  }
  return false;
}

/** True when `path` equals `dir` or lies below it (both normalized, absolute). */
export function isUnder(path: string, dir: string): boolean {
  if (dir === '/') return path.startsWith('/');
  return path === dir || path.startsWith(dir + '/');
}

let cachedText: string | undefined;
let cachedMounts: CgroupMount[] = [];

/** The cgroup mounts this process sees. Re-reads mountinfo each call; parsing is cached per content. */
export function cgroupMounts(mountinfoPath = '/proc/self/mountinfo'): CgroupMount[] {
  const text = readFileSync(mountinfoPath, 'utf8');
  if (text !== cachedText) {
    cachedText = text;
    cachedMounts = parseMountinfo(text);
  }
  return cachedMounts;
}

/** The mount that holds `dir` (longest mount point that is a prefix), if any. */
export function mountFor(dir: string, mounts: CgroupMount[]): CgroupMount | undefined {
  let best: CgroupMount | undefined;
  for (const mount of mounts) {
    if (isUnder(dir, mount.mountPoint) && (best === undefined || mount.mountPoint.length > best.mountPoint.length)) {
      best = mount;
    }
  }
  return best;
}

/** The mount of the v1 freezer hierarchy, if one is mounted. */
export function freezerV1Mount(mounts: CgroupMount[]): CgroupMount | undefined {
  return mounts.find((m) => m.version === 1 && m.controllers.includes('freezer'));
}

/** The cgroup2 mount, if one is mounted (the shortest mount point wins when there are several). */
export function cgroup2Mount(mounts: CgroupMount[]): CgroupMount | undefined {
  return mounts.filter((m) => m.version === 2).sort((a, b) => a.mountPoint.length - b.mountPoint.length)[0];
}

/**
 * Maps a hierarchy path (as in /proc/<pid>/cgroup) to a directory under the
 * mount, or undefined when the path lies outside what the mount shows.
 */
export function hierarchyPathToDir(mount: CgroupMount, hierarchyPath: string): string | undefined {
  if (!isUnder(hierarchyPath, mount.root)) return undefined;
  const rest = mount.root === '/' ? hierarchyPath : hierarchyPath.slice(mount.root.length);
  if (rest === '' || rest === '/') return mount.mountPoint;
  return mount.mountPoint === '/' ? rest : mount.mountPoint + rest;
}

/** Maps a directory under the mount back to its hierarchy path. */
export function dirToHierarchyPath(mount: CgroupMount, dir: string): string {
  const rest = mount.mountPoint === '/' ? dir : dir.slice(mount.mountPoint.length);
  if (rest === '' || rest === '/') return mount.root;
  return mount.root === '/' ? rest : mount.root + rest;
}

/** Where the freezers are mounted, as this process sees them: the v1 freezer hierarchy and cgroup2. */
export interface FreezerMounts {
  v1?: string;
  v2?: string;
}

export function freezerMounts(mounts: CgroupMount[] = cgroupMounts()): FreezerMounts {
  const v1 = freezerV1Mount(mounts)?.mountPoint;
  const v2 = cgroup2Mount(mounts)?.mountPoint;
  return { ...(v1 === undefined ? {} : { v1 }), ...(v2 === undefined ? {} : { v2 }) };
}
