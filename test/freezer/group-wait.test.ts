// A sync group waits for all its members together: each keeps its own deadline and rollback, and reports
// when it reached its state, not when the group call returned.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type StuckTask, type Workload, startStuckTask, startWorkload } from '../../scripts/workload/index.js';
import { type CgfreezeError, freezeSync, state, thawSync } from '../../src/index.js';
import { type Scratch, createScratch } from '../helpers/scratch.js';

const DEADLINE_MS = 500;

let scratch: Scratch;
beforeAll(() => {
  scratch = createScratch();
});
afterAll(async () => {
  await scratch.cleanup();
});

/** Busy workloads in the first and last cgroup, a task that cannot be frozen in the middle one. */
async function withGroup(v: 1 | 2, fn: (dirs: string[], busy: Workload[]) => Promise<void>): Promise<void> {
  const dirs = [scratch.make(v), scratch.make(v), scratch.make(v)];
  const started: Array<Workload | StuckTask> = [];
  try {
    const first = await startWorkload(dirs[0] as string);
    started.push(first);
    started.push(await startStuckTask(dirs[1] as string));
    const last = await startWorkload(dirs[2] as string);
    started.push(last);
    await fn(dirs, [first, last]);
  } finally {
    for (const dir of dirs) if (state(dir).self) thawSync(dir);
    for (const s of started) await s.stop();
  }
}

describe.each([1, 2] as const)('cgroup v%i', (v) => {
  it('frozen members report when they froze; a stuck one fails at its own deadline, rolled back', async () => {
    await withGroup(v, async (dirs, busy) => {
      const t0 = performance.now();
      const group = freezeSync(dirs, { timeoutMs: DEADLINE_MS });
      const took = performance.now() - t0;
      expect(group.results.map((r) => (r.ok ? r.result.state : r.error.code))).toEqual([
        'frozen',
        'ERR_FREEZE_TIMEOUT',
        'frozen',
      ]);
      const frozenAfterMs = group.results.flatMap((r) => (r.ok ? [r.result.elapsedMs] : []));
      expect(Math.max(...frozenAfterMs)).toBeLessThan(DEADLINE_MS / 2);
      expect(took).toBeGreaterThanOrEqual(DEADLINE_MS);
      expect(took).toBeLessThan(2 * DEADLINE_MS);
      expect(state(dirs[1] as string)).toMatchObject({ state: 'thawed', self: false });
      for (const w of busy) expect(await w.isStalled(150)).toBe(true);
    });
  });

  it('an atomic group stops at the stuck member and rolls every member back', async () => {
    await withGroup(v, async (dirs, busy) => {
      const t0 = performance.now();
      let caught: unknown;
      try {
        freezeSync(dirs, { timeoutMs: DEADLINE_MS, atomic: true });
      } catch (err) {
        caught = err;
      }
      expect(performance.now() - t0).toBeLessThan(2 * DEADLINE_MS);
      expect(caught).toMatchObject({ code: 'ERR_ATOMIC_ROLLBACK' });
      expect((caught as CgfreezeError).failures?.map((f) => [f.target, f.error.code])).toEqual([
        [dirs[1], 'ERR_FREEZE_TIMEOUT'],
      ]);
      for (const dir of dirs) expect(state(dir).self).toBe(false);
      for (const w of busy) expect(await w.waitForProgress()).toBe(true);
    });
  });
});
