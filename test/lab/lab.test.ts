// Proves the lab: real engines in both layouts, their containers' cgroups as the helper reports them,
// engine pause/unpause seen in the kernel's freezer files, and a teardown that leaves nothing.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { pidAlive } from '../../scripts/workload/index.js';
import {
  type Lab,
  type LabContainer,
  type LabMode,
  getLab,
  kernelFreezerState,
  labScript,
  makeLab,
  ensureLab,
  readProgress,
} from '../helpers/lab.js';

// getLab brings the shared labs up when needed; only the global setup's teardown brings them down
// (a test file must not: other files may be using them).

const MODES: LabMode[] = ['host', 'v2'];
// engines on a loaded 2-core machine take seconds per container; these bound hangs, they check no speed
const ENGINE_TIMEOUT = 180_000;
const LIFECYCLE_TIMEOUT = 600_000;

function cli(argv: string[], env: NodeJS.ProcessEnv = process.env): string {
  const [file, ...args] = argv;
  if (file === undefined) throw new Error('empty argv');
  return execFileSync(file, args, { encoding: 'utf8', env });
}

function dockerCli(lab: Lab): string[] {
  return [lab.env.docker.cli, '-H', lab.env.docker.host];
}
function ctrCli(lab: Lab, ns: string): string[] {
  return ['ctr', '-a', lab.env.containerd.socket, '-n', ns];
}
function podmanCli(lab: Lab): string[] {
  const p = lab.env.podman;
  return [...lab.env.nsenter, 'podman', '--root', p.root, '--runroot', p.runroot, '--tmpdir', p.tmpdir];
}
const podmanEnv = (lab: Lab): NodeJS.ProcessEnv => ({ ...process.env, CONTAINERS_CONF: lab.env.podman.conf });

