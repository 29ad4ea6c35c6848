// E8: a soak of 10k pause/resume cycles leaks no fds, threads or memory.
// E1: pause/resume keeps completing while a fork/exec storm runs in the cgroup.
import { mkdirSync, readFileSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorkload } from '../../scripts/workload/index.js';
import { startScenario } from '../../scripts/workload/scenario.js';
import { freeze, freezeSync, state, thaw, thawSync } from '../../src/index.js';
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

describe.each([1, 2] as const)('cgroup v%i', (v) => {
  it('10,000 cycles (sync and Promise) leak no fds, threads or memory (E8)', async () => {
    const dir = scratch.make(v);
    const w = await startWorkload(dir);
    try {
      for (let i = 0; i < 200; i++) {
        freezeSync(dir);
        thawSync(dir);
      }
      global.gc?.();
      const fds = fdCount();
      const threads = threadCount();
      const rss = process.memoryUsage().rss;
      for (let i = 0; i < 5_000; i++) {
        freezeSync(dir);
        thawSync(dir);
      }
      for (let i = 0; i < 5_000; i++) {
        await freeze(dir);
        await thaw(dir);
      }
      expect(fdCount()).toBe(fds);
      expect(threadCount()).toBe(threads);
      expect(process.memoryUsage().rss - rss).toBeLessThan(64 * 1024 * 1024);
      expect(state(dir).state).toBe('thawed');
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
