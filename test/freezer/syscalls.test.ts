// Repeated operations on one cgroup must cost only the kernel's minimum: the
// write, the reads until the kernel reports frozen, and the thaw write. strace
// counts every syscall the freezing thread makes between two marker calls.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorkload } from '../../scripts/workload/index.js';
import { type Scratch, createScratch } from '../helpers/scratch.js';

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

const CYCLES = 20;
const BEGIN = '/cgfreeze-strace-begin';
const END = '/cgfreeze-strace-end';

interface Counts {
  total: number;
  writes: number;
  /** Reads made while waiting for the kernel to report frozen: a raw loop makes them too. */
  freezeReads: number;
  /** Sleeps between those reads (ppoll); each stands in for re-reads a raw loop would make. */
  freezeWaits: number;
  other: string[];
}

/** Syscalls between the markers, split per cycle into writes, reads that waited for FROZEN, and the rest. */
function countCycle(trace: string, stateFile: string): Counts {
  const lines = trace.split('\n');
  const start = lines.findIndex((l) => l.includes(BEGIN));
  const end = lines.findIndex((l) => l.includes(END));
  const body = lines.slice(start + 1, end).filter((l) => /^\w+\(/.test(l));
  let writes = 0;
  let freezeReads = 0;
  let freezeWaits = 0;
  let waitingForFrozen = false;
  const other: string[] = [];
  for (const line of body) {
    if (/^p?write(64)?\(/.test(line)) {
      writes++;
      waitingForFrozen = /"(FROZEN|1)"/.test(line);
    } else if (/^p?read(64)?\(/.test(line) && waitingForFrozen) {
      freezeReads++;
      if (stateFile === 'freezer.state' ? /"FROZEN/.test(line) : /frozen 1/.test(line)) waitingForFrozen = false;
    } else if (/^ppoll\(/.test(line) && waitingForFrozen) {
      freezeWaits++;
    } else {
      other.push(line.slice(0, 60));
    }
  }
  return { total: body.length, writes, freezeReads, freezeWaits, other };
}

describe.each([
  [1, 'freezer.state'],
  [2, 'cgroup.events'],
] as const)('cgroup v%i', (v, stateFile) => {
  it(`a freeze+thaw cycle costs at most 2 syscalls over the raw minimum (write + reads + write)`, async () => {
    const dir = scratch.make(v);
    const w = await startWorkload(dir, { mode: 'idle' });
    try {
      const script = `
        const fs = require('node:fs');
        const { freezeSync, thawSync } = require(${JSON.stringify(join(__dirname, '../../dist/index.js'))});
        const dir = ${JSON.stringify(dir)};
        for (let i = 0; i < 5; i++) { freezeSync(dir); thawSync(dir); }   // warm: handle cached, code compiled
        try { fs.accessSync(${JSON.stringify(BEGIN)}); } catch {}
        for (let i = 0; i < ${CYCLES}; i++) { freezeSync(dir); thawSync(dir); }
        try { fs.accessSync(${JSON.stringify(END)}); } catch {}`;
      const out = join(tmp, `trace-v${v}`);
      // Without -f only the main thread is traced: the one that freezes.
      execFileSync('strace', ['-qq', '-s', '32', '-o', out, process.execPath, '-e', script], { stdio: 'ignore' });
      const counts = countCycle(readFileSync(out, 'utf8'), stateFile);
      expect(counts.writes).toBe(2 * CYCLES);
      expect(counts.freezeWaits).toBeLessThan(counts.freezeReads);
      const rawMinimum = counts.writes + counts.freezeReads;
      expect(counts.total - counts.freezeWaits - rawMinimum).toBeLessThanOrEqual(2 * CYCLES);
      // What the extra syscalls are: one read confirming each thaw, nothing else.
      expect(counts.other.filter((l) => !/^p?read(64)?\(/.test(l))).toEqual([]);
    } finally {
      await w.stop();
    }
  });
});
