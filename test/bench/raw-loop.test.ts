import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cgfreezeSync, rawC } from '../../scripts/bench/methods.js';
import {
  type Mode,
  ScratchWorkload,
  WarmAnchor,
  buildRawLoop,
  rawLoopPath,
  removeRunParents,
  removeShmDir,
  runParent,
} from '../../scripts/bench/workload.js';
import { kernelFreezerState } from '../helpers/kernel.js';

// The C baseline builds, drives a real scratch cgroup on each hierarchy and
// leaves it thawed; timings are printed by `npm run bench`, never asserted.
beforeAll(() => {
  buildRawLoop();
});

afterAll(() => {
  removeShmDir();
  removeRunParents();
});

describe.each(['v1', 'v2'] as const)('raw C loop on %s', (mode: Mode) => {
  it('builds, runs N cycles against the workload and reports every sample', async () => {
    expect(existsSync(rawLoopPath)).toBe(true);
    const w = await ScratchWorkload.start(mode, 3);
    try {
      expect(readFileSync(join(w.dir, 'cgroup.procs'), 'utf8').trim().split('\n')).toHaveLength(3);
      const run = await rawC.run({ mode, cgroupDir: w.dir, counter: w.counter }, 5);
      expect(run.samples).toHaveLength(5);
      for (const s of run.samples) {
        expect(s.freezeNs).toBeGreaterThan(0);
        expect(s.thawNs).toBeGreaterThan(0);
        // Resume starts with the thaw write, so it can never be shorter.
        expect(s.resumeNs).toBeGreaterThanOrEqual(s.thawNs);
        expect(s.cpuWaitNs).toBeGreaterThanOrEqual(0);
      }
      expect(run.cpuPerCycleNs).toBeGreaterThan(0);
      expect(kernelFreezerState(w.dir)).toBe('thawed');
      // The workload is alive after the loop.
      const before = w.counter.read();
      const end = Date.now() + 5000;
      while (w.counter.read() === before && Date.now() < end) await new Promise((r) => setTimeout(r, 1));
      expect(w.counter.read()).not.toBe(before);
    } finally {
      await w.stop();
    }
    expect(existsSync(w.dir)).toBe(false);
  });
});

describe('warm anchor (keepWarm cases)', () => {
  it('raw C and cgfreeze count the samples that ran beside a frozen v1 cgroup, and only those', async () => {
    const anchorDir = join(runParent('v1'), 'anchor');
    mkdirSync(anchorDir);
    const w = await ScratchWorkload.start('v1', 1);
    const anchor = new WarmAnchor(anchorDir);
    try {
      const subject = { mode: 'v1' as const, cgroupDir: w.dir, counter: w.counter, warmAnchor: anchor };
      const counts = async (): Promise<Array<number | undefined>> => [
        (await rawC.run(subject, 4)).warmSamples,
        (await cgfreezeSync.run(subject, 4)).warmSamples,
      ];
      // An empty cgroup freezes at once: it holds the kernel's freezer key on, as keepWarm does.
      writeFileSync(join(anchorDir, 'freezer.state'), 'FROZEN');
      expect(anchor.frozen()).toBe(true);
      expect(await counts()).toEqual([4, 4]);
      writeFileSync(join(anchorDir, 'freezer.state'), 'THAWED');
      expect(anchor.frozen()).toBe(false);
      expect(await counts()).toEqual([0, 0]);
      // Without an anchor nothing is claimed either way.
      expect((await rawC.run({ mode: 'v1', cgroupDir: w.dir, counter: w.counter }, 2)).warmSamples).toBeUndefined();
    } finally {
      anchor.close();
      writeFileSync(join(anchorDir, 'freezer.state'), 'THAWED');
      rmdirSync(anchorDir);
      await w.stop();
    }
  });
});
