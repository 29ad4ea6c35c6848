// Repeated operations on one cgroup must cost only the kernel's minimum: the
// write, the reads until the kernel reports frozen, and the thaw write. strace
// counts every syscall the freezing thread makes between two marker calls
// (test/helpers/strace.ts).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorkload } from '../../scripts/workload/index.js';
import { type Scratch, createScratch } from '../helpers/scratch.js';
import { CYCLES, straceCycles, straceFirstCycle } from '../helpers/strace.js';

let scratch: Scratch;
let tmp: string;
beforeAll(() => {
  scratch = createScratch();
  tmp = mkdtempSync(join(tmpdir(), 'cgfreeze-strace-'));
});
afterAll(async () => {
  rmSync(tmp, { recursive: true, force: true });
  await scratch.cleanup();
});

describe.each([
  [1, 'freezer.state'],
  [2, 'cgroup.events'],
] as const)('cgroup v%i', (v, stateFile) => {
  it(`a freeze+thaw cycle costs at most 2 syscalls over the raw minimum (write + reads + write)`, async () => {
    const dir = scratch.make(v);
    const w = await startWorkload(dir, { mode: 'idle' });
    try {
      const counts = straceCycles(tmp, `v${v}`, dir, {}, stateFile);
      expect(counts.writes - counts.reasserts).toBe(2 * CYCLES);
      expect(counts.freezeWaits).toBeLessThan(counts.freezeReads);
      const rawMinimum = counts.writes + counts.freezeReads;
      expect(counts.total - counts.freezeWaits - rawMinimum).toBeLessThanOrEqual(2 * CYCLES);
      // What the extra syscalls are: one read confirming each thaw, and one read of the cgroup's own request
      // before each freeze (whether the freeze is ours to thaw, src/freezer/holds.ts); nothing else.
      expect(counts.other.filter((l) => !/^p?read(64)?\(/.test(l))).toEqual([]);
    } finally {
      await w.stop();
    }
  });
});

describe.each([
  [1, '/sys/fs/cgroup/freezer', 'freezer.state'],
  [2, '/sys/fs/cgroup/unified', 'cgroup.freeze'],
] as const)('cgroup v%i', (v, mount, freezeFile) => {
  it('opens the cgroup with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV) from its mount, and its files from that', () => {
    const dir = scratch.make(v);
    const relative = dir.slice(mount.length + 1);
    const trace = straceFirstCycle(tmp, `open-v${v}`, dir);
    const at = trace.findIndex((l) => l.startsWith('openat2(') && l.includes(`, "${relative}", `));
    expect(at, `no openat2 of ${relative}`).toBeGreaterThan(0);
    const [, dirfd, resolve, handle] =
      /^openat2\((\d+), "[^"]*", \{flags=[^,]*, resolve=([A-Z_|]+)\}, \d+\) = (\d+)$/.exec(trace[at] ?? '') ?? [];
    expect(resolve?.split('|')).toEqual(
      expect.arrayContaining(['RESOLVE_BENEATH', 'RESOLVE_NO_SYMLINKS', 'RESOLVE_NO_XDEV']),
    );
    // The directory fd it resolves beneath is the mount point itself.
    const mountOpen = trace.slice(0, at).findLast((l) => l.endsWith(` = ${dirfd}`));
    expect(mountOpen).toMatch(new RegExp(`^openat\\(AT_FDCWD, "${mount}", [A-Z_|]*O_DIRECTORY[A-Z_|]*\\) = ${dirfd}$`));
    // The freeze file is opened through that handle, never by an absolute path.
    expect(trace.some((l) => l.startsWith(`openat(${handle}, "${freezeFile}", `))).toBe(true);
    expect(trace.filter((l) => l.includes(`"${dir}/`))).toEqual([]);
  });
});
