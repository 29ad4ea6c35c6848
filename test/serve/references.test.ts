import { chmodSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CgfreezeClient } from '../../src/client/index.js';
import { cgroupOwnerSync, thawSync } from '../../src/index.js';
import { type Sidecar, startServer } from '../../src/serve/index.js';
import { type K8sPod, type LabContainer, getLab } from '../helpers/lab.js';
import { asUid } from './as-uid.js';
import { auditLines, removeTemp, tempDir, until } from './helpers.js';
import { kernelFreezerState } from '../helpers/kernel.js';

const NOBODY = 65534;

/** Container references (names, labels) through the sidecar, against the lab's own dockerd. */
describe('cgfreeze serve with lab containers', () => {
  const lab = getLab('host');
  const tag = Math.random().toString(36).slice(2, 8);
  const tmp = tempDir();
  const socketPath = join(tmp, 's.sock');
  const auditLog = join(tmp, 'audit.log');
  let pausable: LabContainer;
  let plain: LabContainer;
  let third: LabContainer;
  let sidecar: Sidecar;
  let client: CgfreezeClient;

  beforeAll(async () => {
    chmodSync(tmp, 0o755);
    [pausable, plain, third] = await Promise.all([
      lab.docker({ name: `cgfs-ok-${tag}`, labels: { 'cgfreeze.io/pausable': 'true' } }),
      lab.docker({ name: `cgfs-no-${tag}` }),
      lab.docker({ name: `cgfs-3-${tag}` }),
    ]);
    sidecar = await startServer({
      socketPath,
      socketMode: 0o666,
      leaseFile: join(tmp, 'leases.json'),
      audit: { file: auditLog },
      resolve: {
        engines: ['docker'],
        docker: [{ dataRoot: lab.env.docker.dataRoot, execRoot: lab.env.docker.execRoot }],
      },
      policy: {
        rules: [
          { callers: { uids: [0] } },
          { callers: { uids: [NOBODY] }, targets: { labels: { 'cgfreeze.io/pausable': 'true' } } },
        ],
      },
    });
    client = new CgfreezeClient({ socketPath });
  }, 300_000);

  afterAll(async () => {
    client?.close();
    await sidecar?.close();
    removeTemp(tmp);
  });

  it('pauses and unpauses a container by name', async () => {
    const paused = await client.pause(plain.name);
    expect(paused).toMatchObject({ ok: true, state: 'frozen', cgroupDir: plain.cgroupDir });
    expect(kernelFreezerState(plain.cgroupDir)).toBe('frozen');
    expect(await client.status(plain.name)).toMatchObject({
      state: 'frozen',
      id: plain.id,
      engine: 'docker',
      name: plain.name,
    });
    await client.unpause(plain.name);
    expect(kernelFreezerState(plain.cgroupDir)).toBe('thawed');
    await expect(client.pause(`cgfs-missing-${tag}`)).rejects.toMatchObject({ code: 'ERR_CONTAINER_NOT_FOUND' });
  });

  it('refuses to unpause a container its engine paused', async () => {
    const enginePaused = await lab.docker({ name: `cgfs-ep-${tag}`, state: 'paused' });
    await expect(client.unpause(enginePaused.name)).rejects.toMatchObject({ code: 'ERR_PAUSED_BY_ENGINE' });
    expect(kernelFreezerState(enginePaused.cgroupDir)).toBe('frozen');
    await enginePaused.remove();
  });

  it('refuses to unpause by its cgroup path a container its engine paused, and a lease ending then leaves it paused', async () => {
    const docker = (verb: string, c: LabContainer): Promise<string> =>
      lab.exec([lab.env.docker.cli, '-H', lab.env.docker.host, verb, c.id]);
    const c = await lab.docker({ name: `cgfs-epp-${tag}` });
    await docker('pause', c);
    // The library's reverse lookup: whose cgroup this is, by the engine's state.
    const dockerOnly = {
      engines: ['docker' as const],
      docker: [{ dataRoot: lab.env.docker.dataRoot, execRoot: lab.env.docker.execRoot }],
    };
    expect(cgroupOwnerSync(c.cgroupDir, dockerOnly)).toMatchObject({ id: c.id, name: c.name, pausedByEngine: true });
    expect(cgroupOwnerSync(dirname(c.cgroupDir), dockerOnly)).toBeUndefined();
    await expect(client.unpause(c.cgroupDir)).rejects.toMatchObject({ code: 'ERR_PAUSED_BY_ENGINE' });
    expect(kernelFreezerState(c.cgroupDir)).toBe('frozen');
    await docker('unpause', c);
    // A lease; then someone thaws it and docker pauses it: the lease's end leaves docker's pause alone.
    await client.pause(c.cgroupDir, { ttl: '1500ms' });
    thawSync(c.cgroupDir);
    await docker('pause', c);
    await until('the expiry to be audited', () =>
      auditLines(auditLog).some((l) => l.target === c.cgroupDir && l.reason === 'expired'),
    );
    expect(auditLines(auditLog).find((l) => l.target === c.cgroupDir && l.reason === 'expired')).toMatchObject({
      result: 'error',
      error: { code: 'ERR_PAUSED_BY_ENGINE' },
      leaseOwner: 'uid:0',
    });
    expect(kernelFreezerState(c.cgroupDir)).toBe('frozen');
    expect(sidecar.leases()).toEqual([]);
    await docker('unpause', c);
    expect(kernelFreezerState(c.cgroupDir)).toBe('thawed');
    await c.remove();
  });

  it('lets another uid pause only containers with the label its rule names', async () => {
    const denied = await asUid(NOBODY, socketPath, '/v1/pause', JSON.stringify({ target: plain.name }));
    expect(denied.status).toBe(403);
    expect(kernelFreezerState(plain.cgroupDir)).toBe('thawed');
    const allowed = await asUid(NOBODY, socketPath, '/v1/pause', JSON.stringify({ target: pausable.name, ttl: '30s' }));
    expect(allowed.status).toBe(200);
    expect(kernelFreezerState(pausable.cgroupDir)).toBe('frozen');
    expect(
      auditLines(auditLog)
        .filter((l) => l.result === 'denied')
        .at(-1),
    ).toMatchObject({ target: plain.name, who: { via: 'unix', uid: NOBODY } });
    await client.unpause(pausable.name);
    expect(kernelFreezerState(pausable.cgroupDir)).toBe('thawed');
  });

  it('lists to another uid only the containers it may act on', async () => {
    const res = await asUid(NOBODY, socketPath, `/v1/list?name=${encodeURIComponent(`cgfs-*-${tag}`)}`, '', {
      method: 'GET',
    });
    expect(res.status).toBe(200);
    const { items } = JSON.parse(res.text) as { items: Array<{ name: string }> };
    expect(items.map((i) => i.name)).toEqual([pausable.name]);
  });

  it('lists containers with label and state filters', async () => {
    const labelled = await client.list({ label: ['cgfreeze.io/pausable=true'] });
    expect(labelled.map((c) => c.name)).toEqual([pausable.name]);
    await client.pause(third.name);
    const frozen = (await client.list({ state: 'frozen', name: `cgfs-*-${tag}` })).map((c) => c.name);
    expect(frozen).toEqual([third.name]);
    await client.unpause(third.name);
  });

  it('answers a pathological name glob at once, with a container whose name is long', async () => {
    const long = await lab.docker({ name: `cgfs-${'a'.repeat(200)}-${tag}` });
    const glob = '*a'.repeat(12) + 'X';
    const started = performance.now();
    expect(await client.list({ name: glob })).toEqual([]);
    // A backtracking matcher took more than 30 s here; this one is linear.
    expect(performance.now() - started).toBeLessThan(1_000);
    expect((await client.list({ name: `*${'a'.repeat(150)}*` })).map((c) => c.name)).toEqual([long.name]);
    await long.remove();
  });

  it('leaves every container in the state its last request set under concurrent clients', async () => {
    const names = [pausable.name, plain.name, third.name];
    const clients = Array.from({ length: 6 }, () => new CgfreezeClient({ socketPath }));
    const before = auditLines(auditLog).length;
    await Promise.all(
      Array.from({ length: 150 }, (_, i) => {
        const c = clients[i % clients.length] as CgfreezeClient;
        const name = names[i % names.length] as string;
        return Math.random() < 0.5 ? c.pause(name) : c.unpause(name);
      }),
    );
    for (const c of clients) c.close();
    const log = auditLines(auditLog).slice(before);
    for (const [k, name] of names.entries()) {
      const last = log.filter((l) => l.target === name).at(-1);
      expect(last?.result).toBe('ok');
      const dir = [pausable, plain, third][k]?.cgroupDir as string;
      expect(kernelFreezerState(dir)).toBe(last?.action === 'pause' ? 'frozen' : 'thawed');
    }
    await client.unpause(names);
  });
});

