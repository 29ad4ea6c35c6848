/**
 * Real containers: the lab's dockerd, containerd and podman (scripts/lab/lab.sh,
 * leased for this process), one container per engine running the same
 * counter workload as the scratch cases, and the engines' own pause paths
 * (CLI, Engine API through dockerode, ctr, podman) side by side with cgfreeze
 * and raw C on the same container. Also the batch case (N containers in one
 * call). Every container is named cgfb-* and removed at the end.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import Docker from 'dockerode';
import { freeze, freezeSync, thaw, thawSync } from '../../src/index.js';
import { cgroupPathOf } from '../../src/cgroup/membership.js';
import { cgroup2Mount, cgroupMounts, freezerV1Mount, hierarchyPathToDir } from '../../src/cgroup/mountinfo.js';
import { describeError, interleave, pick, progress, warmLabel, whileWarm } from './harness.js';
import type { MethodId, Options } from './options.js';
import {
  type Method,
  type Sample,
  type Subject,
  cgfreezeByRef,
  cgfreezePromise,
  cgfreezeSync,
  externalMethod,
  rawC,
  run,
} from './methods.js';
import { type BenchReport, type MethodResult, methodResult } from './report.js';
import { BenchSidecar } from './sidecar.js';
import { Counter, type Mode, PREFIX, buildDir, forceThaw, shmDir } from './workload.js';

/** The fields of `lab.sh env <mode>` this harness uses. */
interface LabEnv {
  name: string;
  mode: 'host' | 'v2';
  nsenter: string[];
  docker: { cli: string; socket: string; image: string; dataRoot: string; execRoot: string };
  containerd: { socket: string; runcRoot: string; namespace: string; image: string };
  podman: { root: string; runroot: string; tmpdir: string; conf: string; image: string };
}

const packageRoot = join(__dirname, '..', '..');

const labScript = join(packageRoot, 'scripts', 'lab', 'lab.sh');

/**
 * Leases the same labs the tests use (scripts/lab/lab.sh; CGFL_LAB_PREFIX
 * picks a separate pair): bringing a lab up or down costs seconds to minutes
 * on a loaded machine, and the lease keeps it up while we run.
 */
export function labCmd(cmd: 'lease' | 'release' | 'env', mode: string): string {
  const args = [labScript, cmd, mode, ...(cmd === 'env' ? [] : [String(process.pid)])];
  const r = spawnSync('bash', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status !== 0)
    throw new Error(`lab.sh ${args.join(' ')} failed: ${r.stderr.trim().split('\n').slice(-5).join(' / ')}`);
  return r.stdout;
}

class Lab {
  readonly docker: Docker;
  readonly cgMode: Mode;
  private readonly containers: Array<{ engine: 'docker' | 'ctr' | 'podman'; name: string }> = [];
  /** Cgroups we may have left frozen after a failure; thawed before removal. */
  private readonly dirs: string[] = [];

  constructor(readonly env: LabEnv) {
    this.docker = new Docker({ socketPath: env.docker.socket });
    this.cgMode = env.mode === 'v2' ? 'v2' : 'v1';
  }

  dockerArgs(...args: string[]): [string, string[]] {
    return [this.env.docker.cli, ['-H', `unix://${this.env.docker.socket}`, ...args]];
  }
  ctrArgs(...args: string[]): [string, string[]] {
    return ['ctr', ['-a', this.env.containerd.socket, '-n', this.env.containerd.namespace, ...args]];
  }
  podmanArgs(...args: string[]): [string, string[]] {
    const p = this.env.podman;
    const full = ['podman', '--root', p.root, '--runroot', p.runroot, '--tmpdir', p.tmpdir, ...args];
    return this.env.nsenter.length > 0
      ? [this.env.nsenter[0] as string, [...this.env.nsenter.slice(1), ...full]]
      : [full[0] as string, full.slice(1)];
  }

  exec([cmd, args]: [string, string[]]): string {
    return execFileSync(cmd, args, {
      encoding: 'utf8',
      env: { ...process.env, CONTAINERS_CONF: this.env.podman.conf },
      stdio: ['ignore', 'pipe', 'pipe'],
    }).trim();
  }

