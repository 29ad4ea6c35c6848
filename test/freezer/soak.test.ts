// E8: a soak of 10k pause/resume cycles, after a warm-up, leaks no fds, threads or memory (bytes per cycle).
// E1: pause/resume keeps completing while a fork/exec storm runs in the cgroup.
import { mkdirSync, readFileSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { getHeapStatistics } from 'node:v8';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorkload } from '../../scripts/workload/index.js';
import { startScenario } from '../../scripts/workload/scenario.js';
import { freeze, freezeSync, thaw, thawSync } from '../../src/index.js';
import { kernelFreezerState } from '../helpers/kernel.js';
import { type Scratch, createScratch } from '../helpers/scratch.js';

let scratch: Scratch;
let warm: string;
beforeAll(() => {
  scratch = createScratch();
  // Any frozen v1 cgroup keeps the kernel's freezer static key on, which makes
  // every other v1 transition ~10x cheaper; an empty one of our own is enough.
  warm = `${scratch.root(1)}/keep-warm`;
  mkdirSync(warm);
  writeFileSync(`${warm}/freezer.state`, 'FROZEN');
});
afterAll(async () => {
  writeFileSync(`${warm}/freezer.state`, 'THAWED');
  rmdirSync(warm);
  await scratch.cleanup();
});

const fdCount = (): number => readdirSync('/proc/self/fd').length;
const threadCount = (): number => Number(/^Threads:\s+(\d+)/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]);

/**
 * Memory after two full collections (vitest starts the workers with --expose-gc): the JS heap in
 * use, and the rest of the RSS, the part outside the V8 heap where a leak of the addon would show.
 * RSS alone grows by megabytes while V8 commits heap pages during its first tens of thousands of
 * Promise cycles, then stays flat: that is V8 settling, not a leak, and it is left out.
 */
function memory(): { heapUsed: number; outsideHeap: number } {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined)
    throw new Error('global.gc is missing: run the kernel tier with --expose-gc (vitest.config.ts)');
  gc();
  gc();
  return {
    heapUsed: process.memoryUsage().heapUsed,
    outsideHeap: process.memoryUsage().rss - getHeapStatistics().total_physical_size,
  };
}

const WARM_UP = 1_000;
const CYCLES = 5_000;
/** Growth per measured cycle that counts as a leak; the noise between two samples is about 1 MiB. */
const OUTSIDE_HEAP_BYTES_PER_CYCLE = 256;
const HEAP_BYTES_PER_CYCLE = 100;

describe.each([1, 2] as const)('cgroup v%i', (v) => {
  it('10,000 cycles (sync and Promise) after a warm-up leak no fds, threads or memory (E8)', async () => {
    const dir = scratch.make(v);
    const w = await startWorkload(dir);
    try {
      // Warm up both APIs: the handle is opened and cached, code compiled.
      for (let i = 0; i < WARM_UP; i++) {
        freezeSync(dir);
        thawSync(dir);
        await freeze(dir);
        await thaw(dir);
      }
      const fds = fdCount();
      const threads = threadCount();
      const before = memory();
      for (let i = 0; i < CYCLES; i++) {
        freezeSync(dir);
        thawSync(dir);
      }
      for (let i = 0; i < CYCLES; i++) {
        await freeze(dir);
        await thaw(dir);
      }
      const after = memory();
      expect(fdCount()).toBe(fds);
      expect(threadCount()).toBe(threads);
      const perCycle = (bytes: number): number => Math.round(bytes / (2 * CYCLES));
      expect(perCycle(after.outsideHeap - before.outsideHeap)).toBeLessThan(OUTSIDE_HEAP_BYTES_PER_CYCLE);
      expect(perCycle(after.heapUsed - before.heapUsed)).toBeLessThan(HEAP_BYTES_PER_CYCLE);
      expect(kernelFreezerState(dir)).toBe('thawed');
      expect(await w.waitForProgress()).toBe(true);
    } finally {
      await w.stop();
    }
  }, 600_000); // a bound, not a target: seconds when idle, minutes on a loaded shared VM

  it('pause/resume completes while a fork/exec storm runs (E1)', async () => {
    const dir = scratch.make(v);
    const storm = await startScenario(dir, 'forkstorm');
    try {
      for (let i = 0; i < 100; i++) {
        expect((await freeze(dir, { timeoutMs: 10_000 })).state).toBe('frozen');
        expect((await thaw(dir)).state).toBe('thawed');
      }
    } finally {
      await storm.stop();
    }
  }, 600_000);
});
