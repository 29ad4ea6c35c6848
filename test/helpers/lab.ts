// Real container engines for the tests: the labs of scripts/lab/lab.sh, and containers in them that
// are removed when the test file ends. Oracles here read the kernel directly and never use src/.
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, readFileSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll } from 'vitest';

export { kernelFreezerState, type KernelFreezerState } from './kernel.js';

export type LabMode = 'host' | 'v2';

export const LAB_SCRIPT = join(__dirname, '..', '..', 'scripts', 'lab', 'lab.sh');

/** What `lab.sh env <mode>` prints. */
export interface LabEnv {
  name: string;
  mode: LabMode;
  root: string;
  run: string;
  /** `mnt:[inode]` of the lab's mount namespace (the host's own in host mode). */
  mntns: string;
  /** Prefix that runs a command inside the lab's view (v2: `nsenter -t <pid> -m --`; host: empty). */
  nsenter: string[];
  pids: { containerd: number; dockerd: number };
  cgroup: {
    /** cgroup2 as the host namespace sees it (`/sys/fs/cgroup/unified`). */
    hostCgroup2: string;
    hostFreezer: string;
    /** The cgroup root inside the lab view (`/sys/fs/cgroup`; cgroup2 in v2 mode). */
    labCgroupRoot: string;
  };
  docker: {
    cli: string;
    host: string;
    socket: string;
    dataRoot: string;
    execRoot: string;
    runcRoot: string;
    containerdNamespace: string;
    image: string;
  };
  containerd: {
    socket: string;
    root: string;
    state: string;
    taskDir: string;
    runcRoot: string;
    namespace: string;
    image: string;
  };
  podman: { root: string; runroot: string; tmpdir: string; conf: string; image: string };
  busyboxTar: string;
  /** `docker save` of the image, for importing it into further ctr namespaces. */
  imageArchive: string;
}

export type Engine = 'docker' | 'ctr' | 'podman';

interface ContainerCommon {
  engine: Engine;
  id: string;
  /** docker/podman name; the id for ctr. */
  name: string;
  /** ctr namespace (docker containers are in `moby`, podman has none). */
  namespace?: string;
  remove(): Promise<void>;
}

/** A container with a live init process. */
export interface LabContainer extends ContainerCommon {
  state: 'running' | 'paused';
  pid: number;
  /** Hierarchy path of the freezer that applies (v1 freezer on the host lab, cgroup2 on v2). */
  cgroupPath: string;
  /** That freezer's directory in the host namespace. */
  cgroupDir: string;
  /** The same cgroup as seen inside the lab view (equals cgroupDir on the host lab). */
  labDir: string;
  /** `freezer.state` (v1) or `cgroup.freeze` (v2) in cgroupDir. */
  freezeFile: string;
  version: 'v1' | 'v2';
  /** Host lab only: the second (cgroup2) freezer that hybrid runc also creates. */
  unifiedDir?: string;
  /** Host path of the progress file (workload 'counter'): its size grows ~20 bytes/s while running. */
  progressFile: string;
}

/** A container without a live init process (`created`, or `exited` after it ran). */
export interface StoppedContainer extends ContainerCommon {
  state: 'created' | 'exited';
  pid: 0;
}

/** idle: waits, exits 0 on TERM. counter: also appends one byte to /tmp/cgfl-progress every ~50 ms (cheap: many run at once). */
export type Workload = 'idle' | 'counter';

const IDLE = 'trap "exit 0" TERM; while :; do sleep 1; done';
const COUNTER = 'trap "exit 0" TERM; while :; do printf . >> /tmp/cgfl-progress; usleep 50000; done';
const PROGRESS_IN_CONTAINER = '/tmp/cgfl-progress';

