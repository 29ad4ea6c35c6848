// The sidecar's guard (assertNotProtected) on real cgroups: what it refuses by cgroup, by process, and
// when it cannot see. Processes are /bin/sleep copied under the names of host daemons.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmdirSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CgfreezeError, assertNotProtected } from '../../src/index.js';
import { REPO, ScratchCgroups, removeTemp, tempDir, until } from './helpers.js';
import { CGROUP2_MOUNT } from '../helpers/scratch.js';

const hex = (): string => randomBytes(32).toString('hex');

/** What the guard says of `target`: 'passed', or the code and message it refused with. */
function verdict(target: { cgroupDir: string; kind?: string }): string {
  try {
    assertNotProtected(target);
    return 'passed';
  } catch (err) {
    if (!(err instanceof CgfreezeError)) throw err;
    return `${err.code}: ${err.message}`;
  }
}

describe('the guard: cgroups the sidecar never freezes (real cgroups)', () => {
  const cg = new ScratchCgroups();
  const tmp = tempDir();
  /** A child cgroup whose one task runs /bin/sleep under the name `comm`, once it does (after its exec). */
  const running = async (leaf: string, comm: string): Promise<string> => {
    const file = join(tmp, comm);
    if (!existsSync(file)) copyFileSync('/bin/sleep', file);
    const dir = await cg.make(2, leaf, file);
    const pid = readFileSync(`${dir}/cgroup.procs`, 'utf8').trim();
    await until(`${comm} in ${dir}`, () => readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === comm.slice(0, 15));
    return dir;
  };
  let base: string;

  beforeAll(() => {
    chmodSync(tmp, 0o755);
    base = `${CGROUP2_MOUNT}/${cg.name}`;
  });
  afterAll(async () => {
    await cg.cleanup();
    removeTemp(tmp);
  });

  it("refuses a host's systemd unit, whatever its processes call themselves", async () => {
    await cg.make(2, 'web.service');
    expect(verdict({ cgroupDir: `${base}/web.service` })).toMatch(/holds web\.service, a unit of the host's systemd/);
    // A slice is refused for what it holds: a session, a socket, an engine's monitor.
    await cg.make(2, 'user-1000.slice');
    await cg.make(2, 'user-1000.slice/session-4.scope');
    expect(verdict({ cgroupDir: `${base}/user-1000.slice` })).toMatch(/holds session-4\.scope/);
    await cg.make(2, 'pods.slice');
    await cg.make(2, `pods.slice/crio-conmon-${hex()}.scope`);
    expect(verdict({ cgroupDir: `${base}/pods.slice` })).toMatch(/crio-conmon-\w+\.scope, a unit/);
  });

  it('refuses host daemons by name outside containers, and lets a container run what it likes', async () => {
    const plain = await running('plain', 'sshd');
    expect(verdict({ cgroupDir: plain })).toMatch(/^ERR_PROTECTED_CGROUP: .*it holds sshd \(pid \d+\)$/);
    for (const comm of ['systemd-journald', 'containerd-shim-runc-v2', 'kubelite', 'k3s-agent', 'dbus-daemon']) {
      const dir = await running(`plain-${comm}`, comm);
      expect(verdict({ cgroupDir: dir })).toMatch(/^ERR_PROTECTED_CGROUP: /);
    }
    // The same names inside a container's own cgroup, by the engines' layouts: its own business.
    const scope = await running(`docker-${hex()}.scope`, 'systemd');
    await running(`${scope.slice(base.length + 1)}/init.scope`, 'sshd');
    expect(verdict({ cgroupDir: scope })).toBe('passed');
    const pod = await cg.make(2, 'kubepods-burstable-pod0c1d2e3f_4a5b_6c7d_8e9f_0a1b2c3d4e5f.slice');
    await running(`${pod.slice(base.length + 1)}/cri-containerd-${hex()}.scope`, 'dockerd');
    expect(verdict({ cgroupDir: pod })).toBe('passed');
    // A resolve() result of a container is a container whatever its cgroup is called.
    expect(verdict({ cgroupDir: plain, kind: 'container' })).toBe('passed');
    expect(verdict({ cgroupDir: plain, kind: 'cgroup' })).toMatch(/holds sshd/);
  });

  it("refuses a container's cgroup that holds the engine's plumbing", async () => {
    const scope = await cg.make(2, `libpod-${hex()}.scope`);
    await running(`${scope.slice(base.length + 1)}/monitor`, 'conmon');
    expect(verdict({ cgroupDir: scope })).toMatch(/it holds conmon \(pid \d+\)/);
    const shim = await running(hex(), 'containerd-shim-runc-v2');
    expect(verdict({ cgroupDir: shim, kind: 'container' })).toMatch(/it holds containerd-shim/);
  });

  it('refuses the cgroups that hold this process, and every cgroup above them', async () => {
    const self = await cg.make(2, 'self-parent');
    const inner = await cg.make(2, 'self-parent/inner');
    const home = /^0::(.*)$/m.exec(readFileSync('/proc/self/cgroup', 'utf8'))?.[1] ?? '/';
    writeFileSync(`${inner}/cgroup.procs`, String(process.pid));
    try {
      expect(verdict({ cgroupDir: inner, kind: 'container' })).toMatch(/it holds this process/);
      expect(verdict({ cgroupDir: self })).toMatch(/it holds this process .*\(in .*\/inner\)$/);
    } finally {
      writeFileSync(`${CGROUP2_MOUNT}${home === '/' ? '' : home}/cgroup.procs`, String(process.pid));
    }
  });

  it('fails closed: a threaded cgroup, whose processes it cannot list, is refused', async () => {
    const domain = await cg.make(2, 'threads');
    mkdirSync(`${domain}/inner`);
    try {
      writeFileSync(`${domain}/inner/cgroup.type`, 'threaded');
      expect(verdict({ cgroupDir: domain })).toMatch(
        /cannot read its processes \((?:EOPNOTSUPP|ENOTSUP)\) \(in .*\/inner\)$/,
      );
    } finally {
      rmdirSync(`${domain}/inner`);
    }
  });

  describe('fails closed where it cannot see (a separate process)', () => {
    // The built library, copied where uid 65534 can read it: the checkout itself may sit in a private directory.
    let built = '';
    beforeAll(() => {
      built = tempDir(0o755);
      cpSync(join(REPO, 'dist'), join(built, 'dist'), { recursive: true });
    });
    afterAll(() => removeTemp(built));

    /** Runs the built guard on `dir` in a child under `wrapper` (setpriv, unshare) and prints its verdict. */
    const inChild = (wrapper: string[], dir: string): string => {
      const script = `
        const { assertNotProtected } = require(${JSON.stringify(join(built, 'dist/index.js'))});
        try { assertNotProtected({ cgroupDir: ${JSON.stringify(dir)} }); console.log('passed'); }
        catch (e) { console.log(e.code + ': ' + e.message); }`;
      const argv = [...wrapper, process.execPath, '-e', script];
      return execFileSync(argv[0] as string, argv.slice(1), { encoding: 'utf8' }).trim();
    };

    it('refuses a subtree it may not read (another uid)', async () => {
      const dir = await cg.make(2, 'private');
      chmodSync(dir, 0o700);
      const asNobody = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];
      expect(inChild(asNobody, dir)).toMatch(/^ERR_PROTECTED_CGROUP: .*cannot read its processes \(EACCES\)$/);
      chmodSync(dir, 0o755);
      expect(inChild(asNobody, dir)).toBe('passed');
    });

    it('refuses processes it cannot see: from a PID namespace of its own, cgroup.procs shows 0', async () => {
      const dir = await cg.make(2, 'pidns');
      expect(spawnSync('unshare', ['--version']).status).toBe(0);
      expect(inChild(['unshare', '--pid', '--fork', '--mount-proc'], dir)).toMatch(
        /it holds a process outside this PID namespace/,
      );
      expect(inChild([], dir)).toBe('passed');
    });
  });
});
