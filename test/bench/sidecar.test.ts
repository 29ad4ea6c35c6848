import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Subject } from '../../scripts/bench/methods.js';
import { BenchSidecar } from '../../scripts/bench/sidecar.js';
import {
  ScratchWorkload,
  type WarmAnchor,
  buildRawLoop,
  removeRunParents,
  removeShmDir,
} from '../../scripts/bench/workload.js';

// The sidecar method of the bench: `cgfreeze serve` from dist/ as a child
// process, driven through cgfreeze/client on a v2 scratch cgroup.
let sidecar: BenchSidecar;
let workload: ScratchWorkload;
let subject: Subject;

beforeAll(async () => {
  buildRawLoop();
  workload = await ScratchWorkload.start('v2', 1);
  subject = { mode: 'v2', cgroupDir: workload.dir, counter: workload.counter };
  sidecar = await BenchSidecar.start(undefined);
});

afterAll(async () => {
  await sidecar.stop();
  await workload.stop();
  removeShmDir();
  removeRunParents();
});

/** Operations of one kind the sidecar counted (its documented metric, summed over results). */
async function operations(operation: 'pause' | 'unpause'): Promise<number> {
  const text = await sidecar.client.metrics();
  const re = new RegExp(`^cgfreeze_operations_total\\{[^}]*operation="${operation}"[^}]*\\} (\\d+)$`, 'gm');
  return [...text.matchAll(re)].reduce((sum, m) => sum + Number(m[1]), 0);
}

describe('the sidecar as a bench method', () => {
  it('pauses and unpauses through the client on one kept-alive connection, with and without a TTL', async () => {
    const [plain, ttl] = sidecar.methods();
    expect([plain?.id, ttl?.id]).toEqual(['sidecar', 'sidecar-ttl']);
    const pausesBefore = await operations('pause');
    const unpausesBefore = await operations('unpause');
    for (const method of [plain, ttl]) {
      const run = await method!.run(subject, 6);
      expect(run.samples).toHaveLength(6);
      expect(run.failures).toBe(0);
      expect(run.newConnections).toBe(0);
      expect(run.daemonCpuNs).toBeGreaterThan(0);
      for (const s of run.samples) expect(Math.min(s.freezeNs, s.thawNs, s.resumeNs)).toBeGreaterThan(0);
    }
    expect((await operations('pause')) - pausesBefore).toBe(12);
    expect((await operations('unpause')) - unpausesBefore).toBe(12);
    // Nothing is left frozen or leased.
    expect(await sidecar.client.status(workload.dir)).toMatchObject({ state: 'thawed', lease: null });
  });

  it('counts a connection opened during the samples, which breaks its keep-alive label', async () => {
    // A stand-in anchor, read at the start of each cycle when no request is in flight: on the
    // third cycle it drops the client's kept-alive connection, so that cycle must open a new one.
    let reads = 0;
    const dropper = {
      dir: '',
      frozen: () => {
        if (++reads === 3) sidecar.client.close();
        return false;
      },
      close: () => undefined,
    } as unknown as WarmAnchor;
    const run = await sidecar.methods()[0]!.run({ ...subject, warmAnchor: dropper }, 5);
    expect(run.samples).toHaveLength(5);
    expect(run.newConnections).toBe(1);
  });

  it('stops on SIGTERM and removes its files', async () => {
    const other = await BenchSidecar.start(undefined);
    expect(existsSync(other.dir)).toBe(true);
    await other.stop();
    expect(existsSync(other.dir)).toBe(false);
    await expect(other.client.health()).rejects.toThrow();
  });
});