interface CommonOpts {
  labels?: Record<string, string>;
  /** argv of PID 1; default: the workload's busybox sh loop. */
  cmd?: string[];
  workload?: Workload;
}
export interface DockerOpts extends CommonOpts {
  /** default `cgfl-<random>`; give unique names (test files run in parallel against one lab). */
  name?: string;
  /** `--cgroup-parent` verbatim: absolute `/x/y`, relative `x`, or slice-looking `x.slice`. */
  cgroupParent?: string;
  state?: 'running' | 'paused' | 'created' | 'exited';
  extraArgs?: string[];
}
export interface CtrOpts extends CommonOpts {
  /** container id, default `cgfl-<random>` */
  id?: string;
  /** default: the lab's own namespace (`cgfl-<mode>`). */
  namespace?: string;
  /** `--cgroup` verbatim: `/a/b`, relative `a/b`, or the literal `x.slice:p:n`. */
  cgroup?: string;
  annotations?: Record<string, string>;
  state?: 'running' | 'paused';
}
export interface PodmanOpts extends CommonOpts {
  name?: string;
  cgroupParent?: string;
  state?: 'running' | 'paused';
  extraArgs?: string[];
}
export type Qos = 'guaranteed' | 'burstable' | 'besteffort';
export interface K8sPodOpts {
  /** Kubernetes namespace of the pod (annotation), default `default`. */
  namespace?: string;
  /** Pod name, default `cgfl-pod-<random>`. */
  name?: string;
  uid?: string;
  qos?: Qos;
  /** Container names of the pod (besides the sandbox), default `['app']`. */
  containers?: string[];
  workload?: Workload;
  /** Pod annotations that the runtime copies into every container's spec (containerd's `pod_annotations`). */
  annotations?: Record<string, string>;
}
export interface K8sPod {
  namespace: string;
  name: string;
  uid: string;
  qos: Qos;
  /** `/kubepods[/<qos>]/pod<uid>` */
  podCgroupPath: string;
  /** host-namespace freezer dir of the pod cgroup */
  podDir: string;
  sandbox: LabContainer;
  containers: Record<string, LabContainer>;
}

export interface Lab {
  name: string;
  mode: LabMode;
  /** All paths: docker data/exec roots, containerd root/state/runc root, podman roots, sockets, nsenter. */
  env: LabEnv;
  docker(opts: DockerOpts & { state: 'created' | 'exited' }): Promise<StoppedContainer>;
  docker(opts?: DockerOpts & { state?: 'running' | 'paused' }): Promise<LabContainer>;
  ctr(opts?: CtrOpts): Promise<LabContainer>;
  podman(opts?: PodmanOpts): Promise<LabContainer>;
  /** A Kubernetes-shaped pod made with ctr: namespace k8s.io, CRI annotations, kubepods cgroupfs paths. */
  k8sPod(opts?: K8sPodOpts): Promise<K8sPod>;
  /** Runs argv in the lab's view (through nsenter in v2 mode) with the lab's engine environment. */
  exec(argv: string[]): Promise<string>;
  /** Removes every container this object created (also run automatically after the test file). */
  cleanup(): Promise<void>;
}

function run(argv: string[], env?: NodeJS.ProcessEnv, timeoutMs = 120_000): Promise<string> {
  const [file, ...args] = argv;
  if (file === undefined) throw new Error('empty argv');
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      { env: env ?? process.env, timeout: timeoutMs, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`${argv.join(' ')} failed: ${err.message}\n${stderr}`));
        else resolve(stdout);
      },
    );
  });
}