async function until(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** What the kernel says about the container's own freezer, and (host) that the other one is untouched. */
function expectKernel(c: LabContainer, state: 'frozen' | 'thawed'): void {
  expect(kernelFreezerState(c.cgroupDir)).toBe(state);
  if (c.unifiedDir !== undefined) {
    // hybrid: engines freeze through the v1 freezer only; the cgroup2 twin stays thawed
    expect(readFileSync(join(c.unifiedDir, 'cgroup.freeze'), 'utf8').trim()).toBe('0');
  }
}

async function expectLayout(lab: Lab, c: LabContainer): Promise<void> {
  expect(c.pid).toBeGreaterThan(1);
  expect(existsSync(c.cgroupDir)).toBe(true);
  expect(readFileSync(join(c.cgroupDir, 'cgroup.procs'), 'utf8').split('\n')).toContain(String(c.pid));
  if (lab.mode === 'host') {
    expect(c.version).toBe('v1');
    expect(c.cgroupDir).toBe(`/sys/fs/cgroup/freezer${c.cgroupPath}`);
    expect(existsSync(c.freezeFile)).toBe(true);
  } else {
    expect(c.version).toBe('v2');
    expect(c.cgroupDir).toBe(`/sys/fs/cgroup/unified${c.cgroupPath}`);
    expect(c.labDir).toBe(`/sys/fs/cgroup${c.cgroupPath}`);
    // the lab view really is pure cgroup2, and shows the same directory
    expect((await lab.exec(['stat', '-fc', '%T', '/sys/fs/cgroup'])).trim()).toBe('cgroup2fs');
    expect((await lab.exec(['cat', join(c.labDir, 'cgroup.procs')])).split('\n')).toContain(String(c.pid));
  }
}

for (const mode of MODES) {
  describe(`lab ${mode}`, () => {
    const lab = getLab(mode);

    it(
      'docker: container runs in its cgroup; pause/unpause flip the kernel freezer',
      { timeout: ENGINE_TIMEOUT },
      async () => {
        const c = await lab.docker({ labels: { 'cgfl.test': 'lab' } });
        await expectLayout(lab, c);
        expect(c.cgroupPath).toBe(`/docker/${c.id}`);
        expectKernel(c, 'thawed');
        cli([...dockerCli(lab), 'pause', c.id]);
        expectKernel(c, 'frozen');
        cli([...dockerCli(lab), 'unpause', c.id]);
        expectKernel(c, 'thawed');
        await c.remove();
        expect(existsSync(c.cgroupDir)).toBe(false);
      },
    );

    it(
      'ctr: task runs in /<ns>/<id>; task pause/resume flip the kernel freezer',
      { timeout: ENGINE_TIMEOUT },
      async () => {
        const c = await lab.ctr({ labels: { 'cgfl.test': 'lab' } });
        await expectLayout(lab, c);
        expect(c.cgroupPath).toBe(`/${lab.env.containerd.namespace}/${c.id}`);
        expect(existsSync(join(lab.env.containerd.runcRoot, lab.env.containerd.namespace, c.id, 'state.json'))).toBe(
          true,
        );
        cli([...ctrCli(lab, lab.env.containerd.namespace), 'task', 'pause', c.id]);
        expectKernel(c, 'frozen');
        cli([...ctrCli(lab, lab.env.containerd.namespace), 'task', 'resume', c.id]);
        expectKernel(c, 'thawed');
        await c.remove();
        expect(existsSync(c.cgroupDir)).toBe(false);
      },
    );

    it(
      'podman: container runs in /libpod_parent/libpod-<id>; pause/unpause flip the kernel freezer',
      { timeout: ENGINE_TIMEOUT },
      async () => {
        const c = await lab.podman({ labels: { 'cgfl.test': 'lab' } });
        await expectLayout(lab, c);
        expect(c.cgroupPath).toBe(`/libpod_parent/libpod-${c.id}`);
        cli([...podmanCli(lab), 'pause', c.id], podmanEnv(lab));
        expectKernel(c, 'frozen');
        cli([...podmanCli(lab), 'unpause', c.id], podmanEnv(lab));
        expectKernel(c, 'thawed');
        await c.remove();
        expect(existsSync(c.cgroupDir)).toBe(false);
      },
    );

    it(
      'docker --cgroup-parent: absolute, relative and slice forms; remove() takes the parents along',
      { timeout: ENGINE_TIMEOUT },
      async () => {
        const tag = randomBytes(3).toString('hex');
        const abs = await lab.docker({ cgroupParent: `/cgfl-abs-${tag}/sub` });
        const rel = await lab.docker({ cgroupParent: `cgfl-rel-${tag}` });
        const slice = await lab.docker({ cgroupParent: `cgfl-${tag}.slice` });
        expect(abs.cgroupPath).toBe(`/cgfl-abs-${tag}/sub/${abs.id}`);
        // cgroupfs driver: relative parents hang below runc's own cgroup (the root here), slices are plain names
        expect(rel.cgroupPath.endsWith(`/cgfl-rel-${tag}/${rel.id}`)).toBe(true);
        expect(slice.cgroupPath.endsWith(`/cgfl-${tag}.slice/${slice.id}`)).toBe(true);
        for (const c of [abs, rel, slice]) await expectLayout(lab, c);
        const hostRoot = lab.mode === 'host' ? lab.env.cgroup.hostFreezer : lab.env.cgroup.hostCgroup2;
        for (const c of [abs, rel, slice]) await c.remove();
        expect(existsSync(`${hostRoot}/cgfl-abs-${tag}`)).toBe(false);
        expect(existsSync(join(hostRoot, rel.cgroupPath, '..'))).toBe(false);
        expect(existsSync(join(hostRoot, slice.cgroupPath, '..'))).toBe(false);
      },
    );

    it('docker final states: created, exited, paused', { timeout: ENGINE_TIMEOUT }, async () => {
      const created = await lab.docker({ state: 'created' });
      const exited = await lab.docker({ state: 'exited' });
      const paused = await lab.docker({ state: 'paused' });
      const status = (id: string): string => cli([...dockerCli(lab), 'inspect', '-f', '{{.State.Status}}', id]).trim();
      expect(status(created.id)).toBe('created');
      expect(status(exited.id)).toBe('exited');
      expect(status(paused.id)).toBe('paused');
      expect(created.pid).toBe(0);
      expect(exited.pid).toBe(0);
      expect(kernelFreezerState(paused.cgroupDir)).toBe('frozen');
      // cleanup must get a paused container out too (the afterAll path)
      await lab.cleanup();
      expect(cli([...dockerCli(lab), 'ps', '-aq', '--filter', `id=${paused.id}`]).trim()).toBe('');
      expect(existsSync(paused.cgroupDir)).toBe(false);
    });

    it(
      'ctr: custom namespace, absolute/relative/literal --cgroup, annotations in the bundle',
      { timeout: ENGINE_TIMEOUT },
      async () => {
        const tag = randomBytes(3).toString('hex');
        const ns = `cgfl-ns-${tag}`;
        const a = await lab.ctr({ namespace: ns, cgroup: `/cgfl-c-${tag}/x`, annotations: { 'cgfl.note': 'abs' } });
        const lit = await lab.ctr({ namespace: ns, cgroup: `cgfl-${tag}.slice:p:n` });
        const rel = await lab.ctr({ namespace: ns, cgroup: `cgfl-r-${tag}/y` });
        expect(a.cgroupPath).toBe(`/cgfl-c-${tag}/x`);
        expect(lit.cgroupPath).toBe(`/cgfl-${tag}.slice:p:n`);
        expect(rel.cgroupPath.endsWith(`/cgfl-r-${tag}/y`)).toBe(true);
        for (const c of [a, lit, rel]) await expectLayout(lab, c);
        const spec = JSON.parse(readFileSync(join(lab.env.containerd.taskDir, ns, a.id, 'config.json'), 'utf8')) as {
          annotations?: Record<string, string>;
          linux?: { cgroupsPath?: string };
        };
        expect(spec.annotations?.['cgfl.note']).toBe('abs');
        expect(spec.linux?.cgroupsPath).toBe(`/cgfl-c-${tag}/x`);
        await lab.cleanup();
        for (const c of [a, lit, rel]) expect(existsSync(c.cgroupDir)).toBe(false);
        const hostRoot = lab.mode === 'host' ? lab.env.cgroup.hostFreezer : lab.env.cgroup.hostCgroup2;
        expect(existsSync(`${hostRoot}/cgfl-c-${tag}`)).toBe(false);
      },
    );

    it(
      'k8s-shaped pod: k8s.io namespace, CRI annotations, kubepods cgroupfs paths (burstable / guaranteed)',
      { timeout: ENGINE_TIMEOUT },
      async () => {
        // one QoS form per mode: burstable /kubepods/burstable/pod<uid>, guaranteed /kubepods/pod<uid>
        const qos = mode === 'host' ? 'burstable' : 'guaranteed';
        const pod = await lab.k8sPod({ qos, containers: ['app', 'side'] });
        expect(pod.podCgroupPath).toBe(
          qos === 'burstable' ? `/kubepods/burstable/pod${pod.uid}` : `/kubepods/pod${pod.uid}`,
        );
        const all = [pod.sandbox, ...Object.values(pod.containers)];
        for (const c of all) {
          await expectLayout(lab, c);
          expect(c.id).toMatch(/^[0-9a-f]{64}$/);
          expect(c.cgroupPath).toBe(`${pod.podCgroupPath}/${c.id}`);
          expect(join(c.cgroupDir, '..')).toBe(pod.podDir);
        }
        const app = pod.containers['app'];
        if (app === undefined) throw new Error('no app container');
        const spec = JSON.parse(
          readFileSync(join(lab.env.containerd.taskDir, 'k8s.io', app.id, 'config.json'), 'utf8'),
        ) as {
          annotations: Record<string, string>;
        };
        expect(spec.annotations).toMatchObject({
          'io.kubernetes.cri.container-type': 'container',
          'io.kubernetes.cri.container-name': 'app',
          'io.kubernetes.cri.sandbox-id': pod.sandbox.id,
          'io.kubernetes.cri.sandbox-name': pod.name,
          'io.kubernetes.cri.sandbox-namespace': pod.namespace,
          'io.kubernetes.cri.sandbox-uid': pod.uid,
        });
        await lab.cleanup();
        expect(existsSync(pod.podDir)).toBe(false);
      },
    );

    it(
      'counter workload: progress grows while running and stands still while paused',
      { timeout: ENGINE_TIMEOUT },
      async () => {
        const c = await lab.docker({ workload: 'counter' });
        const p0 = readProgress(c);
        await until('progress to grow', () => readProgress(c) > p0);
        cli([...dockerCli(lab), 'pause', c.id]);
        const frozenAt = readProgress(c);
        await sleep(300);
        expect(readProgress(c)).toBe(frozenAt);
        cli([...dockerCli(lab), 'unpause', c.id]);
        await until('progress to resume', () => readProgress(c) > frozenAt);
      },
    );
  });
}

function procsMentioning(needles: string[]): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if (needles.some((n) => cmdline.includes(n))) pids.push(Number(entry));
  }
  return pids;
}