/** A rule on Kubernetes identity (targets.k8s), against Kubernetes-shaped containerd pods of the lab. */
describe('cgfreeze serve and targets.k8s', () => {
  const lab = getLab('host');
  const tag = Math.random().toString(36).slice(2, 8);
  const ns = `cgfs-batch-${tag}`;
  const tmp = tempDir();
  const socketPath = join(tmp, 's.sock');
  let worker: K8sPod;
  let other: K8sPod;
  let sidecar: Sidecar;

  beforeAll(async () => {
    chmodSync(tmp, 0o755);
    [worker, other] = await Promise.all([
      lab.k8sPod({ namespace: ns, name: `worker-${tag}`, containers: ['app', 'side'] }),
      lab.k8sPod({ namespace: ns, name: `other-${tag}` }),
    ]);
    sidecar = await startServer({
      socketPath,
      socketMode: 0o666,
      leaseFile: join(tmp, 'leases.json'),
      audit: { file: join(tmp, 'audit.log') },
      resolve: {
        engines: ['containerd'],
        containerd: [{ state: lab.env.containerd.state, runtimeRoots: [lab.env.containerd.runcRoot] }],
      },
      policy: {
        rules: [
          {
            callers: { uids: [NOBODY] },
            actions: ['pause', 'unpause', 'list'],
            targets: { k8s: { namespaces: [ns], pods: ['worker-*'], containers: ['app'] } },
          },
        ],
      },
    });
  }, 300_000);

  afterAll(async () => {
    await sidecar?.close();
    removeTemp(tmp);
  });

  it('lets a caller pause exactly the pods and containers its rule names by namespace, pod and container', async () => {
    const app = worker.containers['app'] as LabContainer;
    const ask = (path: string, target: string): Promise<number> =>
      asUid(NOBODY, socketPath, path, JSON.stringify({ target })).then((r) => r.status);
    expect(await ask('/v1/pause', `${ns}/${worker.name}/app`)).toBe(200);
    expect(kernelFreezerState(app.cgroupDir)).toBe('frozen');
    expect(await ask('/v1/unpause', `${ns}/${worker.name}/app`)).toBe(200);
    expect(kernelFreezerState(app.cgroupDir)).toBe('thawed');
    // Another container of the pod, the whole pod, and a pod of another name: not named by the rule.
    expect(await ask('/v1/pause', `${ns}/${worker.name}/side`)).toBe(403);
    expect(await ask('/v1/pause', `${ns}/${worker.name}`)).toBe(403);
    expect(await ask('/v1/pause', `${ns}/${other.name}/app`)).toBe(403);
    expect(kernelFreezerState(worker.podDir)).toBe('thawed');
    expect(kernelFreezerState(other.podDir)).toBe('thawed');
  });
});
