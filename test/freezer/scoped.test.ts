// Scoped freeze: freeze results are disposable (`using`, `await using`) and withFrozen thaws on return
// and on throw, against the real kernel with a busy workload that shows when it runs.
import { rmdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Workload, startWorkload } from '../../scripts/workload/index.js';
import { freezeCgroup, isSelfFrozen, thawCgroup } from '../../scripts/workload/cgroupfs.js';
import { CgfreezeError, freeze, freezeSync, state, thaw, thawSync, withFrozen } from '../../src/index.js';
import { type Scratch, createScratch } from '../helpers/scratch.js';
import { withWorkload } from '../helpers/workload.js';

let scratch: Scratch;
beforeAll(() => {
  scratch = createScratch();
});
afterAll(async () => {
  await scratch.cleanup();
});

const stalled = (w: Workload): Promise<boolean> => w.isStalled(150);

describe.each([1, 2] as const)('cgroup v%i', (v) => {
  it('`using` a freezeSync result thaws when the block ends', async () => {
    const dir = scratch.make(v);
    await withWorkload(dir, async (w) => {
      {
        using frozen = freezeSync(dir);
        expect(frozen).toMatchObject({ target: dir, state: 'frozen' });
        expect(await stalled(w)).toBe(true);
      }
      expect(state(dir)).toMatchObject({ state: 'thawed', self: false });
      expect(await w.waitForProgress()).toBe(true);
    });
  });

  it('`await using` a freeze result thaws when the block ends, also when it throws', async () => {
    const dir = scratch.make(v);
    await withWorkload(dir, async (w) => {
      const failing = async (): Promise<void> => {
        await using _frozen = await freeze(dir);
        expect(await stalled(w)).toBe(true);
        throw new Error('inside the scope');
      };
      await expect(failing()).rejects.toThrow('inside the scope');
      expect(state(dir).self).toBe(false);
      expect(await w.waitForProgress()).toBe(true);
    });
  });

  it('withFrozen returns what fn returns, and thaws on return and on throw', async () => {
    const dir = scratch.make(v);
    await withWorkload(dir, async (w) => {
      const value = await withFrozen(dir, async (frozen) => {
        expect(frozen.state).toBe('frozen');
        return (await stalled(w)) ? 'ran while frozen' : 'was not frozen';
      });
      expect(value).toBe('ran while frozen');
      expect(await w.waitForProgress()).toBe(true);

      const err = await withFrozen(dir, () => {
        throw new RangeError('fn failed');
      }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RangeError);
      expect(state(dir).self).toBe(false);
      expect(await w.waitForProgress()).toBe(true);
    });
  });

  it('a scope leaves a cgroup frozen that was frozen by another request before it', async () => {
    const dir = scratch.make(v);
    await withWorkload(dir, async (w) => {
      freezeCgroup(dir, v); // another process's pause, written straight to the freezer file
      await expect.poll(() => state(dir).state).toBe('frozen');
      {
        using _frozen = freezeSync(dir);
      }
      await withFrozen(dir, () => undefined);
      expect(state(dir)).toMatchObject({ state: 'frozen', self: true });
      expect(await stalled(w)).toBe(true);
      thawCgroup(dir, v);
      expect(await w.waitForProgress()).toBe(true);
    });
  });

  it('overlapping scopes of this process thaw only when the last one ends', async () => {
    const dir = scratch.make(v);
    await withWorkload(dir, async (w) => {
      // Two concurrent freezes: the second finds the first one's request, but it is this process's.
      const [outer, inner] = await Promise.all([freeze(dir), freeze(dir)]);
      await inner[Symbol.asyncDispose]();
      expect(state(dir).self).toBe(true);
      expect(await stalled(w)).toBe(true);
      await withFrozen(dir, () => undefined);
      expect(state(dir).self).toBe(true);
      outer[Symbol.dispose]();
      expect(state(dir).self).toBe(false);
      expect(await w.waitForProgress()).toBe(true);
      // Disposing again changes nothing: the next freeze is someone else's.
      freezeCgroup(dir, v);
      outer[Symbol.dispose]();
      await inner[Symbol.asyncDispose]();
      expect(isSelfFrozen(dir, v)).toBe(true);
      thawCgroup(dir, v);
    });
  });

  it('a thaw in the scope ends its freeze: the scope then leaves a later freeze alone', async () => {
    const dir = scratch.make(v);
    await withWorkload(dir, async (w) => {
      await withFrozen(dir, async () => {
        await thaw(dir);
        expect(await w.waitForProgress()).toBe(true);
        freezeCgroup(dir, v); // someone else pauses it before the scope ends
      });
      expect(isSelfFrozen(dir, v)).toBe(true);
      expect(await stalled(w)).toBe(true);
      thawCgroup(dir, v);
      expect(await w.waitForProgress()).toBe(true);
    });
  });

  it('a group scope thaws the members it froze, together, and leaves the others', async () => {
    const [mine, theirs] = [scratch.make(v), scratch.make(v)];
    const other = await startWorkload(theirs);
    try {
      await withWorkload(mine, async (w) => {
        freezeCgroup(theirs, v);
        {
          using group = freezeSync([mine, theirs]);
          expect(group.ok).toBe(true);
          expect(await stalled(w)).toBe(true);
        }
        expect(await w.waitForProgress()).toBe(true);
        expect(isSelfFrozen(theirs, v)).toBe(true);
        expect(await other.isStalled(150)).toBe(true);

        const result = await withFrozen([mine], async (g) => {
          expect(g.results.map((r) => r.ok)).toEqual([true]);
          return stalled(w);
        });
        expect(result).toBe(true);
        expect(state(mine).self).toBe(false);
      });
    } finally {
      thawCgroup(theirs, v);
      await other.stop();
    }
  });

  it('withFrozen of a list is all or nothing: fn does not run when a member fails', async () => {
    const dir = scratch.make(v);
    await withWorkload(dir, async (w) => {
      let ran = false;
      const err = await withFrozen([dir, `${scratch.root(v)}/no-such-cgroup`], () => {
        ran = true;
      }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'ERR_ATOMIC_ROLLBACK' });
      expect(ran).toBe(false);
      expect(state(dir).self).toBe(false);
      expect(await w.waitForProgress()).toBe(true);
    });
  });

  it('a scope whose cgroup was removed meanwhile ends without error', () => {
    const dir = scratch.make(v);
    const frozen = freezeSync(dir); // an empty cgroup freezes at once
    rmdirSync(dir);
    expect(() => frozen[Symbol.dispose]()).not.toThrow();
  });

  it('a scope under a frozen ancestor withdraws its own request and leaves the ancestor’s', async () => {
    const parent = scratch.make(v);
    const child = scratch.make(v, `${parent.slice(scratch.root(v).length + 1)}/child`);
    await withWorkload(child, async (w) => {
      {
        using _frozen = freezeSync(child);
        freezeSync(parent);
      }
      expect(state(child)).toMatchObject({ state: 'frozen', self: false, byAncestor: true });
      thawSync(parent);
      expect(await w.waitForProgress()).toBe(true);
    });
  });
});

describe('arguments', () => {
  it('withFrozen needs a function, and untilExit is a boolean freeze option', async () => {
    const dir = scratch.make(2);
    await expect(withFrozen(dir, 'not a function' as never)).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
    await expect(thaw(dir, { untilExit: true } as never)).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
    expect(() => freezeSync(dir, { untilExit: 'yes' as never })).toThrow(CgfreezeError);
    expect(state(dir).self).toBe(false);
  });
});
