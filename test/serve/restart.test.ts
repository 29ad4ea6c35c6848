import { existsSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CgfreezeClient } from '../../src/client/index.js';
import { ScratchCgroups, SidecarProcess, removeTemp, sleep, tempDir, until } from './helpers.js';
import { kernelFreezerState } from '../helpers/kernel.js';

/** The sidecar as a separate process: crashes, restarts and signals are real. */
describe('cgfreeze serve across crashes and signals', () => {
  const cg = new ScratchCgroups();
  const tmp = tempDir();
  const socketPath = join(tmp, 's.sock');
  const leaseFile = join(tmp, 'leases.json');
  const args = ['--socket', socketPath, '--lease-file', leaseFile, '--audit-log', join(tmp, 'audit.log')];
  const running: SidecarProcess[] = [];
  let v1: string;
  let v2: string;

  const start = async (extra: string[] = []): Promise<SidecarProcess> => {
    const p = new SidecarProcess([...args, ...extra]);
    running.push(p);
    await p.ready();
    return p;
  };
  const leasesOnDisk = (): string[] =>
    (JSON.parse(readFileSync(leaseFile, 'utf8')) as { leases: Array<{ cgroupDir: string }> }).leases.map(
      (l) => l.cgroupDir,
    );

  beforeAll(async () => {
    v1 = await cg.make(1, 'crash');
    v2 = await cg.make(2, 'crash');
  });

  afterAll(async () => {
    for (const p of running) p.kill('SIGKILL');
    await Promise.all(running.map((p) => p.exited()));
    await cg.cleanup();
    removeTemp(tmp);
  });

  it('thaws, on restart, a lease that expired while the sidecar was dead (kill -9)', async () => {
    const first = await start();
    const client = new CgfreezeClient({ socketPath });
    const paused = await client.pause(v1, { ttl: '2s' });
    client.close();
    first.kill('SIGKILL');
    await first.exited();
    expect(leasesOnDisk()).toEqual([v1]);
    // Nobody is left to thaw it: it stays frozen past its expiry.
    await until('the lease to pass its expiry', () => Date.now() > Date.parse(paused.lease?.expiresAt ?? '') + 200);
    expect(kernelFreezerState(v1)).toBe('frozen');
    // The restarted sidecar thaws it before it starts listening.
    const second = await start();
    expect(kernelFreezerState(v1)).toBe('thawed');
    expect(leasesOnDisk()).toEqual([]);
    second.kill('SIGKILL');
    await second.exited();
  });

  it('keeps a lease that has time left across a kill -9 and thaws it when it expires', async () => {
    const first = await start();
    const client = new CgfreezeClient({ socketPath });
    const paused = await client.pause(v2, { ttl: '12s' });
    client.close();
    first.kill('SIGKILL');
    await first.exited();
    const second = await start();
    const afterRestart = kernelFreezerState(v2);
    const observedAt = Date.now();
    const expiresAt = Date.parse(paused.lease?.expiresAt ?? '');
    // Observed before the expiry, the lease must still hold; a machine too slow to restart the sidecar
    // within the TTL fails here rather than letting a sidecar that thaws everything at start pass.
    expect(observedAt, 'the sidecar restarted within the lease').toBeLessThan(expiresAt);
    expect(afterRestart).toBe('frozen');
    await until('the restarted sidecar to thaw v2', () => kernelFreezerState(v2) === 'thawed');
    expect(Date.now()).toBeGreaterThanOrEqual(expiresAt);
    await until('the lease file to drop v2', () => leasesOnDisk().length === 0);
    second.kill('SIGKILL');
    await second.exited();
  });

  it('opens its audit log again on SIGHUP, after a rotation moved it away', async () => {
    const sidecar = await start();
    const auditLog = join(tmp, 'audit.log');
    const client = new CgfreezeClient({ socketPath });
    await client.pause(v1);
    renameSync(auditLog, `${auditLog}.1`);
    sidecar.kill('SIGHUP');
    await until('the reopened audit log', () => existsSync(auditLog));
    await client.unpause(v1);
    client.close();
    const lines = (file: string): string[] =>
      readFileSync(file, 'utf8')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => (JSON.parse(l) as { action: string }).action);
    expect(lines(`${auditLog}.1`).at(-1)).toBe('pause');
    expect(lines(auditLog)).toEqual(['unpause']);
    sidecar.kill('SIGTERM');
    expect(await sidecar.exited()).toBe(0);
    expect(kernelFreezerState(v1)).toBe('thawed');
  });

  it('on SIGTERM leaves what it froze by default, and thaws it with --on-sigterm thaw', async () => {
    const leave = await start();
    let client = new CgfreezeClient({ socketPath });
    await client.pause(v1);
    client.close();
    leave.kill('SIGTERM');
    expect(await leave.exited()).toBe(0);
    expect(kernelFreezerState(v1)).toBe('frozen');
    expect(leasesOnDisk()).toEqual([v1]);

    // A pause without TTL survives the restart; the thawing sidecar releases it on SIGTERM.
    const thaw = await start(['--on-sigterm', 'thaw']);
    await sleep(100);
    expect(kernelFreezerState(v1)).toBe('frozen');
    client = new CgfreezeClient({ socketPath });
    expect((await client.list({ leased: true })).map((i) => i.cgroupDir)).toEqual([v1]);
    client.close();
    thaw.kill('SIGTERM');
    expect(await thaw.exited()).toBe(0);
    expect(kernelFreezerState(v1)).toBe('thawed');
    expect(leasesOnDisk()).toEqual([]);
  });
});