  /** Starts a container; `spin` runs the counter workload, otherwise it idles. */
  start(engine: 'docker' | 'ctr' | 'podman', name: string, spin: boolean): void {
    const shm = shmDir();
    const cmd = spin ? ['/cgfb-bin/raw-loop', 'spin', `/cgfb-shm/${name}.counter`, '1'] : ['sleep', '1000000'];
    const mounts = ['-v', `${shm}:/cgfb-shm`, '-v', `${buildDir}:/cgfb-bin:ro`];
    this.containers.push({ engine, name });
    if (engine === 'docker')
      this.exec(
        this.dockerArgs('run', '-d', '--network', 'none', '--name', name, ...mounts, this.env.docker.image, ...cmd),
      );
    else if (engine === 'podman')
      this.exec(
        this.podmanArgs('run', '-d', '--network', 'none', '--name', name, ...mounts, this.env.podman.image, ...cmd),
      );
    else {
      this.exec(
        this.ctrArgs(
          'run',
          '-d',
          '--runc-root',
          this.env.containerd.runcRoot,
          ...(this.cgMode === 'v2' ? ['--cpu-shares', '0'] : []),
          '--mount',
          `type=bind,src=${shm},dst=/cgfb-shm,options=rbind:rw`,
          '--mount',
          `type=bind,src=${buildDir},dst=/cgfb-bin,options=rbind:ro`,
          this.env.containerd.image,
          name,
          ...cmd,
        ),
      );
    }
  }

  pid(engine: 'docker' | 'ctr' | 'podman', name: string): number {
    if (engine === 'docker') return Number(this.exec(this.dockerArgs('inspect', '-f', '{{.State.Pid}}', name)));
    if (engine === 'podman') return Number(this.exec(this.podmanArgs('inspect', '-f', '{{.State.Pid}}', name)));
    const line = this.exec(this.ctrArgs('task', 'ls'))
      .split('\n')
      .find((l) => l.split(/\s+/)[0] === name);
    return Number(line?.split(/\s+/)[1]);
  }

  /** The host path of the container's freezer cgroup (v1 freezer on the host lab, cgroup2 on the v2 lab). */
  cgroupDir(pid: number): string {
    const dir = this.lookupCgroupDir(pid);
    this.dirs.push(dir);
    return dir;
  }

  private lookupCgroupDir(pid: number): string {
    const mounts = cgroupMounts();
    const mount = this.cgMode === 'v1' ? freezerV1Mount(mounts) : cgroup2Mount(mounts);
    const rel = mount === undefined ? undefined : cgroupPathOf(pid, mount);
    const dir = mount === undefined || rel === undefined ? undefined : hierarchyPathToDir(mount, rel);
    if (dir === undefined || dir === mount?.mountPoint) throw new Error(`no ${this.cgMode} cgroup for pid ${pid}`);
    return dir;
  }

  async subject(engine: 'docker' | 'ctr' | 'podman', name: string): Promise<Subject> {
    const file = join(shmDir(), `${name}.counter`);
    const end = Date.now() + 20_000;
    while (!existsSync(file)) {
      if (Date.now() > end) throw new Error(`${name}: the workload never created its counter`);
      await new Promise((r) => setTimeout(r, 20));
    }
    // The container's init is the spinner (raw-loop spin), so its pid is the one to watch.
    const pid = this.pid(engine, name);
    const counter = new Counter(file, pid);
    const first = counter.read();
    while (counter.read() === first) await new Promise((r) => setTimeout(r, 5));
    // The lab's daemons keep their state outside the default roots: tell the resolver where.
    const resolveOptions =
      engine === 'docker'
        ? { docker: [{ dataRoot: this.env.docker.dataRoot, execRoot: this.env.docker.execRoot }] }
        : {};
    return {
      mode: this.cgMode,
      cgroupDir: this.cgroupDir(pid),
      counter,
      container: { engine, name, resolveOptions },
    };
  }

  removeAll(): void {
    // A frozen task cannot die; whatever failed, thaw first (the engines may still say paused).
    for (const dir of this.dirs.splice(0)) {
      try {
        forceThaw(dir, this.cgMode);
      } catch {
        // already gone
      }
    }
    for (const { engine, name } of this.containers.splice(0)) {
      try {
        if (engine === 'docker') this.exec(this.dockerArgs('rm', '-f', name));
        else if (engine === 'podman') this.exec(this.podmanArgs('rm', '-f', '-t', '0', name));
        else {
          spawnSync(...this.ctrArgs('task', 'kill', '-s', 'KILL', name));
          for (let i = 0; i < 50 && spawnSync(...this.ctrArgs('task', 'rm', name)).status !== 0; i++)
            execFileSync('sleep', ['0.1']);
          this.exec(this.ctrArgs('container', 'rm', name));
        }
      } catch (err) {
        process.stderr.write(`\ncould not remove ${engine} container ${name}: ${String(err)}\n`);
      }
    }
  }
}

