import { chmodSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CgfreezeClient } from '../../src/client/index.js';
import { type Sidecar, startServer } from '../../src/serve/index.js';
import { type LabContainer, getLab } from '../helpers/lab.js';
import { asUid } from './as-uid.js';
import { auditLines, removeTemp, tempDir } from './helpers.js';
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