/** Runs lab.sh; `name` overrides the lab name (default cgfl-<mode>), e.g. for a scratch lab. */
export function labScript(args: string[], timeoutMs: number, name?: string): string {
  return execFileSync('bash', [LAB_SCRIPT, ...args], {
    env: name === undefined ? process.env : { ...process.env, LAB: name },
    encoding: 'utf8',
    timeout: timeoutMs,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
}

export function labIsUp(mode: LabMode, name?: string): boolean {
  try {
    labScript(['status', mode], 30_000, name);
    return true;
  } catch {
    return false;
  }
}

/** Brings the lab up if needed (apt install included on a fresh machine) and reads its env. */
export function ensureLab(mode: LabMode, name?: string): LabEnv {
  if (!labIsUp(mode, name)) labScript(['up', mode], 15 * 60_000, name);
  return JSON.parse(labScript(['env', mode], 30_000, name)) as LabEnv;
}

function randomName(): string {
  return `cgfl-${randomBytes(4).toString('hex')}`;
}

function kv(flag: string, map: Record<string, string> | undefined): string[] {
  return Object.entries(map ?? {}).flatMap(([k, v]) => [flag, `${k}=${v}`]);
}

function workloadCmd(opts: CommonOpts): string[] {
  return opts.cmd ?? ['sh', '-c', opts.workload === 'counter' ? COUNTER : IDLE];
}

/** Bytes in a container's progress file; grows while a 'counter' workload runs. 0 before the first tick. */
export function readProgress(c: LabContainer): number {
  try {
    return statSync(c.progressFile).size;
  } catch {
    return 0;
  }
}

interface ProcLine {
  controllers: string;
  path: string;
}
function procCgroup(pid: number): ProcLine[] {
  return readFileSync(`/proc/${pid}/cgroup`, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const a = l.indexOf(':');
      const b = l.indexOf(':', a + 1);
      return { controllers: l.slice(a + 1, b), path: l.slice(b + 1) };
    });
}

/** controllers field of /proc/<pid>/cgroup (`freezer`, `name=systemd`, `` for v2) -> host mount point */
function hostMounts(): Map<string, string> {
  const mounts = new Map<string, string>();
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const pre = line.slice(0, sep).split(' ');
    const post = line.slice(sep + 3).split(' ');
    const point = pre[4];
    if (point === undefined || pre[3] !== '/') continue;
    if (post[0] === 'cgroup2') mounts.set('', point);
    else if (post[0] === 'cgroup') {
      const ctrls = (post[2] ?? '')
        .split(',')
        .filter((o) => o !== 'rw' && o !== 'ro' && !o.includes('release_agent') && o !== 'clone_children');
      mounts.set(ctrls.join(','), point);
    }
  }
  return mounts;
}