function engineMethods(lab: Lab): Method[] {
  const dockerCli = (verb: string) => async (s: Subject) => run(...lab.dockerArgs(verb, s.container?.name ?? ''));
  const viaApi = (verb: 'pause' | 'unpause') => async (s: Subject) => {
    await lab.docker.getContainer(s.container?.name ?? '')[verb]();
  };
  return [
    externalMethod('docker-cli', 'docker pause/unpause (CLI)', dockerCli('pause'), dockerCli('unpause')),
    externalMethod('dockerode', 'Engine API via dockerode', viaApi('pause'), viaApi('unpause')),
  ];
}

function otherEngineMethod(lab: Lab, engine: 'ctr' | 'podman'): Method {
  const argv = (verb: string, name: string): [string, string[]] =>
    engine === 'ctr' ? lab.ctrArgs('task', verb, name) : lab.podmanArgs(verb, name);
  return engine === 'ctr'
    ? externalMethod(
        'ctr',
        'ctr task pause/resume',
        async (s) => run(...argv('pause', s.container?.name ?? '')),
        async (s) => run(...argv('resume', s.container?.name ?? '')),
      )
    : externalMethod(
        'podman',
        'podman pause/unpause',
        async (s) => run(...argv('pause', s.container?.name ?? '')),
        async (s) => run(...argv('unpause', s.container?.name ?? '')),
      );
}

async function containerCases(
  lab: Lab,
  opts: Options,
  report: BenchReport,
  sidecarMethods: readonly Method[],
): Promise<void> {
  const tag = `${PREFIX}-${process.pid}-${lab.env.mode}`;
  const title = `${lab.env.mode === 'host' ? 'v1 (host lab)' : 'v2 lab'} · busybox container`;
  progress.set(`${title} · starting containers`);
  // ctr and podman get a container of their own, only when their method runs.
  const others = (['ctr', 'podman'] as const).flatMap((engine) =>
    pick([otherEngineMethod(lab, engine)], opts).map((method) => ({ engine, method, name: `${tag}-${engine}` })),
  );
  lab.start('docker', `${tag}-d`, true);
  for (const o of others) lab.start(o.engine, o.name, true);
  const subjects: Subject[] = [];
  try {
    const docker = await lab.subject('docker', `${tag}-d`);
    subjects.push(docker);
    const n = opts.containerCycles;
    // Raw C and cgfreeze share the docker container's cgroup; the slow engine paths get fewer cycles.
    const fast = await interleave(
      title,
      docker,
      pick(
        [
          rawC,
          cgfreezeSync,
          cgfreezePromise,
          ...(byRefWorks(docker, report) ? [cgfreezeByRef] : []),
          ...sidecarMethods,
        ],
        opts,
      ),
      n * 10,
      opts.rounds,
    );
    const slow = await interleave(title, docker, pick(engineMethods(lab), opts), n, opts.rounds);
    const otherResults: MethodResult[] = [];
    for (const o of others) {
      const subject = await lab.subject(o.engine, o.name);
      subjects.push(subject);
      otherResults.push(...(await interleave(title, subject, [o.method], n, opts.rounds)));
    }
    report.cases.push({
      id: `container-${lab.env.mode}`,
      group: 'container',
      title,
      mode: lab.cgMode,
      size: 1,
      warm: false,
      methods: [...fast, ...slow, ...otherResults],
    });
    if (lab.cgMode === 'v1') {
      const hot = await whileWarm(docker, (warm) =>
        interleave(
          `${title} · warm`,
          warm,
          pick([rawC, cgfreezeSync, ...sidecarMethods], opts).map(warmLabel),
          n * 10,
          opts.rounds,
        ),
      );
      report.cases.push({
        id: `container-${lab.env.mode}-warm`,
        group: 'container',
        title: `${title} · keepWarm`,
        mode: lab.cgMode,
        size: 1,
        warm: true,
        methods: hot,
      });
    }
  } finally {
    for (const s of subjects) s.counter.close();
  }
}

/** Container references resolve only once the resolver knows this lab; try one call first. */
function byRefWorks(subject: Subject, report: BenchReport): boolean {
  const opts = subject.container?.resolveOptions ?? {};
  try {
    freezeSync(subject.container?.name ?? '', opts);
    thawSync(subject.container?.name ?? '', opts);
    return true;
  } catch (err) {
    report.notes.push(`by container reference not measured: ${err instanceof Error ? err.message : String(err)}`);
    return false;
  }
}

