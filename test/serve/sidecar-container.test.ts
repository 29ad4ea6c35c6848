import { execFile } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { IDaemonSet } from 'kubernetes-models/apps/v1';
import type { IConfigMap, IContainer, IPod, IPodSpec } from 'kubernetes-models/v1';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CgfreezeClient } from '../../src/client/index.js';
import { type K8sPod, type Lab, type LabContainer, getLab, kernelFreezerState } from '../helpers/lab.js';
import { REPO, ScratchCgroups, removeTemp, tempDir } from './helpers.js';
import {
  type LabExtra,
  type LabNode,
  type PodRun,
  defined,
  findDoc,
  loadManifest,
  memoryLimit,
  nodePath,
  podRun,
} from './sidecar-manifest.js';

/**
 * deploy/daemonset.yaml as an operator applies it: its sidecar container (image, args, security
 * context, volumes, ConfigMap, probes, memory limit) runs in each lab as the kubelet would run it,
 * and deploy/client-example.yaml's pod is the caller: uid 1000 whose supplementary group is the
 * policy's. The image is built offline (deploy/build-rootfs.sh) under the manifest's tag.
 */
const daemonset = loadManifest('deploy/daemonset.yaml');
const sidecarPod = defined(findDoc<IDaemonSet>(daemonset, 'DaemonSet', 'cgfreeze').spec?.template.spec, 'pod spec');
const sidecarContainer = defined(sidecarPod.containers[0], 'sidecar container');
const configMaps = daemonset.filter((d) => d.kind === 'ConfigMap') as IConfigMap[];
const clientManifest = loadManifest('deploy/client-example.yaml');
const clientPod = defined(findDoc<IPod>(clientManifest, 'Pod', 'cgfreeze-client-example').spec, 'client pod spec');
const clientContainer = defined(clientPod.containers[0], 'client container');
const socketArg = defined(
  sidecarContainer.args?.find((a) => a.startsWith('--socket=')),
  '--socket',
);
const metricsArg = defined(
  sidecarContainer.args?.find((a) => a.startsWith('--metrics-listen=')),
  '--metrics-listen',
);
const SOCKET_IN_POD = socketArg.slice('--socket='.length);
const METRICS_PORT = Number(metricsArg.split(':').at(-1));
const PAUSABLE = { 'cgfreeze.io/pausable': 'true' };

const run = promisify(execFile);
const tmp = tempDir();
const dist = join(tmp, 'dist');

/** The manifest's host paths on a lab node: the lab's engines, this test's socket and lease directories. */
function labNode(lab: Lab, dir: string, cgroupns: LabNode['cgroupns']): LabNode {
  const { docker, containerd, podman } = lab.env;
  return {
    cgroupns,
    hostPaths: {
      '/run/cgfreeze': join(dir, 'run'),
      '/var/lib/cgfreeze': join(dir, 'state'),
      // The lab's dockerd resolves these in its own mount namespace: the v2 lab has cgroup2 there.
      '/sys/fs/cgroup': '/sys/fs/cgroup',
      '/proc': '/proc',
      '/run/containerd/io.containerd.runtime.v2.task': containerd.taskDir,
      '/run/containerd/runc': containerd.runcRoot,
      // The lab's containerd runs without the CRI plugin.
      '/var/lib/containerd/io.containerd.grpc.v1.cri': join(dir, 'no-cri'),
      '/var/lib/docker/containers': `${docker.dataRoot}/containers`,
      '/var/run/docker/runtime-runc': docker.runcRoot,
      '/var/lib/containers/storage/overlay-containers': `${podman.root}/overlay-containers`,
      '/run/containers/storage/overlay-containers': `${podman.runroot}/overlay-containers`,
    },
  };
}

/**
 * The v2 lab is a mount namespace of its own, and PID 1 is not in it: on a node, the sidecar reads
 * the cgroup mounts from <host-root>/proc/1/mountinfo; here from a process of the lab's view.
 */
function labMountinfo(lab: Lab): LabExtra {
  if (lab.mode === 'host') return {};
  return { args: [`--mountinfo=/host/proc/${lab.env.pids.containerd}/mountinfo`] };
}

