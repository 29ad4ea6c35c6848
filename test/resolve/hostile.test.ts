import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CgfreezeError } from '../../src/errors.js';
import { clearResolveCache, listSync, resolveSync } from '../../src/index.js';
import { FakeHost, containerdTask, dockerContainer, hexId } from '../fixtures/hosts/fake-host.js';

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CgfreezeError);
    return (err as CgfreezeError).code;
  }
  return 'resolved';
}

const id = (i: number): string => hexId((0x100 + i).toString(16), 100 + i);
const [OK, BAD_JSON, HUGE, CLIMB, LINKED, FIFO, REUSED, ELSEWHERE, PRIVATE_NS, WRONG_ID, CGLINK, RELCLIMB] = [
  0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11,
].map(id) as [string, string, string, string, string, string, string, string, string, string, string, string];

describe('hostile and broken state files give an error for that container only', () => {
  let h: FakeHost;
  const resolve = (ref: string) => resolveSync(ref, { hostRoot: h.root, cache: false });

  beforeAll(() => {
    h = new FakeHost('unified');
    // data-root reached through an absolute symlink, which must resolve inside hostRoot.
    h.symlink('/var/lib/docker', '/data/docker');
    const d = { dataRoot: '/data/docker' };
    dockerContainer(h, { ...d, id: OK, name: 'ok', pid: 7001 });
    dockerContainer(h, { ...d, id: BAD_JSON, name: 'bad-json', pid: 7002 });
    h.file(
      `/data/docker/containers/${BAD_JSON}/config.v2.json`,
      '{"ID":"' + BAD_JSON + '","Name":"/bad-json","State":{',
    );
    dockerContainer(h, { ...d, id: HUGE, name: 'huge', pid: 7003 });
    h.file(`/data/docker/containers/${HUGE}/config.v2.json`, Buffer.alloc(5 * 1024 * 1024, 0x20));
    dockerContainer(h, { ...d, id: CLIMB, name: 'climb', pid: 7004 });
    h.json(`/var/run/docker/runtime-runc/moby/${CLIMB}/state.json`, {
      init_process_pid: 7004,
      init_process_start: 70040,
      cgroup_paths: { '': '/sys/fs/cgroup/docker/../../../etc' },
    });
    dockerContainer(h, { ...d, id: LINKED, name: 'linked', pid: 7005 });
    h.file(
      `/data/other-config.json`,
      JSON.stringify({ ID: LINKED, Name: '/linked', State: { Running: true, Pid: 7005 } }),
    );
    execFileSync('rm', [`${h.root}/data/docker/containers/${LINKED}/config.v2.json`]);
    h.symlink(`/data/docker/containers/${LINKED}/config.v2.json`, `${h.root}/data/other-config.json`);
    dockerContainer(h, { ...d, id: FIFO, name: 'fifo', pid: 7006 });
    execFileSync('rm', [`${h.root}/var/run/docker/runtime-runc/moby/${FIFO}/state.json`]);
    execFileSync('mkfifo', [`${h.root}/var/run/docker/runtime-runc/moby/${FIFO}/state.json`]);
    dockerContainer(h, { ...d, id: REUSED, name: 'reused', pid: 7007, startTime: 70070 });
    h.proc(7007, 99999, `/docker/${REUSED}`);
    dockerContainer(h, { ...d, id: ELSEWHERE, name: 'elsewhere', pid: 7008, procCgroup: '/system.slice/sshd.service' });
    dockerContainer(h, {
      ...d,
      id: PRIVATE_NS,
      name: 'private-ns',
      pid: 7009,
      noRuntimeState: true,
      procCgroup: `/../${PRIVATE_NS}`,
    });
    dockerContainer(h, { ...d, id: WRONG_ID, name: 'wrong-id', pid: 7010 });
    h.json(`/data/docker/containers/${WRONG_ID}/config.v2.json`, {
      ID: OK,
      Name: '/wrong-id',
      State: { Running: true, Pid: 7010 },
    });
    // The cgroup directory is a symlink to a directory outside the mount.
    dockerContainer(h, {
      ...d,
      id: CGLINK,
      name: 'cglink',
      pid: 7011,
      cgroup: null,
      noRuntimeState: true,
      procCgroup: `/docker/${CGLINK}`,
    });
    h.file('/outside/cgroup.freeze', '0\n').file('/outside/cgroup.events', 'frozen 0\n');
    h.symlink(`/sys/fs/cgroup/docker/${CGLINK}`, `${h.root}/outside`);
    dockerContainer(h, { ...d, id: RELCLIMB, name: 'relclimb', pid: 7012 });
    h.json(`/var/run/docker/runtime-runc/moby/${RELCLIMB}/state.json`, {
      init_process_pid: 7012,
      cgroup_paths: { '': '/sys/fs/cgroup/../../proc' },
    });
    // A symlinked container directory is not a container.
    h.symlink(`/data/docker/containers/${hexId('fff0', 1)}`, `${h.root}/data/docker/containers/${OK}`);
    // containerd: garbage pid file, and a conmon-like process with no runtime state.
    containerdTask(h, { ns: 'cgfr', id: 'garbage-pid', pid: 7101, cgroup: '/cgfr/garbage-pid' });
    h.file('/run/containerd/io.containerd.runtime.v2.task/cgfr/garbage-pid/init.pid', '12abc');
  });
  afterAll(() => h.remove());

  it('a healthy neighbour still resolves through a data-root symlink', () => {
    expect(resolve('ok').cgroupDir).toBe(`/sys/fs/cgroup/docker/${OK}`);
  });
  it.each([
    ['bad JSON', BAD_JSON, 'ERR_STATE_FILE'],
    ['a 5 MiB file', HUGE, 'ERR_STATE_FILE'],
    ['a cgroup path climbing out with ..', CLIMB, 'ERR_STATE_FILE'],
    ['a cgroup path climbing out of the mount', RELCLIMB, 'ERR_STATE_FILE'],
    ['a config that is a symlink', LINKED, 'ERR_STATE_FILE'],
    ['a FIFO as state.json (no hang)', FIFO, 'ERR_STATE_FILE'],
    ['a reused pid (start time differs)', REUSED, 'ERR_CONTAINER_NOT_RUNNING'],
    ['an init pid in another cgroup', ELSEWHERE, 'ERR_CGROUP_MISMATCH'],
    ['a cgroup outside our cgroup namespace', PRIVATE_NS, 'ERR_CGROUP_MISMATCH'],
    ['a config naming another ID', WRONG_ID, 'ERR_STATE_FILE'],
    ['a cgroup directory that is a symlink', CGLINK, 'ERR_CGROUP_MISMATCH'],
    ['a garbage init.pid', 'containerd://cgfr/garbage-pid', 'ERR_STATE_FILE'],
  ])('%s → %s', (_what, ref, code) => {
    expect(codeOf(() => resolve(ref))).toBe(code);
  });
  it('a symlinked container directory is not enumerated', () => {
    expect(codeOf(() => resolve('fff0'))).toBe('ERR_CONTAINER_NOT_FOUND');
  });
  it('a scan keeps no directory open once it returns or throws', () => {
    const open = (): number => readdirSync('/proc/self/fd').length;
    const before = open();
    // By name, every config is peeked through the directories the scan holds; a miss scans all and throws.
    expect(resolve('ok').id).toBe(OK);
    expect(codeOf(() => resolve('no-such-name'))).toBe('ERR_CONTAINER_NOT_FOUND');
    expect(listSync({ hostRoot: h.root, cache: false }).length).toBeGreaterThan(10);
    expect(open()).toBe(before);
  });
  it('list reports every broken container with an error and keeps going', () => {
    clearResolveCache();
    const all = listSync({ hostRoot: h.root });
    const byId = new Map(all.map((c) => [c.id, c]));
    expect(byId.get(OK)?.running).toBe(true);
    for (const id of [BAD_JSON, HUGE, CLIMB, LINKED, FIFO, WRONG_ID])
      expect(byId.get(id)?.error?.code).toBe('ERR_STATE_FILE');
  });
});

describe('cgroup namespace and conmon guards', () => {
  let h: FakeHost;
  beforeAll(() => {
    h = new FakeHost('hybrid');
    // Podman-style process in a conmon cgroup, no runtime state: nothing names the container.
    dockerContainer(h, {
      id: hexId('aaaa', 1),
      name: 'in-conmon',
      pid: 8001,
      cgroup: null,
      noRuntimeState: true,
      procCgroup: `/libpod_parent/conmon`,
    });
  });
  afterAll(() => h.remove());
  it('refuses a process whose cgroup does not name the container', () => {
    expect(codeOf(() => resolveSync('in-conmon', { hostRoot: h.root, cache: false }))).toBe('ERR_NO_DEDICATED_CGROUP');
  });
});
