import { readFile } from 'node:fs/promises';
import { mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type StuckTask, startStuckTask, startWorkload } from '../../scripts/workload/index.js';
import { CgfreezeError, freeze, freezeSync, thaw, thawSync } from '../../src/index.js';
import { UNTOUCHED, kernelView } from '../helpers/kernel.js';
import { type Scratch, createScratch } from '../helpers/scratch.js';
import { errorWith } from '../helpers/matchers.js';

let scratch: Scratch;
beforeAll(() => {
  scratch = createScratch();
});
afterAll(async () => {
  await scratch.cleanup();
});

async function withStuck<T>(dir: string, fn: (s: StuckTask) => Promise<T>): Promise<T> {
  const stuck = await startStuckTask(dir);
  try {
    return await fn(stuck);
  } finally {
    await stuck.stop();
  }
}

/** By the kernel's files: the rollback left the cgroup as if no freeze had been asked. */
function expectNothingFrozen(dir: string): void {
  expect(kernelView(dir)).toEqual(UNTOUCHED);
}

describe.each([1, 2] as const)('cgroup v%i with a task that cannot be frozen', (v) => {
  it('times out, rolls back, and names the culprit (E2)', async () => {
    const dir = scratch.make(v);
    const busy = await startWorkload(dir);
    try {
      await withStuck(dir, async (stuck) => {
        const err = await freeze(dir, { timeoutMs: 300 }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(CgfreezeError);
        const e = err as CgfreezeError;
        expect(e.code).toBe('ERR_FREEZE_TIMEOUT');
        expect(e.rolledBack).toBe(true);
        // pid, command, state letter and wait channel of the task that did not park (a killable D sleep).
        expect(e.culprits).toContainEqual(
          expect.objectContaining({ pid: stuck.pid, comm: 'fuse-stall', state: 'D', wchan: 'request_wait_answer' }),
        );
        expect(e.message).toContain(`pid ${stuck.pid}`);
        expectNothingFrozen(dir);
        // The busy task was parked while the freeze was pending; after the rollback it runs again.
        expect(await busy.waitForProgress()).toBe(true);
      });
    } finally {
      await busy.stop();
    }
  });

  it('a sync group writes every member before waiting on any: a stuck one does not delay the others', async () => {
    const [stuckDir, okDir] = [scratch.make(v), scratch.make(v)];
    const busy = await startWorkload(okDir);
    try {
      await withStuck(stuckDir, async () => {
        // How far the busy task counts in 400 ms, to tell "frozen at once" from "frozen at the stuck
        // member's 1 s deadline" with room for a shared machine's swings in CPU share.
        const r0 = busy.counter();
        await new Promise((r) => setTimeout(r, 400));
        const per400ms = busy.counter() - r0;
        const c0 = busy.counter();
        const result = freezeSync([stuckDir, okDir], { timeoutMs: 1000 });
        const counted = busy.counter() - c0;
        expect(result.results.map((r) => (r.ok ? r.result.state : r.error.code))).toEqual([
          'ERR_FREEZE_TIMEOUT',
          'frozen',
        ]);
        expect(counted).toBeLessThan(per400ms);
        expectNothingFrozen(stuckDir);
      });
    } finally {
      thawSync(okDir);
      await busy.stop();
    }
  });

  it('the sync API times out and rolls back the same way', async () => {
    const dir = scratch.make(v);
    await withStuck(dir, async (stuck) => {
      expect(() => freezeSync(dir, { timeoutMs: 200 })).toThrow(
        errorWith({ code: 'ERR_FREEZE_TIMEOUT', rolledBack: true }),
      );
      // Still blocked in FUSE, not parked: the rollback left it as it was.
      await expect.poll(() => readFileSync(`/proc/${stuck.pid}/wchan`, 'utf8')).toBe('request_wait_answer');
      expectNothingFrozen(dir);
    });
  });

  it('a freeze that timed out never completes later, even once the task is released (E7)', async () => {
    const dir = scratch.make(v);
    await withStuck(dir, async (stuck) => {
      await expect(freeze(dir, { timeoutMs: 200 })).rejects.toMatchObject({ code: 'ERR_FREEZE_TIMEOUT' });
      // Killing the FUSE server fails the pending request: the task leaves the kernel and could now freeze.
      process.kill(stuck.serverPid, 'SIGKILL');
      await expect
        .poll(() => readFileSync(`/proc/${stuck.pid}/wchan`, 'utf8'), { timeout: 5000 })
        .not.toBe('request_wait_answer');
      await new Promise((r) => setTimeout(r, 200));
      expectNothingFrozen(dir);
    });
  });

  it('aborting a pending freeze rolls it back', async () => {
    const dir = scratch.make(v);
    await withStuck(dir, async () => {
      const controller = new AbortController();
      const pending = freeze(dir, { signal: controller.signal, timeoutMs: 30_000 });
      setTimeout(() => controller.abort(new Error('changed my mind')), 50);
      const err = await pending.catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'ABORT_ERR', rolledBack: true });
      expect((err as CgfreezeError).cause).toEqual(new Error('changed my mind'));
      expectNothingFrozen(dir);
    });
  });

  it('a thaw cancels a pending freeze of the same cgroup, even one without a deadline', async () => {
    const dir = scratch.make(v);
    await withStuck(dir, async () => {
      // timeoutMs: Infinity waits as long as it takes; only the thaw ends it.
      const pending = freeze(dir, { timeoutMs: Infinity }).catch((e: unknown) => e);
      await new Promise((r) => setTimeout(r, 50));
      expect((await thaw(dir)).state).toBe('thawed');
      expect(await pending).toMatchObject({ code: 'ERR_CANCELED' });
      expectNothingFrozen(dir);
    });
  });

  it('16 concurrent pending freezes leave the event loop and the thread pool free', async () => {
    const dir = scratch.make(v);
    await withStuck(dir, async () => {
      const settled: boolean[] = [];
      const pending = Array.from({ length: 16 }, (_, i) =>
        freeze(dir, { timeoutMs: 1500 }).then(
          () => (settled[i] = true),
          (e: unknown) => {
            settled[i] = true;
            return e;
          },
        ),
      );
      // If any freeze held a libuv pool thread (4 of them), this read would queue behind them.
      await new Promise((r) => setTimeout(r, 50));
      const text = await readFile('/proc/self/status', 'utf8');
      expect(text).toContain('Pid:');
      expect(settled.filter(Boolean)).toHaveLength(0);
      const results = await Promise.all(pending);
      for (const r of results) {
        expect(r).toBeInstanceOf(CgfreezeError);
        expect(['ERR_FREEZE_TIMEOUT', 'ERR_CANCELED']).toContain((r as CgfreezeError).code);
      }
      expect(results.some((r) => (r as CgfreezeError).code === 'ERR_FREEZE_TIMEOUT')).toBe(true);
      expectNothingFrozen(dir);
    });
  });

  it('a cgroup removed while a freeze waits gives ERR_CGROUP_GONE (E4)', async () => {
    const parent = scratch.make(v);
    const child = `${parent}/child`;
    mkdirSync(child);
    const elsewhere = scratch.make(v);
    await withStuck(child, async (stuck) => {
      const pending = freeze(parent, { timeoutMs: 30_000 }).catch((e: unknown) => e);
      await new Promise((r) => setTimeout(r, 60));
      // With the event loop held, empty and remove the cgroup before the waiter looks again.
      writeFileSync(`${elsewhere}/cgroup.procs`, String(stuck.pid));
      rmdirSync(child);
      rmdirSync(parent);
      expect(await pending).toMatchObject({ code: 'ERR_CGROUP_GONE' });
      expect(kernelView(elsewhere)).toEqual(UNTOUCHED);
    });
  });
});

describe('the default deadline', () => {
  it('is 10 s for a freeze: a stuck one rejects after it, rolled back', async () => {
    const dir = scratch.make(2);
    await withStuck(dir, async () => {
      const started = performance.now();
      await expect(freeze(dir)).rejects.toMatchObject({ code: 'ERR_FREEZE_TIMEOUT', rolledBack: true });
      const waited = performance.now() - started;
      expect(waited).toBeGreaterThanOrEqual(10_000);
      expect(waited).toBeLessThan(20_000); // a liveness bound on a loaded VM, not a speed claim
      expectNothingFrozen(dir);
    });
  }, 60_000);
});
