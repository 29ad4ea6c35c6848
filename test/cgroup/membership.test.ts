import { describe, expect, it } from 'vitest';
import { entryForMount, parseProcCgroup, selfAndAncestors } from '../../src/cgroup/membership.js';

const PROC_CGROUP = `9:name=systemd:/
6:freezer:/docker/abc
4:memory:/process_api/0b3e
1:cpu,cpuacct:/x
0::/docker/abc
`;

describe('/proc/<pid>/cgroup', () => {
  it('parses each hierarchy line', () => {
    const entries = parseProcCgroup(PROC_CGROUP);
    expect(entries).toHaveLength(5);
    expect(entries[3]).toEqual({ hierarchyId: 1, controllers: ['cpu', 'cpuacct'], path: '/x' });
    expect(entries[4]).toEqual({ hierarchyId: 0, controllers: [], path: '/docker/abc' });
  });

  it('matches a line to its mount by controller, and the v2 line by id 0', () => {
    const entries = parseProcCgroup(PROC_CGROUP);
    const freezer = { mountPoint: '/sys/fs/cgroup/freezer', root: '/', version: 1 as const, controllers: ['freezer'] };
    const unified = { mountPoint: '/sys/fs/cgroup/unified', root: '/', version: 2 as const, controllers: [] };
    expect(entryForMount(entries, freezer)?.path).toBe('/docker/abc');
    expect(entryForMount(entries, unified)?.path).toBe('/docker/abc');
    expect(entryForMount(entries, { ...freezer, controllers: ['pids'] })).toBeUndefined();
  });

  it('keeps paths that contain colons', () => {
    expect(parseProcCgroup('6:freezer:/x.slice:p:n\n')[0]?.path).toBe('/x.slice:p:n');
  });

  it('walks from this process up to pid 1', () => {
    const chain = selfAndAncestors();
    expect(chain[0]).toBe(process.pid);
    expect(chain[1]).toBe(process.ppid);
    expect(chain.at(-1)).toBe(1);
  });
});