/** Every cgroup directory (any hierarchy) whose name contains one of `needles`. */
function cgroupDirsNamed(needles: string[]): string[] {
  const found: string[] = [];
  const walk = (dir: string, depth: number): void => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      const p = join(dir, e.name);
      if (needles.some((n) => e.name.includes(n))) found.push(p);
      if (depth < 6) walk(p, depth + 1);
    }
  };
  walk('/sys/fs/cgroup', 0);
  return found;
}

/** Scratch labs are `<prefix>-lt-<mode>-<pid>-<rand>`, so a run killed mid-test is swept by the next one. */
const SCRATCH_LAB_PREFIX = `${process.env['CGFL_LAB_PREFIX'] ?? 'cgfl'}-lt`;
const STALE_SCRATCH_LAB = new RegExp(`^${SCRATCH_LAB_PREFIX}-(host|v2)-(\\d+)-[0-9a-f]+$`);

/** Brings down the scratch labs of runs that died before their own teardown. */
function sweepStaleScratchLabs(): void {
  for (const name of readdirSync('/run')) {
    const match = STALE_SCRATCH_LAB.exec(name);
    if (match === null || pidAlive(Number(match[2]))) continue;
    labScript(['down', match[1] as LabMode], 5 * 60_000, name);
  }
}