/** Thaws `dir` if frozen (v1 or v2); ENOENT is fine (already gone). */
function thawDir(dir: string): void {
  try {
    if (existsSync(join(dir, 'freezer.state'))) {
      if (readFileSync(join(dir, 'freezer.state'), 'utf8').trim() !== 'THAWED')
        writeFileSync(join(dir, 'freezer.state'), 'THAWED');
    } else if (existsSync(join(dir, 'cgroup.freeze'))) {
      if (readFileSync(join(dir, 'cgroup.freeze'), 'utf8').trim() !== '0')
        writeFileSync(join(dir, 'cgroup.freeze'), '0');
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

function splitPath(p: string): string[] {
  return p.split('/').filter((c) => c !== '');
}

/**
 * The directories a container's cgroup `suffix` (its last path components, e.g. the custom parent
 * plus the id) occupies in every mounted hierarchy, deepest first. Relative parents land under the
 * daemon's own cgroup, which differs per hierarchy; the suffix match finds them all.
 */
function chainDirs(pid: number, suffix: string[]): string[] {
  const mounts = hostMounts();
  const dirs: string[] = [];
  const tail = '/' + suffix.join('/');
  for (const line of procCgroup(pid)) {
    const mount = mounts.get(line.controllers);
    if (mount === undefined || !line.path.endsWith(tail)) continue;
    const base = line.path.slice(0, line.path.length - tail.length);
    for (let k = suffix.length; k >= 1; k--) dirs.push(mount + base + '/' + suffix.slice(0, k).join('/'));
  }
  return dirs;
}

function rmdirQuiet(dir: string): void {
  try {
    rmdirSync(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // ENOENT: already gone; EBUSY/ENOTEMPTY: still used by someone else (shared parent)
    if (code !== 'ENOENT' && code !== 'EBUSY' && code !== 'ENOTEMPTY') throw err;
  }
}

async function waitFor<T>(what: string, fn: () => T | undefined, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * The lab for `mode`, brought up if needed. Call it at the top level of a test file (or in a
 * `describe` body): it registers an afterAll that removes the containers made through it.
 */
export function getLab(mode: LabMode): Lab {
  const env = ensureLab(mode);
  const lab = makeLab(env);
  afterAll(() => lab.cleanup());
  return lab;
}

/** The lab object without the afterAll registration (for global setup and scripts). */
export function makeLab(env: LabEnv): Lab {
  const removers = new Set<() => Promise<void>>();
  const engineEnv: NodeJS.ProcessEnv = {
    ...process.env,
    CONTAINERS_CONF: env.podman.conf,
    DOCKER_HOST: env.docker.host,
  };
  const dockerCli = [env.docker.cli, '-H', env.docker.host];
  const ctrCli = (ns: string): string[] => ['ctr', '-a', env.containerd.socket, '-n', ns];
  const podmanCli = [
    ...env.nsenter,
    'podman',
    '--root',
    env.podman.root,
    '--runroot',
    env.podman.runroot,
    '--tmpdir',
    env.podman.tmpdir,
  ];
  const sh = (argv: string[]): Promise<string> => run(argv, engineEnv);

  function describeRunning(
    engine: Engine,
    id: string,
    name: string,
    pid: number,
    state: 'running' | 'paused',
    chainSuffix: string[],
    remove: () => Promise<void>,
    namespace?: string,
  ): LabContainer {
    let lines: ProcLine[];
    let chain: string[];
    try {
      lines = procCgroup(pid);
      chain = chainDirs(pid, chainSuffix);
    } catch (err) {
      removers.add(remove);
      throw new Error(`${engine} ${name}: init pid ${pid} is gone: ${String(err)}`, { cause: err });
    }
    const v2 = lines.find((l) => l.controllers === '');
    const freezer = lines.find((l) => l.controllers.split(',').includes('freezer'));
    let c: LabContainer;
    const removeAll = async (): Promise<void> => {
      removers.delete(removeAll);
      // a test may have left it frozen (by a direct write, on either freezer): a frozen task cannot die
      for (const d of chain) thawDir(d);
      await remove();
      for (const d of chain) rmdirQuiet(d);
    };
    removers.add(removeAll);
    const common = {
      engine,
      id,
      name,
      pid,
      state,
      remove: removeAll,
      progressFile: `/proc/${pid}/root${PROGRESS_IN_CONTAINER}`,
    };
    if (env.mode === 'host') {
      if (freezer === undefined || v2 === undefined)
        throw new Error(`pid ${pid}: no freezer or cgroup2 line in /proc/${pid}/cgroup`);
      const dir = env.cgroup.hostFreezer + freezer.path;
      c = {
        ...common,
        cgroupPath: freezer.path,
        cgroupDir: dir,
        labDir: dir,
        freezeFile: join(dir, 'freezer.state'),
        version: 'v1',
        unifiedDir: env.cgroup.hostCgroup2 + v2.path,
      };
    } else {
      if (v2 === undefined) throw new Error(`pid ${pid}: no cgroup2 line in /proc/${pid}/cgroup`);
      const dir = env.cgroup.hostCgroup2 + v2.path;
      c = {
        ...common,
        cgroupPath: v2.path,
        cgroupDir: dir,
        labDir: env.cgroup.labCgroupRoot + v2.path,
        freezeFile: join(dir, 'cgroup.freeze'),
        version: 'v2',
      };
    }
    if (namespace !== undefined) c.namespace = namespace;
    if (!existsSync(c.cgroupDir)) throw new Error(`${engine} ${name}: cgroup dir ${c.cgroupDir} does not exist`);
    return c;
  }

  async function docker(opts: DockerOpts = {}): Promise<LabContainer | StoppedContainer> {
    const name = opts.name ?? randomName();
    const state = opts.state ?? 'running';
    const args = ['--network', 'none', '--name', name, ...kv('--label', opts.labels)];
    if (opts.cgroupParent !== undefined) args.push('--cgroup-parent', opts.cgroupParent);
    args.push(...(opts.extraArgs ?? []), env.docker.image, ...workloadCmd(opts));
    const id = (
      await sh([...dockerCli, state === 'created' ? 'create' : 'run', ...(state === 'created' ? [] : ['-d']), ...args])
    ).trim();
    const remove = async (): Promise<void> => {
      await sh([...dockerCli, 'rm', '-f', id]);
    };
    if (state === 'created' || state === 'exited') {
      // a stopped container has no cgroup left; runc removed it
      const removeStopped = async (): Promise<void> => {
        removers.delete(removeStopped);
        await remove();
      };
      const stopped: StoppedContainer = {
        engine: 'docker',
        id,
        name,
        state,
        pid: 0,
        namespace: 'moby',
        remove: removeStopped,
      };
      removers.add(removeStopped);
      if (state === 'exited') await sh([...dockerCli, 'stop', '-t', '5', id]);
      return stopped;
    }
    const pid = Number((await sh([...dockerCli, 'inspect', '-f', '{{.State.Pid}}', id])).trim());
    if (state === 'paused') await sh([...dockerCli, 'pause', id]);
    const parent = opts.cgroupParent === undefined ? [] : splitPath(opts.cgroupParent);
    return describeRunning('docker', id, name, pid, state, [...parent, id], remove, 'moby');
  }

  const namespacesWithImage = new Set([env.containerd.namespace, 'k8s.io']);
  async function ensureCtrImage(ns: string): Promise<void> {
    if (namespacesWithImage.has(ns)) return;
    const have = (await sh([...ctrCli(ns), 'images', 'ls', '-q'])).split('\n');
    if (!have.includes(env.containerd.image)) await sh([...ctrCli(ns), 'images', 'import', env.imageArchive]);
    namespacesWithImage.add(ns);
  }

  async function ctrTask(opts: CtrOpts, chainSuffix?: (id: string) => string[]): Promise<LabContainer> {
    const ns = opts.namespace ?? env.containerd.namespace;
    const id = opts.id ?? randomName();
    await ensureCtrImage(ns);
    const args = [
      'run',
      '-d',
      '--runc-root',
      env.containerd.runcRoot,
      ...kv('--label', opts.labels),
      ...kv('--annotation', opts.annotations),
    ];
    // ctr's default cpu-shares 1024 needs cpu.weight, which v2 here lacks (cpu is bound to v1)
    if (env.mode === 'v2') args.push('--cpu-shares', '0');
    if (opts.cgroup !== undefined) args.push('--cgroup', opts.cgroup);
    await sh([...ctrCli(ns), ...args, env.containerd.image, id, ...workloadCmd(opts)]);
    const remove = async (): Promise<void> => {
      await sh([...ctrCli(ns), 'task', 'rm', '-f', id]).catch(() => undefined);
      await sh([...ctrCli(ns), 'container', 'rm', id]);
    };
    const pidFile = join(env.containerd.taskDir, ns, id, 'init.pid');
    let pid: number;
    try {
      pid = await waitFor(`${pidFile}`, () =>
        existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').trim()) : undefined,
      );
    } catch (err) {
      await remove();
      throw err;
    }
    if (opts.state === 'paused') await sh([...ctrCli(ns), 'task', 'pause', id]);
    // default cgroup /<ns>/<id>: the lab's own ns dir is left to lab.sh down (other files use it
    // concurrently); a custom namespace's dir is removed when empty
    const defaultChain = ns === env.containerd.namespace ? [id] : [ns, id];
    const suffix = chainSuffix?.(id) ?? (opts.cgroup === undefined ? defaultChain : splitPath(opts.cgroup));
    return describeRunning('ctr', id, id, pid, opts.state ?? 'running', suffix, remove, ns);
  }

  async function podman(opts: PodmanOpts = {}): Promise<LabContainer> {
    const name = opts.name ?? randomName();
    const args = ['run', '-d', '--network', 'none', '--name', name, ...kv('--label', opts.labels)];
    if (opts.cgroupParent !== undefined) args.push('--cgroup-parent', opts.cgroupParent);
    args.push(...(opts.extraArgs ?? []));
    const id = (await sh([...podmanCli, ...args, env.podman.image, ...workloadCmd(opts)])).trim();
    const remove = async (): Promise<void> => {
      await sh([...podmanCli, 'rm', '-f', '-t', '0', id]);
    };
    const pid = Number((await sh([...podmanCli, 'inspect', '-f', '{{.State.Pid}}', id])).trim());
    if (opts.state === 'paused') await sh([...podmanCli, 'pause', id]);
    const parent = opts.cgroupParent === undefined ? [] : splitPath(opts.cgroupParent);
    return describeRunning('podman', id, name, pid, opts.state ?? 'running', [...parent, `libpod-${id}`], remove);
  }

  async function k8sPod(opts: K8sPodOpts = {}): Promise<K8sPod> {
    const namespace = opts.namespace ?? 'default';
    const name = opts.name ?? `cgfl-pod-${randomBytes(3).toString('hex')}`;
    const uid = opts.uid ?? randomUUID();
    const qos = opts.qos ?? 'burstable';
    const podCgroupPath = qos === 'guaranteed' ? `/kubepods/pod${uid}` : `/kubepods/${qos}/pod${uid}`;
    const hex = (): string => randomBytes(32).toString('hex');
    const sandboxId = hex();
    const common = {
      ...opts.annotations,
      'io.kubernetes.cri.sandbox-id': sandboxId,
      'io.kubernetes.cri.sandbox-name': name,
      'io.kubernetes.cri.sandbox-namespace': namespace,
      'io.kubernetes.cri.sandbox-uid': uid,
    };
    // the pod dir (unique uid) goes with its last container; the shared /kubepods[/<qos>] parents stay
    // for lab.sh down, so concurrent files never race runc's mkdir against our rmdir
    const suffix = (id: string): string[] => [`pod${uid}`, id];
    const make = (id: string, annotations: Record<string, string>, workload: Workload): Promise<LabContainer> =>
      ctrTask({ namespace: 'k8s.io', id, cgroup: `${podCgroupPath}/${id}`, annotations, workload }, suffix);
    const sandbox = await make(
      sandboxId,
      {
        ...common,
        'io.kubernetes.cri.container-type': 'sandbox',
        'io.kubernetes.cri.sandbox-log-directory': `/var/log/pods/${namespace}_${name}_${uid}`,
      },
      'idle',
    );
    const containers: Record<string, LabContainer> = {};
    for (const cname of opts.containers ?? ['app']) {
      containers[cname] = await make(
        hex(),
        {
          ...common,
          'io.kubernetes.cri.container-type': 'container',
          'io.kubernetes.cri.container-name': cname,
          'io.kubernetes.cri.image-name': env.containerd.image,
        },
        opts.workload ?? 'idle',
      );
    }
    const podDir = sandbox.cgroupDir.slice(0, sandbox.cgroupDir.length - sandboxId.length - 1);
    return { namespace, name, uid, qos, podCgroupPath, podDir, sandbox, containers };
  }

  async function cleanup(): Promise<void> {
    const errors: unknown[] = [];
    // containers before their pods' parents: reverse creation order
    for (const remove of [...removers].reverse()) {
      try {
        await remove();
      } catch (err) {
        errors.push(err);
      }
    }
    if (errors.length > 0)
      throw new AggregateError(errors, `lab ${env.name}: ${errors.length} container(s) not removed`);
  }

  return {
    name: env.name,
    mode: env.mode,
    env,
    docker: docker as Lab['docker'],
    ctr: (opts = {}) => ctrTask(opts),
    podman,
    k8sPod,
    exec: (argv) => sh([...env.nsenter, ...argv]),
    cleanup,
  };
}