/** Runs `fn` with a client of the sidecar at `socketPath`, closed afterwards. */
async function withClient(socketPath: string, fn: (client: CgfreezeClient) => Promise<void>): Promise<void> {
  const client = new CgfreezeClient({ socketPath });
  try {
    await fn(client);
  } finally {
    client.close();
  }
}

/** What deploy/client-example.mjs prints: the target's result, or the error's code. */
interface ClientAnswer {
  ok: boolean;
  target?: string;
  state?: string;
  code?: string;
}

beforeAll(async () => {
  // The image gets the current sources, whatever state dist/ is in.
  await run(join(REPO, 'node_modules/.bin/tsc'), ['-p', join(REPO, 'tsconfig.build.json'), '--outDir', dist], {
    cwd: REPO,
    timeout: 300_000,
  });
}, 600_000);

afterAll(() => removeTemp(tmp));

describe.each(['host', 'v2'] as const)('the manifest sidecar in the %s lab', (mode) => {
  const lab = getLab(mode);
  const tag = Math.random().toString(36).slice(2, 8);
  const dir = join(tmp, mode);
  // As containerd and CRI-O run an unprivileged pod: its own cgroup namespace on a cgroup v2 node, the
  // host's on a v1 one.
  const node = labNode(lab, dir, mode === 'v2' ? 'private' : 'host');
  const socketPath = nodePath(sidecarPod, sidecarContainer, node, SOCKET_IN_POD);
  const name = `cgfs-sidecar-${tag}`;
  const started: string[] = [];
  let pausable: LabContainer;
  let unlabelled: LabContainer;
  let pod: K8sPod;
  let podRef: string;
  let root: CgfreezeClient;
  let probes: PodRun;

  // Asynchronous on purpose: a worker blocked for minutes in a build stops answering vitest.
  const docker = async (args: string[]): Promise<string> =>
    (
      await run(lab.env.docker.cli, ['-H', lab.env.docker.host, ...args], { encoding: 'utf8', timeout: 300_000 })
    ).stdout.trim();
  const logs = async (container: string): Promise<string> =>
    (await run(lab.env.docker.cli, ['-H', lab.env.docker.host, 'logs', container], { encoding: 'utf8' })).stderr;
  const exitCode = async (args: string[]): Promise<number> =>
    docker(args).then(
      () => 0,
      (err: { code?: unknown }) => (typeof err.code === 'number' ? err.code : -1),
    );

  /** Runs the sidecar of `pod` (the manifest's, or a variant of it) on `sidecarNode`. */
  async function runSidecar(containerName: string, sidecarNode: LabNode, pod = sidecarPod): Promise<PodRun> {
    const spec = podRun(pod, sidecarContainer.name, {
      name: containerName,
      node: sidecarNode,
      configMaps,
      scratch: join(dir, containerName),
      extra: labMountinfo(lab),
    });
    started.push(containerName);
    await docker(['run', '-d', ...spec.args]);
    return spec;
  }

  /** Waits until the readiness probe passes, or the container stops (then its logs are the error). */
  async function ready(containerName: string, spec: PodRun): Promise<void> {
    const readiness = defined(spec.readiness, 'readinessProbe');
    const end = Date.now() + 60_000;
    while ((await exitCode(['exec', containerName, ...readiness])) !== 0) {
      if ((await docker(['inspect', '-f', '{{.State.Running}}', containerName])) !== 'true' || Date.now() > end)
        throw new Error(`${containerName} did not get ready:\n${await logs(containerName)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  async function startSidecar(containerName: string, sidecarNode: LabNode, pod = sidecarPod): Promise<PodRun> {
    const spec = await runSidecar(containerName, sidecarNode, pod);
    await ready(containerName, spec);
    return spec;
  }

  /** Waits until the container has stopped; its logs. */
  async function stopped(containerName: string): Promise<string> {
    const running = async (): Promise<boolean> =>
      (await docker(['inspect', '-f', '{{.State.Running}}', containerName])) === 'true';
    const end = Date.now() + 60_000;
    while (await running()) {
      if (Date.now() > end) throw new Error(`${containerName} is still running`);
      await new Promise((r) => setTimeout(r, 200));
    }
    return logs(containerName);
  }

  /** The manifest's sidecar with one privilege taken away, on a node of its own (socket, leases). */
  function variant(label: string, change: (pod: IPodSpec, container: IContainer) => void) {
    const pod = structuredClone(sidecarPod);
    const container = defined(pod.containers[0], 'sidecar container');
    change(pod, container);
    const variantNode = labNode(lab, join(dir, label), 'host');
    return {
      pod,
      node: variantNode,
      name: `${name}-${label}`,
      socket: nodePath(pod, container, variantNode, SOCKET_IN_POD),
    };
  }

  /** The client example pod, its args replaced by one request; its JSON answer. */
  async function client(args: string[]): Promise<ClientAnswer> {
    const spec = podRun({ ...clientPod, containers: [{ ...clientContainer, args }] }, clientContainer.name, {
      name: `cgfs-client-${tag}-${Math.random().toString(36).slice(2, 6)}`,
      node,
      configMaps: [],
      scratch: dir,
    });
    const out = await docker(['run', '--rm', ...spec.args]).catch((err: { stdout?: string }) => err.stdout ?? '');
    return JSON.parse(out.trim().split('\n').at(-1) ?? '') as ClientAnswer;
  }

  beforeAll(async () => {
    await run('bash', [join(REPO, 'deploy/build-rootfs.sh')], {
      cwd: REPO,
      env: { ...process.env, DIST: dist, DOCKER: `${lab.env.docker.cli} -H ${lab.env.docker.host}` },
      timeout: 300_000,
    });
    pausable = await lab.docker({ name: `cgfs-pausable-${tag}`, labels: PAUSABLE });
    unlabelled = await lab.docker({ name: `cgfs-plain-${tag}` });
    pod = await lab.k8sPod({ namespace: 'batch', annotations: PAUSABLE });
    podRef = `${pod.namespace}/${pod.name}/app`;
    probes = await startSidecar(name, node);
    root = new CgfreezeClient({ socketPath });
  }, 600_000);

  afterEach(async (ctx) => {
    if (ctx.task.result?.state !== 'fail') return;
    for (const c of started) process.stderr.write(`--- ${c}\n${await logs(c).catch(String)}`);
  });

  afterAll(async () => {
    root?.close();
    for (const c of started) await docker(['rm', '-f', c]).catch(() => undefined);
    await docker(['rmi', '-f', sidecarContainer.image ?? '']).catch(() => undefined);
  });

  it('passes the manifest readiness and liveness probes, which fail where the socket does not answer', async () => {
    expect(probes.readiness).toBeDefined();
    expect(probes.liveness).toBeDefined();
    expect(await exitCode(['exec', name, ...(probes.readiness ?? [])])).toBe(0);
    expect(await exitCode(['exec', name, ...(probes.liveness ?? [])])).toBe(0);
    // The same command in the same image with no sidecar behind the socket.
    const [probe, ...probeArgs] = probes.liveness ?? [];
    const bare = ['run', '--rm', '--network', 'none', '--entrypoint', probe ?? '', sidecarContainer.image ?? ''];
    expect(await exitCode([...bare, ...probeArgs])).not.toBe(0);
  });

  it('lets the non-root caller of the policy group pause and unpause a labelled container and a pod container', async () => {
    for (const [target, c] of [
      [pausable.name, pausable],
      [podRef, pod.containers['app']],
    ] as const) {
      expect(await client(['pause', target, '60s'])).toMatchObject({ ok: true, target, state: 'frozen' });
      expect(kernelFreezerState(c?.cgroupDir ?? '')).toBe('frozen');
      expect(await client(['unpause', target])).toMatchObject({ ok: true, target, state: 'thawed' });
      expect(kernelFreezerState(c?.cgroupDir ?? '')).toBe('thawed');
    }
    // The audit log (stderr) names the caller as the kernel reported it across the container boundary.
    const entries = (await logs(name))
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { action: string; target: string | null; result: string; who: { uid?: number } });
    const pausedPod = entries.find((e) => e.action === 'pause' && e.target === podRef && e.result === 'ok');
    expect(pausedPod?.who.uid).toBe(clientPod.securityContext?.runAsUser);
  });

  it('refuses that caller a container without the label', async () => {
    expect(await client(['pause', unlabelled.name])).toMatchObject({ ok: false, code: 'ERR_POLICY_DENIED' });
    expect(kernelFreezerState(unlabelled.cgroupDir)).toBe('thawed');
  });

  it('serves GET /metrics on the metrics port, and no action', async () => {
    // One pause that the metrics must count, whoever else paused before.
    await root.pause(pausable.name);
    await root.unpause(pausable.name);
    const script = `
      const http = require('node:http');
      const ask = (method, path, body) => new Promise((resolve) => {
        const req = http.request({ host: '127.0.0.1', port: ${METRICS_PORT}, method, path,
          headers: { 'content-type': 'application/json' } }, (res) => {
          let text = ''; res.on('data', (d) => (text += d)); res.on('end', () => resolve({ status: res.statusCode, text }));
        });
        req.on('error', (e) => resolve({ status: 0, text: e.message }));
        req.end(body);
      });
      (async () => {
        const metrics = await ask('GET', '/metrics');
        const pause = await ask('POST', '/v1/pause', ${JSON.stringify(JSON.stringify({ target: pausable.name }))});
        console.log(JSON.stringify({ metrics, pause }));
      })();`;
    const [nodeBin] = probes.liveness ?? [];
    const answer = JSON.parse(await docker(['exec', name, nodeBin ?? '', '-e', script])) as {
      metrics: { status: number; text: string };
      pause: { status: number };
    };
    expect(answer.metrics.status).toBe(200);
    expect(answer.metrics.text).toMatch(/^cgfreeze_operations_total\{operation="pause",result="ok"\} \d+$/m);
    expect(answer.pause.status).toBeGreaterThanOrEqual(400);
    expect(answer.pause.status).toBeLessThan(500);
    expect(kernelFreezerState(pausable.cgroupDir)).toBe('thawed');
  });

  it('refuses to freeze its own container', async () => {
    await expect(root.pause(name)).rejects.toMatchObject({ code: 'ERR_PROTECTED_CGROUP' });
  });

  if (mode === 'host')
    it('stays within its memory limit under 200 concurrent callers, 5 pause/unpause cycles each', async () => {
      const limit = memoryLimit(sidecarContainer);
      const id = await docker(['inspect', '-f', '{{.Id}} {{.State.Pid}}', name]);
      const [containerId, pid] = id.split(' ');
      const status = (): Record<string, number> =>
        Object.fromEntries(
          readFileSync(`/proc/${pid}/status`, 'utf8')
            .split('\n')
            .filter((l) => /^(VmRSS|VmHWM|RssAnon|RssFile):/.test(l))
            .map((l): [string, number] => [l.split(':')[0] ?? '', Number(/(\d+) kB/.exec(l)?.[1]) * 1024]),
        );
      const memcg = `/sys/fs/cgroup/memory/docker/${containerId}`;
      const idle = status();
      const targets = [pausable.name, podRef];
      let busy = 0;
      // ERR_BUSY (beyond --max-concurrent) is the sidecar asking to come back: callers retry.
      const retried = async (op: () => Promise<unknown>): Promise<void> => {
        for (;;) {
          try {
            await op();
            return;
          } catch (err) {
            if ((err as { code?: string }).code !== 'ERR_BUSY') throw err;
            busy++;
            await new Promise((r) => setTimeout(r, 50));
          }
        }
      };
      const t = Date.now();
      await Promise.all(
        Array.from({ length: 200 }, async (_, i) => {
          const caller = new CgfreezeClient({ socketPath });
          const target = targets[i % targets.length] ?? '';
          try {
            for (let round = 0; round < 5; round++) {
              await retried(() => caller.pause(target));
              await retried(() => caller.unpause(target));
            }
          } finally {
            caller.close();
          }
        }),
      );
      const loaded = status();
      const mib = (b: number | undefined): string => `${((b ?? 0) / 2 ** 20).toFixed(1)} MiB`;
      process.stdout.write(
        `[sidecar memory] limit ${mib(limit)}; idle RSS ${mib(idle['VmRSS'])} (anon ${mib(idle['RssAnon'])}); ` +
          `200 concurrent callers x 5 pause/unpause in ${Date.now() - t} ms (${busy} ERR_BUSY retries): RSS ${mib(loaded['VmRSS'])}, ` +
          `peak RSS ${mib(loaded['VmHWM'])} (anon ${mib(loaded['RssAnon'])}); container cgroup peak ` +
          `${mib(Number(readFileSync(`${memcg}/memory.max_usage_in_bytes`, 'utf8')))}\n`,
      );
      for (const c of [pausable, pod.containers['app']]) expect(kernelFreezerState(c?.cgroupDir ?? '')).toBe('thawed');
      expect(loaded['VmHWM']).toBeLessThan(limit);
      // The cgroup never had to reclaim to stay under the limit (probes included).
      expect(readFileSync(`${memcg}/memory.failcnt`, 'utf8').trim()).toBe('0');
    }, 120_000);

  // Each privilege the sidecar keeps, taken away one at a time: what stops working.
  if (mode === 'host') {
    it('needs supplementalGroups to give its socket to the policy group: it has no CAP_CHOWN', async () => {
      const v = variant('no-group', (pod) => {
        delete pod.securityContext?.supplementalGroups;
      });
      await runSidecar(v.name, v.node, v.pod);
      expect(await stopped(v.name)).toMatch(/EPERM.*chown/);
    });

    it('needs uid 0: as another uid it reads no engine state and writes no freezer file', async () => {
      const v = variant('uid-1000', (_, c) => {
        c.securityContext = { ...c.securityContext, runAsUser: 1000, runAsGroup: 1000 };
      });
      // Not for want of its own directories.
      for (const d of ['/run/cgfreeze', '/var/lib/cgfreeze']) {
        const hostDir = defined(v.node.hostPaths[d], d);
        mkdirSync(hostDir, { recursive: true });
        chmodSync(hostDir, 0o777);
      }
      await startSidecar(v.name, v.node, v.pod);
      await withClient(v.socket, async (asUid1000) => {
        await expect(asUid1000.pause(pausable.name)).rejects.toMatchObject({ code: 'ERR_CONTAINER_NOT_FOUND' });
        await expect(asUid1000.pause(pausable.cgroupDir)).rejects.toMatchObject({ code: 'EACCES' });
      });
      expect(kernelFreezerState(pausable.cgroupDir)).toBe('thawed');
    });

    it("needs the host's /proc at /host/proc to resolve references", async () => {
      const v = variant('no-proc', (_, c) => {
        c.volumeMounts = (c.volumeMounts ?? []).filter((m) => m.mountPath !== '/host/proc');
      });
      await startSidecar(v.name, v.node, v.pod);
      await withClient(v.socket, async (noProc) => {
        await expect(noProc.pause(pausable.name)).rejects.toMatchObject({ code: 'ERR_FREEZER_UNAVAILABLE' });
      });
    });

    it('needs hostPID to see host processes: without it, it freezes a cgroup that holds "containerd"', async () => {
      const fake = join(dir, 'fake-engine', 'containerd');
      mkdirSync(join(dir, 'fake-engine'), { recursive: true });
      copyFileSync('/bin/sleep', fake);
      chmodSync(fake, 0o755);
      const scratch = new ScratchCgroups();
      const v = variant('no-hostpid', (pod) => {
        pod.hostPID = false;
      });
      try {
        const engine = await scratch.make(1, 'engine', fake);
        await expect(root.pause(engine)).rejects.toMatchObject({ code: 'ERR_PROTECTED_CGROUP' });
        await startSidecar(v.name, v.node, v.pod);
        await withClient(v.socket, async (blind) => {
          expect(await blind.pause(engine)).toMatchObject({ state: 'frozen' });
          expect(await blind.unpause(engine)).toMatchObject({ state: 'thawed' });
        });
      } finally {
        await scratch.cleanup();
      }
    });
  }

  if (mode === 'v2')
    it('needs the cgroup tree mounted writable', async () => {
      const v = variant('cgroup-ro', (_, c) => {
        c.volumeMounts = (c.volumeMounts ?? []).map((m) =>
          m.mountPath === '/host/sys/fs/cgroup' ? { ...m, readOnly: true } : m,
        );
      });
      await startSidecar(v.name, v.node, v.pod);
      await withClient(v.socket, async (readOnly) => {
        await expect(readOnly.pause(pausable.name)).rejects.toMatchObject({ code: 'EROFS' });
      });
      expect(kernelFreezerState(pausable.cgroupDir)).toBe('thawed');
    });
});
