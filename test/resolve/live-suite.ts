// Live resolution tests against the real engines of a lab (scripts/lab): every reference form, the
// --cgroup-parent variants, stopped and created containers, docker pause, ctr namespaces, Kubernetes-
// shaped pods and Podman. Each resolved directory is checked against what the kernel says (/proc/<pid>/cgroup
// through the lab helper), and frozen through cgfreeze by reference, proven by observation.
import { randomBytes } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { freeze, thaw } from '../../src/index.js';
import { CgfreezeError } from '../../src/errors.js';
import { type ResolveOptions, listSync, resolveSync } from '../../src/index.js';
import { type Lab, type LabContainer, type LabMode, getLab, kernelFreezerState, readProgress } from '../helpers/lab.js';
import { makeTempDir, removeTempDir } from '../helpers/scratch.js';
import { type Counts, CYCLES, straceCycles } from '../helpers/strace.js';

const rand = (): string => randomBytes(3).toString('hex');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(what: string, cond: () => boolean, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await sleep(20);
  }
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof CgfreezeError)) throw err;
    return err.code;
  }
  return 'resolved';
}

/** Where this lab's engines keep their state. */
export function labOptions(lab: Lab): ResolveOptions {
  const e = lab.env;
  return {
    docker: [{ dataRoot: e.docker.dataRoot, execRoot: e.docker.execRoot }],
    containerd: [{ state: e.containerd.state, runtimeRoots: [e.containerd.runcRoot] }],
    storage: [{ graphRoot: e.podman.root, runRoot: e.podman.runroot }],
    cache: false,
  };
}

/** Freezes through cgfreeze by reference and proves it: the kernel says frozen and the counter stops. */
async function proveFreeze(ref: string, c: LabContainer, opts: ResolveOptions): Promise<void> {
  await until(`${c.name} makes progress`, () => readProgress(c) > 0);
  const frozen = await freeze(ref, opts);
  try {
    expect(frozen).toMatchObject({ state: 'frozen', cgroupDir: c.cgroupDir });
    expect(kernelFreezerState(c.cgroupDir)).toBe('frozen');
    const before = readProgress(c);
    await sleep(300);
    expect(readProgress(c)).toBe(before);
  } finally {
    await thaw(ref, opts);
  }
  const after = readProgress(c);
  await until(`${c.name} runs again after thaw`, () => readProgress(c) > after);
}

