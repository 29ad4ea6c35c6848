// Counts the syscalls of repeated freezeSync/thawSync calls: strace follows the
// main thread of a child node (the built dist/) between two marker calls and
// splits each cycle into writes, reads that waited for FROZEN, and the rest.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const CYCLES = 20;
const BEGIN = '/cgfreeze-strace-begin';
const END = '/cgfreeze-strace-end';

export interface Counts {
  total: number;
  writes: number;
  /** v1 re-asserts FROZEN while a freeze takes longer than its active phase (20 ms). */
  reasserts: number;
  /** Reads made while waiting for the kernel to report frozen: a raw loop makes them too. */
  freezeReads: number;
  /** Sleeps between those reads (ppoll); each stands in for re-reads a raw loop would make. */
  freezeWaits: number;
  other: string[];
}

/**
 * What the runtime does on the main thread now and then, never on a file of
 * ours: the GC's memory calls and thread handoffs (futex), and libuv's
 * eventfd wakeups for V8 platform tasks.
 */
function isRuntimeNoise(line: string): boolean {
  return (
    /^(futex|mprotect|madvise|mmap|munmap|brk|sched_yield|getpid|gettid|rt_sigprocmask)\(/.test(line) ||
    /^write\(\d+, "\\1\\0\\0\\0\\0\\0\\0\\0", 8\)/.test(line)
  );
}

/** Syscalls between the markers, split per cycle into writes, reads that waited for FROZEN, and the rest. */
function countCycle(trace: string, stateFile: string): Counts {
  const lines = trace.split('\n');
  const start = lines.findIndex((l) => l.includes(BEGIN));
  const end = lines.findIndex((l) => l.includes(END));
  const body = lines.slice(start + 1, end).filter((l) => /^\w+\(/.test(l) && !isRuntimeNoise(l));
  let writes = 0;
  let reasserts = 0;
  let lastWriteFroze = false;
  let freezeReads = 0;
  let freezeWaits = 0;
  let waitingForFrozen = false;
  const other: string[] = [];
  for (const line of body) {
    if (/^pwrite64\(/.test(line)) {
      writes++;
      const froze = /"(FROZEN|1)"/.test(line);
      if (froze && lastWriteFroze) reasserts++;
      lastWriteFroze = froze;
      waitingForFrozen = froze;
    } else if (/^p?read(64)?\(/.test(line) && waitingForFrozen) {
      freezeReads++;
      if (stateFile === 'freezer.state' ? /"FROZEN/.test(line) : /frozen 1/.test(line)) waitingForFrozen = false;
    } else if (/^ppoll\(/.test(line) && waitingForFrozen) {
      freezeWaits++;
    } else {
      other.push(line.slice(0, 60));
    }
  }
  return { total: body.length, writes, reasserts, freezeReads, freezeWaits, other };
}

/** Runs CYCLES freeze+thaw cycles of `target` under strace, after 5 that warm the caches. */
export function straceCycles(
  tmp: string,
  label: string,
  target: string,
  opts: object,
  stateFile: 'freezer.state' | 'cgroup.events',
): Counts {
  const script = `
    const fs = require('node:fs');
    const { freezeSync, thawSync } = require(${JSON.stringify(join(__dirname, '../../dist/index.js'))});
    const target = ${JSON.stringify(target)};
    const opts = ${JSON.stringify(opts)};
    for (let i = 0; i < 5; i++) { freezeSync(target, opts); thawSync(target, opts); }   // warm: handle cached, code compiled
    try { fs.accessSync(${JSON.stringify(BEGIN)}); } catch {}
    for (let i = 0; i < ${CYCLES}; i++) { freezeSync(target, opts); thawSync(target, opts); }
    try { fs.accessSync(${JSON.stringify(END)}); } catch {}`;
  const out = join(tmp, `trace-${label}`);
  // Without -f only the main thread is traced: the one that freezes.
  execFileSync('strace', ['-qq', '-s', '32', '-o', out, process.execPath, '-e', script], { stdio: 'ignore' });
  return countCycle(readFileSync(out, 'utf8'), stateFile);
}

/** The whole trace (main thread) of a process that loads dist/ and freezes and thaws `target` once. */
export function straceFirstCycle(tmp: string, label: string, target: string): string[] {
  const script = `
    const { freezeSync, thawSync } = require(${JSON.stringify(join(__dirname, '../../dist/index.js'))});
    freezeSync(${JSON.stringify(target)});
    thawSync(${JSON.stringify(target)});`;
  const out = join(tmp, `trace-${label}`);
  execFileSync('strace', ['-qq', '-s', '256', '-o', out, process.execPath, '-e', script], { stdio: 'ignore' });
  return readFileSync(out, 'utf8').split('\n');
}
