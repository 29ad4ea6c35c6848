import { mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Workload, startWorkload } from '../../scripts/workload/index.js';
import { CgfreezeError, freeze, freezeSync, kill, state, thaw, thawSync } from '../../src/index.js';
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

const freezeFile = (v: 1 | 2): string => (v === 1 ? 'freezer.state' : 'cgroup.freeze');
const kernelFrozen = (dir: string): boolean => kernelView(dir).state === 'frozen';

const readStatSafe = (pid: number): string => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return '';
  }
};

async function withWorkload<T>(dir: string, fn: (w: Workload) => T | Promise<T>, tasks = 1): Promise<T> {
  const w = await startWorkload(dir, { tasks });
  try {
    return await fn(w);
  } finally {
    await w.stop();
  }
}

describe.each([1, 2] as const)('cgroup v%i', (v) => {
  it('freeze stops a busy worker and thaw resumes it (Promise API)', async () => {
    const dir = scratch.make(v);
    await withWorkload(dir, async (w) => {
      expect(await w.waitForProgress()).toBe(true);
      const frozen = await freeze(dir);
      expect(frozen).toMatchObject({ target: dir, cgroupDir: dir, version: `v${v}`, state: 'frozen' });
      expect(kernelFrozen(dir)).toBe(true);
      expect(await w.isStalled(200)).toBe(true);
      const thawed = await thaw(dir);
      expect(thawed.state).toBe('thawed');
      expect(await w.waitForProgress()).toBe(true);
    });
  });

  it('freezeSync/thawSync do the same, with 10 tasks', async () => {
    const dir = scratch.make(v);
    await withWorkload(
      dir,
      async (w) => {
        expect(freezeSync(dir).state).toBe('frozen');
        expect(await w.isStalled(200)).toBe(true);
        expect(thawSync(dir).state).toBe('thawed');
        expect(await w.waitForProgress()).toBe(true);
      },
      10,
    );
  });

  it('state() reports self, effective state and the freeze file', async () => {
    const dir = scratch.make(v);
    await withWorkload(dir, () => {
      expect(state(dir)).toEqual({
        target: dir,
        cgroupDir: dir,
        version: `v${v}`,
        state: 'thawed',
        self: false,
        byAncestor: false,
        freezeFile: `${dir}/${freezeFile(v)}`,
      });
      freezeSync(dir);
      expect(kernelView(dir)).toEqual({ state: 'frozen', self: true, byAncestor: false });
      expect(state(dir)).toMatchObject(kernelView(dir));
      thawSync(dir);
      expect(kernelView(dir)).toEqual(UNTOUCHED);
      expect(state(dir)).toMatchObject(UNTOUCHED);
    });
  });

  it('freezing twice and thawing twice are harmless', async () => {
    const dir = scratch.make(v);
    await withWorkload(dir, async (w) => {
      await freeze(dir);
      expect((await freeze(dir)).state).toBe('frozen');
      await thaw(dir);
      expect((await thaw(dir)).state).toBe('thawed');
      expect(await w.waitForProgress()).toBe(true);
    });
  });

  it('timeoutMs 0 writes and returns without waiting', async () => {
    const dir = scratch.make(v);
    await withWorkload(dir, async (w) => {
      const result = freezeSync(dir, { timeoutMs: 0 });
      expect(['freezing', 'frozen']).toContain(result.state);
      expect(kernelView(dir).self).toBe(true);
      await expect.poll(() => kernelFrozen(dir)).toBe(true);
      expect(await w.isStalled(100)).toBe(true);
      thawSync(dir);
    });
  });

  it('a thaw under a frozen ancestor reports the ancestor instead of spinning (E3)', async () => {
    const parent = scratch.make(v);
    const child = `${parent}/child`;
    mkdirSync(child);
    await withWorkload(child, async (w) => {
      freezeSync(child);
      freezeSync(parent);
      const err = await thaw(child).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CgfreezeError);
      expect(err).toMatchObject({ code: 'ERR_FROZEN_BY_ANCESTOR', ancestor: parent, target: child });
      // The thaw of the child itself was written: only the ancestor holds it now.
      expect(kernelView(child)).toEqual({ state: 'frozen', self: false, byAncestor: true });
      expect(state(child)).toMatchObject({ ...kernelView(child), ancestor: parent });
      expect(() => thawSync(child)).toThrow(errorWith({ code: 'ERR_FROZEN_BY_ANCESTOR' }));
      thawSync(parent);
      expect(kernelView(child)).toEqual(UNTOUCHED);
      expect(await w.waitForProgress()).toBe(true);
    });
  });

  it('a recreated cgroup at the same path is reopened, not mistaken for the old one', async () => {
    const dir = scratch.make(v);
    await withWorkload(dir, () => {
      freezeSync(dir);
      thawSync(dir);
    });
    rmdirSync(dir);
    mkdirSync(dir);
    await withWorkload(dir, async (w) => {
      expect(freezeSync(dir).state).toBe('frozen');
      expect(kernelFrozen(dir)).toBe(true);
      expect(await w.isStalled(100)).toBe(true);
      thawSync(dir);
      expect(await w.waitForProgress()).toBe(true);
    });
  });

  it('concurrent freezes and thaws of one cgroup end in the state of the last call (E6)', async () => {
    const dir = scratch.make(v);
    await withWorkload(dir, async (w) => {
      const ops = Array.from({ length: 20 }, (_, i) =>
        (i % 2 === 0 ? freeze(dir) : thaw(dir)).catch((e: unknown) => e),
      );
      const last = freeze(dir);
      await Promise.all(ops);
      expect((await last).state).toBe('frozen');
      expect(kernelFrozen(dir)).toBe(true);
      // An outside actor thaws behind our back; our next freeze still holds.
      writeFileSync(`${dir}/${freezeFile(v)}`, v === 1 ? 'THAWED' : '0');
      expect(await w.waitForProgress()).toBe(true);
      await freeze(dir);
      expect(await w.isStalled(100)).toBe(true);
      await thaw(dir);
    });
  });

  it('an AbortSignal that is already aborted rejects without writing', async () => {
    const dir = scratch.make(v);
    const err = await freeze(dir, { signal: AbortSignal.abort() }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ABORT_ERR' });
    expect(kernelView(dir)).toEqual(UNTOUCHED);
  });

  it('kill() empties a frozen cgroup (E5: v1 signals then thaws, v2 uses cgroup.kill)', async () => {
    const dir = scratch.make(v);
    const w = await startWorkload(dir, { tasks: 5 });
    try {
      freezeSync(dir);
      const result = await kill(dir);
      expect(result.version).toBe(`v${v}`);
      expect(readFileSync(`${dir}/cgroup.procs`, 'utf8')).toBe('');
      // Dead: gone, or a zombie waiting for its parent to reap it.
      for (const pid of w.pids) expect(readStatSafe(pid)).toMatch(/^(|Z)$/);
    } finally {
      await w.stop();
    }
  });

  it('kill() empties a whole tree, running and frozen parts alike (v1: the frozen descendant is thawed so its tasks die)', async () => {
    const parent = scratch.make(v);
    const child = `${parent}/frozen`;
    mkdirSync(child);
    const [top, inner] = await Promise.all([startWorkload(parent), startWorkload(child, { tasks: 3 })]);
    try {
      freezeSync(child);
      expect(await inner.isStalled(100)).toBe(true);
      expect(await top.waitForProgress()).toBe(true);
      await kill(parent);
      for (const d of [parent, child]) expect(readFileSync(`${d}/cgroup.procs`, 'utf8')).toBe('');
      for (const pid of [...top.pids, ...inner.pids]) expect(readStatSafe(pid)).toMatch(/^(|Z)$/);
    } finally {
      await Promise.all([top.stop(), inner.stop()]);
    }
  });

  it('an atomic group freeze freezes all, and thaw([..]) thaws all', async () => {
    const dirs = [scratch.make(v), scratch.make(v), scratch.make(v)];
    const workloads = await Promise.all(dirs.map((d) => startWorkload(d)));
    try {
      const frozen = await freeze(dirs, { atomic: true });
      expect(frozen.ok).toBe(true);
      expect(frozen.results.map((r) => r.ok && r.result.state)).toEqual(['frozen', 'frozen', 'frozen']);
      for (const w of workloads) expect(await w.isStalled(100)).toBe(true);
      const thawed = await thaw(dirs);
      expect(thawed.ok).toBe(true);
      for (const w of workloads) expect(await w.waitForProgress()).toBe(true);
    } finally {
      await Promise.all(workloads.map((w) => w.stop()));
    }
  });

  it('an atomic group with one bad member rolls every member back; without atomic the rest stay frozen', async () => {
    const dirs = [scratch.make(v), scratch.make(v)];
    const missing = `${scratch.root(v)}/does-not-exist`;
    const workloads = await Promise.all(dirs.map((d) => startWorkload(d)));
    try {
      const err = await freeze([dirs[0] as string, missing, dirs[1] as string], { atomic: true }).catch(
        (e: unknown) => e,
      );
      expect(err).toMatchObject({ code: 'ERR_ATOMIC_ROLLBACK' });
      expect((err as CgfreezeError).failures?.map((f) => [f.target, f.error.code])).toEqual([[missing, 'ENOENT']]);
      for (const d of dirs) expect(kernelView(d)).toEqual(UNTOUCHED);
      for (const w of workloads) expect(await w.waitForProgress()).toBe(true);

      const partial = freezeSync([dirs[0] as string, missing, dirs[1] as string]);
      expect(partial.ok).toBe(false);
      expect(partial.results.map((r) => r.ok)).toEqual([true, false, true]);
      for (const d of dirs) expect(kernelView(d).state).toBe('frozen');
      thawSync(dirs);
    } finally {
      await Promise.all(workloads.map((w) => w.stop()));
    }
  });

  it('thaw([...]) with a bad member still thaws every other member, and says which failed', async () => {
    const dirs = [scratch.make(v), scratch.make(v)];
    const missing = `${scratch.root(v)}/does-not-exist`;
    const list = [dirs[0] as string, missing, dirs[1] as string];
    const workloads = await Promise.all(dirs.map((d) => startWorkload(d)));
    try {
      for (const thawList of [(l: string[]) => thaw(l), (l: string[]) => Promise.resolve(thawSync(l))]) {
        freezeSync(dirs);
        for (const w of workloads) expect(await w.isStalled(100)).toBe(true);
        const thawed = await thawList(list);
        expect(thawed.ok).toBe(false);
        expect(thawed.results.map((r) => (r.ok ? r.result.state : r.error.code))).toEqual([
          'thawed',
          'ENOENT',
          'thawed',
        ]);
        for (const d of dirs) expect(kernelView(d)).toEqual(UNTOUCHED);
        for (const w of workloads) expect(await w.waitForProgress()).toBe(true);
      }
    } finally {
      await Promise.all(workloads.map((w) => w.stop()));
    }
  });

  it('an atomic rollback leaves members that were frozen before the call frozen', () => {
    const [before, fresh] = [scratch.make(v), scratch.make(v)];
    freezeSync(before);
    expect(() => freezeSync([before, fresh, `${scratch.root(v)}/nope`], { atomic: true })).toThrow(
      errorWith({ code: 'ERR_ATOMIC_ROLLBACK' }),
    );
    expect(kernelView(before)).toEqual({ state: 'frozen', self: true, byAncestor: false });
    expect(kernelView(fresh)).toEqual(UNTOUCHED);
    thawSync(before);
  });
});