export function liveSuite(mode: LabMode): void {
  describe(`live resolution in the ${mode} lab`, () => {
    // At the describe level: getLab registers the afterAll that removes this file's containers.
    const lab: Lab = getLab(mode);
    const opts: ResolveOptions = labOptions(lab);
    const resolve = (ref: string) => resolveSync(ref, opts);

    it('docker: name, /name, docker://, full ID, unique prefix, labels; freeze by the resolved dir', async () => {
      const name = `cgfr-web-${rand()}`;
      const c = await lab.docker({ name, workload: 'counter', labels: { 'cgfr.test': name } });
      const want = {
        kind: 'container',
        engine: 'docker',
        id: c.id,
        name,
        initPid: c.pid,
        cgroupDir: c.cgroupDir,
        freezeFile: c.freezeFile,
        cgroupVersion: c.version,
        cgroupIdentity: `${statSync(c.cgroupDir).dev}:${statSync(c.cgroupDir).ino}`,
        labels: { 'cgfr.test': name },
        pausedByEngine: false,
      };
      for (const ref of [name, `/${name}`, `docker://${name}`, c.id, c.id.slice(0, 16)])
        expect(resolve(ref), ref).toEqual({ ...want, ref });
      const listed = listSync({ ...opts, filter: { label: `cgfr.test=${name}` } });
      expect(listed.map((l) => [l.id, l.cgroupDir, l.freezer])).toEqual([[c.id, c.cgroupDir, 'thawed']]);
      await proveFreeze(name, c, opts);
      expect(codeOf(() => resolve(name.toUpperCase()))).toBe('ERR_CONTAINER_NOT_FOUND');
      expect(codeOf(() => resolve(name.slice(0, -2)))).toBe('ERR_CONTAINER_NOT_FOUND');
    });

    it('docker: created and exited containers are not running; they count for prefix ambiguity', async () => {
      const created = await lab.docker({ name: `cgfr-created-${rand()}`, state: 'created' });
      const exited = await lab.docker({ name: `cgfr-exited-${rand()}`, state: 'exited' });
      expect(codeOf(() => resolve(created.name))).toBe('ERR_CONTAINER_NOT_RUNNING');
      expect(codeOf(() => resolve(exited.name))).toBe('ERR_CONTAINER_NOT_RUNNING');
      expect(codeOf(() => resolve(exited.id))).toBe('ERR_CONTAINER_NOT_RUNNING');
      // Create containers until two IDs on disk share a first character (pigeonhole: at most 17).
      const firstChars = (): string[] => readdirSync(`${lab.env.docker.dataRoot}/containers`).map((id) => id[0] ?? '');
      let shared: string | undefined;
      for (let i = 0; i < 17 && shared === undefined; i++) {
        const seen = firstChars();
        shared = seen.find((ch, j) => seen.indexOf(ch) !== j);
        if (shared === undefined) await lab.docker({ name: `cgfr-fill-${rand()}`, state: 'created' });
      }
      expect(shared).toBeDefined();
      expect(codeOf(() => resolve(shared as string))).toBe('ERR_AMBIGUOUS_REF');
    });

    it("docker: a name beats another container's ID prefix", async () => {
      const a = await lab.docker({ name: `cgfr-a-${rand()}` });
      const b = await lab.docker({ name: a.id.slice(0, 10) });
      expect(resolve(a.id.slice(0, 10)).id).toBe(b.id);
      expect(resolve(a.id.slice(0, 11)).id).toBe(a.id);
    });

    it.each([
      ['absolute', () => `/cgfr-abs-${rand()}`],
      ['relative', () => `cgfr-rel-${rand()}`],
      ['slice-looking', () => `cgfr-${rand()}.slice`],
    ])('docker --cgroup-parent %s', async (_kind, parent) => {
      const c = await lab.docker({ name: `cgfr-parent-${rand()}`, cgroupParent: parent(), workload: 'counter' });
      expect(resolve(c.name).cgroupDir).toBe(c.cgroupDir);
      await proveFreeze(c.name, c, opts);
    });

    it('docker pause: pausedByEngine, and the kernel agrees', async () => {
      const c = await lab.docker({ name: `cgfr-paused-${rand()}`, state: 'paused' });
      const r = resolve(c.name);
      expect(r).toMatchObject({ pausedByEngine: true, cgroupDir: c.cgroupDir });
      expect(kernelFreezerState(r.cgroupDir)).toBe('frozen');
      // Thawing behind docker's back would wedge `docker unpause`: refused, and nothing changes.
      await expect(thaw(c.name, opts)).rejects.toMatchObject({ code: 'ERR_PAUSED_BY_ENGINE' });
      expect(kernelFreezerState(r.cgroupDir)).toBe('frozen');
    });

    it('a cached reference follows a docker restart to the new cgroup, and sees a docker pause', async () => {
      const cached = { ...opts, cache: true };
      const c = await lab.docker({ name: `cgfr-restart-${rand()}`, workload: 'counter' });
      expect((await freeze(c.name, cached)).state).toBe('frozen');
      await thaw(c.name, cached);
      const before = statSync(c.cgroupDir).ino;
      await lab.exec([lab.env.docker.cli, 'restart', '-t', '1', c.name]);
      expect(statSync(c.cgroupDir).ino).not.toBe(before);
      expect(await freeze(c.name, cached)).toMatchObject({ state: 'frozen', cgroupDir: c.cgroupDir });
      expect(kernelFreezerState(c.cgroupDir)).toBe('frozen');
      await thaw(c.name, cached);
      expect(kernelFreezerState(c.cgroupDir)).toBe('thawed');
      await lab.exec([lab.env.docker.cli, 'pause', c.name]);
      try {
        await expect(thaw(c.name, cached)).rejects.toMatchObject({ code: 'ERR_PAUSED_BY_ENGINE' });
        expect(kernelFreezerState(c.cgroupDir)).toBe('frozen');
      } finally {
        await lab.exec([lab.env.docker.cli, 'unpause', c.name]);
      }
    });

    it('by reference, a cached freeze or thaw costs exactly one syscall more than by path', async () => {
      const c = await lab.docker({ name: `cgfr-strace-${rand()}` });
      const tmp = makeTempDir();
      try {
        const stateFile = mode === 'host' ? 'freezer.state' : 'cgroup.events';
        // Both in one run, on one container: only the reference differs.
        const byPath = straceCycles(tmp, `${mode}-path`, c.cgroupDir, {}, stateFile);
        const byRef = straceCycles(tmp, `${mode}-ref`, c.name, { ...opts, cache: true }, stateFile);
        for (const counts of [byPath, byRef]) expect(counts.writes - counts.reasserts).toBe(2 * CYCLES);
        // What a cycle costs besides the kernel's own pace (the reads and sleeps until it reports frozen,
        // and v1's re-asserted writes), which differs from run to run.
        const fixed = (n: Counts): number => n.total - n.freezeReads - n.freezeWaits - n.reasserts;
        expect(fixed(byRef) - fixed(byPath)).toBe(2 * CYCLES);
        // The two extra calls: each freeze preads the init's held /proc/<pid>/comm, each thaw fstats
        // Docker's held config.v2.json (node's fstat is statx on the fd, AT_EMPTY_PATH); no path walk (a
        // re-resolution would open and stat dozens of files).
        const reads = (n: Counts): string[] => n.other.filter((l) => /^p?read(64)?\(/.test(l));
        expect(reads(byRef).length - reads(byPath).length).toBe(CYCLES);
        const byFd = /^(statx\(\d+, "", |fstat\(\d+,|newfstatat\(\d+, "", )/;
        const stats = (n: Counts): string[] => n.other.filter((l) => byFd.test(l));
        expect(stats(byRef).length - stats(byPath).length).toBe(CYCLES);
        const walks = byRef.other.filter(
          (l) =>
            !byFd.test(l) &&
            /^(open|openat|openat2|stat|lstat|statx|newfstatat|access|readlink|readlinkat|getdents64)\(/.test(l),
        );
        expect(walks).toEqual([]);
      } finally {
        removeTempDir(tmp);
      }
    });

    it('ctr: ID, containerd://<ns>/<id>, custom --cgroup; freeze by the resolved dir', async () => {
      const c = await lab.ctr({ id: `cgfr-k-${rand()}`, workload: 'counter' });
      const ns = c.namespace ?? '';
      expect(resolve(c.id)).toMatchObject({ engine: 'containerd', id: c.id, cgroupDir: c.cgroupDir, initPid: c.pid });
      expect(resolve(`containerd://${ns}/${c.id}`).cgroupDir).toBe(c.cgroupDir);
      await proveFreeze(`containerd://${ns}/${c.id}`, c, opts);
      const custom = await lab.ctr({ id: `cgfr-kc-${rand()}`, cgroup: `/cgfr-ctr-${rand()}/inner` });
      expect(resolve(custom.id).cgroupDir).toBe(custom.cgroupDir);
      expect(codeOf(() => resolve(`containerd://cgfr-nope/${c.id}`))).toBe('ERR_CONTAINER_NOT_FOUND');
    });

    it('ctr paused by the engine resolves (the kernel says frozen); containerd records no pause to read', async () => {
      const c = await lab.ctr({ id: `cgfr-kp-${rand()}`, state: 'paused' });
      expect(resolve(c.id)).toMatchObject({ cgroupDir: c.cgroupDir, pausedByEngine: false });
      expect(kernelFreezerState(c.cgroupDir)).toBe('frozen');
    });

    it('Kubernetes-shaped pod: ns/pod/container, ns/pod (the pod cgroup), sandbox refused', async () => {
      const pod = await lab.k8sPod({
        namespace: `cgfr-ns-${rand()}`,
        name: `cgfr-pod-${rand()}`,
        containers: ['app', 'side'],
        workload: 'counter',
      });
      const app = pod.containers['app'] as LabContainer;
      expect(resolve(`${pod.namespace}/${pod.name}/app`)).toMatchObject({
        kind: 'container',
        engine: 'containerd',
        id: app.id,
        cgroupDir: app.cgroupDir,
        k8s: { namespace: pod.namespace, pod: pod.name, container: 'app', podUid: pod.uid },
      });
      expect(resolve(`${pod.namespace}/${pod.name}/side`).id).toBe(pod.containers['side']?.id);
      const whole = resolve(`k8s://${pod.namespace}/${pod.name}`);
      expect(whole).toMatchObject({ kind: 'pod', id: pod.sandbox.id, cgroupDir: pod.podDir });
      expect(codeOf(() => resolve(pod.sandbox.id))).toBe('ERR_INVALID_ARG');
      expect(codeOf(() => resolve(`${pod.namespace}/${pod.name}/nope`))).toBe('ERR_CONTAINER_NOT_FOUND');
      // Freezing the pod cgroup freezes every member.
      await until('pod makes progress', () => readProgress(app) > 0);
      await freeze(`k8s://${pod.namespace}/${pod.name}`, opts);
      try {
        for (const c of Object.values(pod.containers)) expect(kernelFreezerState(c.cgroupDir)).toBe('frozen');
        const before = readProgress(app);
        await sleep(300);
        expect(readProgress(app)).toBe(before);
      } finally {
        await thaw(`k8s://${pod.namespace}/${pod.name}`, opts);
      }
    });

    it('podman: name, ID and prefix', async () => {
      const c = await lab.podman({ name: `cgfr-pm-${rand()}`, workload: 'counter' });
      const want = { engine: 'podman', id: c.id, name: c.name, cgroupDir: c.cgroupDir, initPid: c.pid };
      expect(resolve(c.name)).toMatchObject(want);
      expect(resolve(`podman://${c.name}`)).toMatchObject(want);
      expect(resolve(c.id.slice(0, 16))).toMatchObject(want);
      await proveFreeze(c.name, c, opts);
    });
  });
}
