import { describe, expect, it } from 'vitest';
import type { CgroupLocation } from '../../src/cgroup/location.js';
import { CgroupEntry } from '../../src/freezer/handles.js';
import {
  ACTIVE_MS,
  EVENT_SLICE_MS,
  SPIN_MS,
  SYNC_SPIN_MS,
  V1_MAX_SLEEP_MS,
  YIELD_MS,
  pace,
} from '../../src/freezer/pacing.js';
import { Transition } from '../../src/freezer/transition.js';
import type { NativeCgroupHandle } from '../../src/native.js';

describe('pace', () => {
  it('spins first, then sleeps briefly, then backs off', () => {
    expect(pace(0, 2)).toEqual({ kind: 'spin' });
    expect(pace(SPIN_MS / 2, 1)).toEqual({ kind: 'spin' });
    const early = pace(SPIN_MS, 2);
    expect(early.kind).toBe('sleep');
    const mid = pace((YIELD_MS + ACTIVE_MS) / 2, 2);
    expect(mid.kind === 'sleep' && mid.ms).toBeGreaterThan(early.kind === 'sleep' ? early.ms : Infinity);
  });

  it('lets the blocking API spin longer than the event-loop one, but not past the yield phase', () => {
    expect(pace(SYNC_SPIN_MS / 2, 2, SYNC_SPIN_MS)).toEqual({ kind: 'spin' });
    expect(pace(SYNC_SPIN_MS / 2, 2).kind).toBe('sleep');
    expect(pace(SYNC_SPIN_MS, 1, SYNC_SPIN_MS).kind).toBe('sleep');
    expect(SYNC_SPIN_MS).toBeLessThan(YIELD_MS);
  });

  it('keeps re-reading actively through the 10 ms notification window before waiting on events', () => {
    for (let t = SPIN_MS; t < ACTIVE_MS; t += 0.5) {
      const p = pace(t, 2);
      expect(p.kind).toBe('sleep');
      expect(p.kind === 'sleep' && p.ms).toBeLessThanOrEqual(4);
    }
    expect(pace(ACTIVE_MS, 2)).toEqual({ kind: 'event', ms: EVENT_SLICE_MS });
  });

  it('caps v1 sleeps, which have no notification to wait on', () => {
    for (const t of [ACTIVE_MS, 100, 1_000, 60_000]) {
      const p = pace(t, 1);
      expect(p.kind).toBe('sleep');
      expect(p.kind === 'sleep' && p.ms).toBeLessThanOrEqual(V1_MAX_SLEEP_MS);
    }
  });
});

describe('Transition pacing', () => {
  it('counts from the end of the write: a slow write (a v1 static-key flip) still gets its spin phase', () => {
    let writes = 0;
    const handle = {
      version: 1,
      closed: false,
      writeState(): void {
        writes++;
        const end = performance.now() + 3 * SYNC_SPIN_MS;
        while (performance.now() < end) {
          // the kernel patching its text
        }
      },
      readState: () => 'FREEZING\n',
      readSelf: () => '1\n',
      readParentFreezing: () => '0\n',
    } as unknown as NativeCgroupHandle;
    const entry = new CgroupEntry('/fake', { version: 1, dir: '/fake' } as CgroupLocation, handle);
    const t = new Transition(entry, true, 10_000, 'fake', SYNC_SPIN_MS);
    expect(t.begin()).toBe(false);
    expect(writes).toBe(1);
    expect(t.elapsedMs).toBeGreaterThan(SYNC_SPIN_MS);
    expect(t.next()).toEqual({ kind: 'spin' });
  });
});
