import { describe, expect, it } from 'vitest';
import {
  cgroup2Mount,
  dirToHierarchyPath,
  freezerV1Mount,
  hierarchyPathToDir,
  mountFor,
  parseMountinfo,
} from '../../src/cgroup/mountinfo.js';

// Lines as this machine (hybrid v1 + unified) prints them.
const HYBRID = `22 1 253:0 / / rw,relatime - ext4 /dev/vda rw
30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 30 0:33 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
39 30 0:36 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`;

describe('parseMountinfo', () => {
  it('finds every cgroup hierarchy of a hybrid host with its controllers', () => {
    const mounts = parseMountinfo(HYBRID);
    expect(mounts.map((m) => m.mountPoint).sort()).toEqual([
      '/sys/fs/cgroup/cpu',
      '/sys/fs/cgroup/freezer',
      '/sys/fs/cgroup/memory',
      '/sys/fs/cgroup/systemd',
      '/sys/fs/cgroup/unified',
    ]);
    expect(freezerV1Mount(mounts)).toMatchObject({
      mountPoint: '/sys/fs/cgroup/freezer',
      version: 1,
      controllers: ['freezer'],
    });
    expect(cgroup2Mount(mounts)).toMatchObject({ mountPoint: '/sys/fs/cgroup/unified', version: 2 });
    expect(mounts.find((m) => m.mountPoint.endsWith('systemd'))?.controllers).toEqual(['name=systemd']);
  });

  it('hides the v1 mounts when cgroup2 is later mounted over /sys/fs/cgroup', () => {
    const mounts = parseMountinfo(`${HYBRID}90 22 0:37 / /sys/fs/cgroup rw,relatime - cgroup2 cgroup2 rw\n`);
    expect(mounts).toEqual([{ mountPoint: '/sys/fs/cgroup', root: '/', version: 2, controllers: [] }]);
  });

  it('unescapes octal escapes in mount points and keeps a namespaced root', () => {
    const mounts = parseMountinfo('50 22 0:37 /docker/abc /mnt/with\\040space rw - cgroup2 cgroup2 rw\n');
    expect(mounts).toEqual([{ mountPoint: '/mnt/with space', root: '/docker/abc', version: 2, controllers: [] }]);
  });

  it('ignores malformed lines', () => {
    expect(parseMountinfo('garbage\n\n1 2 3\n - \n')).toEqual([]);
  });
});

describe('path mapping', () => {
  const mounts = parseMountinfo(HYBRID);
  it('picks the longest mount point holding a directory', () => {
    expect(mountFor('/sys/fs/cgroup/freezer/docker/x', mounts)?.mountPoint).toBe('/sys/fs/cgroup/freezer');
    expect(mountFor('/sys/fs/cgroup/freezerx/y', mounts)).toBeUndefined();
    expect(mountFor('/etc', mounts)).toBeUndefined();
  });

  it('maps hierarchy paths to directories and back, through a namespaced root', () => {
    const nested = { mountPoint: '/sys/fs/cgroup', root: '/docker/abc', version: 2 as const, controllers: [] };
    expect(hierarchyPathToDir(nested, '/docker/abc/sub')).toBe('/sys/fs/cgroup/sub');
    expect(hierarchyPathToDir(nested, '/docker/abc')).toBe('/sys/fs/cgroup');
    expect(hierarchyPathToDir(nested, '/docker/other')).toBeUndefined();
    expect(dirToHierarchyPath(nested, '/sys/fs/cgroup/sub')).toBe('/docker/abc/sub');
    const freezer = freezerV1Mount(mounts);
    if (freezer === undefined) throw new Error('no freezer mount parsed');
    expect(hierarchyPathToDir(freezer, '/docker/x')).toBe('/sys/fs/cgroup/freezer/docker/x');
    expect(dirToHierarchyPath(freezer, '/sys/fs/cgroup/freezer')).toBe('/');
  });
});