async function batchCases(lab: Lab, opts: Options, report: BenchReport): Promise<void> {
  const sizes = opts.batch;
  const tag = `${PREFIX}-${process.pid}-${lab.env.mode}-b`;
  const names: string[] = [];
  const max = Math.max(...sizes);
  for (let i = 0; i < max; i++) {
    progress.set(`batch · starting container ${i + 1}/${max}`);
    const name = `${tag}${i}`;
    lab.start('docker', name, false);
    names.push(name);
  }
  const dirs = names.map((name) => lab.cgroupDir(lab.pid('docker', name)));
  const cycles = Math.max(4, Math.ceil(opts.containerCycles / 2));
  for (const size of sizes) {
    const list = names.slice(0, size);
    const paths = dirs.slice(0, size);
    const title = `${lab.env.mode === 'host' ? 'v1' : 'v2'} · ${size} container${size === 1 ? '' : 's'}`;
    const methods: Array<[MethodId, string, () => Promise<void> | void, () => Promise<void> | void]> = [
      [
        'cgfreeze-group',
        'cgfreeze freeze([...]) Promise',
        async () => check(await freeze(paths)),
        async () => check(await thaw(paths)),
      ],
      [
        'cgfreeze-group-sync',
        'cgfreeze freezeSync([...])',
        () => check(freezeSync(paths)),
        () => check(thawSync(paths)),
      ],
      [
        'docker-cli',
        `docker pause ${size === 1 ? 'c' : 'c1 … cN'} (CLI)`,
        async () => run(...lab.dockerArgs('pause', ...list)),
        async () => run(...lab.dockerArgs('unpause', ...list)),
      ],
      [
        'dockerode',
        'dockerode, Promise.all of pauses',
        async () => void (await Promise.all(list.map((n) => lab.docker.getContainer(n).pause()))),
        async () => void (await Promise.all(list.map((n) => lab.docker.getContainer(n).unpause()))),
      ],
    ];
    const results = [];
    for (const [id, label, pauseAll, resumeAll] of methods) {
      if (opts.methods !== undefined && !opts.methods.has(id)) continue;
      const samples: Sample[] = [];
      let cpu = 0;
      for (let i = 0; i < cycles; i++) {
        progress.set(`batch ${title} · ${label} · ${i + 1}/${cycles}`);
        const c0 = process.cpuUsage();
        const t0 = process.hrtime.bigint();
        await pauseAll();
        const t1 = process.hrtime.bigint();
        await resumeAll();
        const t2 = process.hrtime.bigint();
        const c = process.cpuUsage(c0);
        cpu += (c.user + c.system) * 1000;
        samples.push({ freezeNs: Number(t1 - t0), thawNs: Number(t2 - t1), resumeNs: Number(t2 - t1) });
      }
      results.push(methodResult({ id, label, samples, cpuPerCycleNs: cpu / cycles }));
    }
    report.cases.push({
      id: `batch-${lab.env.mode}-${size}`,
      group: 'batch',
      title,
      mode: lab.cgMode,
      size,
      warm: false,
      methods: results,
    });
  }
}

function check(result: { ok: boolean; results: Array<{ ok: boolean; target: string }> }): void {
  if (!result.ok)
    throw new Error(
      `group call failed for ${result.results
        .filter((r) => !r.ok)
        .map((r) => r.target)
        .join(', ')}`,
    );
}

/** The sidecar, when the container cases include its methods; a sidecar that cannot start is an error of the run. */
async function startSidecar(opts: Options, report: BenchReport): Promise<BenchSidecar | undefined> {
  const wanted = (['sidecar', 'sidecar-ttl'] as const).some((id) => opts.methods?.has(id) ?? true);
  if (!opts.only.has('containers') || !wanted) return undefined;
  progress.set('sidecar · starting');
  try {
    const sidecar = await BenchSidecar.start(opts.sidecarCpuProf);
    if (sidecar.staleBuild)
      report.notes.push('the sidecar ran dist/, which is older than src/: run npm run build:ts before the bench');
    return sidecar;
  } catch (err) {
    report.errors.push(`sidecar: ${describeError(err)}`);
    return undefined;
  }
}

export async function runContainerParts(opts: Options, report: BenchReport): Promise<void> {
  const sidecar = await startSidecar(opts, report);
  try {
    await runLabs(opts, report, sidecar?.methods() ?? []);
  } finally {
    progress.set('sidecar · stopping');
    await sidecar?.stop();
  }
}

async function runLabs(opts: Options, report: BenchReport, sidecarMethods: readonly Method[]): Promise<void> {
  for (const mode of opts.labs) {
    progress.set(`lab ${mode} · up`);
    labCmd('lease', mode);
    try {
      const lab = new Lab(JSON.parse(labCmd('env', mode)) as LabEnv);
      try {
        if (opts.only.has('containers')) await containerCases(lab, opts, report, sidecarMethods);
        if (opts.only.has('batch')) await batchCases(lab, opts, report);
      } catch (err) {
        report.errors.push(`lab ${mode}: ${describeError(err)}`);
      } finally {
        progress.set(`lab ${mode} · removing containers`);
        lab.removeAll();
      }
    } finally {
      labCmd('release', mode);
    }
  }
}