describe('lab lifecycle', () => {
  beforeAll(sweepStaleScratchLabs, 10 * 60_000);
  for (const mode of MODES) {
    it(
      `${mode}: down removes containers, daemons, mounts and cgroups, also with frozen containers${mode === 'v2' ? ' after the daemons crashed' : ''}; twice is fine`,
      { timeout: LIFECYCLE_TIMEOUT },
      async () => {
        // unique: several worktrees run this file at once
        const name = `${SCRATCH_LAB_PREFIX}-${mode}-${process.pid}-${randomBytes(3).toString('hex')}`;
        // Down even when the test fails before its own `down` (or `up` fails half-way).
        onTestFinished(() => {
          labScript(['down', mode], 5 * 60_000, name);
        });
        const lab = makeLab(ensureLab(mode, name));
        const d = await lab.docker({ name: `${name}-d` });
        const k = await lab.ctr({ id: `${name}-k` });
        const p = await lab.podman({ name: `${name}-p` });
        const pod = await lab.k8sPod();
        // left frozen behind the engines' backs, on both freezers where there are two
        for (const c of [d, k, p]) {
          if (c.version === 'v1') {
            execFileSync('sh', ['-c', `echo FROZEN > ${c.freezeFile}`]);
            if (c.unifiedDir !== undefined) execFileSync('sh', ['-c', `echo 1 > ${c.unifiedDir}/cgroup.freeze`]);
          } else execFileSync('sh', ['-c', `echo 1 > ${c.freezeFile}`]);
        }
        const ids = [d.id, k.id, p.id, pod.sandbox.id, ...Object.values(pod.containers).map((c) => c.id)];
        const pids = [d.pid, k.pid, p.pid, pod.sandbox.pid];
        if (mode === 'v2') {
          // the crash path: both daemons die, containers, shims and conmon live on
          process.kill(lab.env.pids.dockerd, 'SIGKILL');
          process.kill(lab.env.pids.containerd, 'SIGKILL');
        }
        labScript(['down', mode], 5 * 60_000, name);
        expect(procsMentioning([lab.env.run, lab.env.root])).toEqual([]);
        for (const pid of pids) expect(existsSync(`/proc/${pid}`)).toBe(false);
        expect(cgroupDirsNamed([name, ...ids, `pod${pod.uid}`])).toEqual([]);
        const mounts = readFileSync('/proc/self/mountinfo', 'utf8');
        expect(mounts).not.toContain(lab.env.root);
        expect(mounts).not.toContain(lab.env.run);
        expect(existsSync(lab.env.root)).toBe(false);
        expect(existsSync(lab.env.run)).toBe(false);
        // v2: the lab's mount namespace is gone with its last process (host mode uses the host's own)
        const ino = lab.env.mntns.replace(/\D/g, '');
        const inLabNamespace =
          mode === 'v2'
            ? readdirSync('/proc').filter((e) => {
                try {
                  return /^\d+$/.test(e) && String(statSync(`/proc/${e}/ns/mnt`).ino) === ino;
                } catch {
                  return false;
                }
              })
            : [];
        expect(inLabNamespace).toEqual([]);
        labScript(['down', mode], 60_000, name);
        expect(existsSync(lab.env.run)).toBe(false);
      },
    );
  }
});
