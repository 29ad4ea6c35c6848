// untilExit: a freeze that cannot outlive its owner. The owner is a real node process (the built dist/)
// that freezes a scratch cgroup holding a busy workload; it is then killed (SIGKILL, Ctrl-C, the OOM
// killer) or exits, and the workload must run again within THAW_BOUND_MS.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Workload } from '../../scripts/workload/index.js';
import { freezeCgroup, isSelfFrozen, readStat, thawCgroup } from '../../scripts/workload/cgroupfs.js';
import { type Scratch, createScratch } from '../helpers/scratch.js';
import { withWorkload } from '../helpers/workload.js';

/**
 * How soon after its owner's death the watchdog must have thawed (measured here: see the README). The
 * kernel closes the owner's end of the pipe as the owner dies; the watchdog wakes on EOF and writes.
 * Generous, because the test machine is shared and often loaded.
 */
const THAW_BOUND_MS = 1000;
const DIST = join(__dirname, '..', '..', 'dist');

let scratch: Scratch;
beforeAll(() => {
  scratch = createScratch();
});
afterAll(async () => {
  await scratch.cleanup();
});

type Api = 'sync' | 'promise';
/** What the owner does once frozen: wait to be killed, thaw first, return from its main, or eat memory. */
type After = 'wait' | 'thaw' | 'return' | 'allocate';

const OWNER = `
const { freeze, freezeSync, thawSync } = require(${JSON.stringify(join(DIST, 'index.js'))});
const { watchdogPid } = require(${JSON.stringify(join(DIST, 'freezer', 'watchdog.js'))});
const [dirs, api, after] = process.argv.slice(1);
const target = dirs.includes(',') ? dirs.split(',') : dirs;
(async () => {
  if (api === 'sync') freezeSync(target, { untilExit: true });
  else await freeze(target, { untilExit: true });
  if (after === 'thaw') thawSync(target);
  process.stdout.write('frozen ' + watchdogPid() + '\\n');
  if (after === 'return') return;
  if (after === 'allocate') {
    const kept = [];
    for (;;) kept.push(Buffer.alloc(16 << 20, 1));
  }
  setInterval(() => undefined, 1000);
})();`;

interface Owner {
  child: ChildProcess;
  watchdog: number;
  /** How it ended (signal name or exit code), and when this process saw it (performance.now()). */
  exited: Promise<{ how: NodeJS.Signals | number | null; at: number }>;
}

/**
 * Starts an owner (in its own process group, as a shell runs a job) and waits until it has frozen `dirs`
 * (one cgroup, or a list as one call).
 */
async function startOwner(dirs: string | string[], api: Api, after: After, wrap: string[] = []): Promise<Owner> {
  const command = [...wrap, process.execPath, '-e', OWNER, [dirs].flat().join(','), api, after];
  const child = spawn(command[0] as string, command.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const exited = new Promise<{ how: NodeJS.Signals | number | null; at: number }>((resolve) =>
    child.once('exit', (code, sig) => resolve({ how: sig ?? code, at: performance.now() })),
  );
  let out = '';
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const line = await new Promise<string>((resolve, reject) => {
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve(out);
    });
    void exited.then(({ how }) => reject(new Error(`owner exited (${String(how)}) before freezing: ${err}`)));
  });
  const match = /^frozen (\d+)$/m.exec(line);
  if (match === null) throw new Error(`owner said ${JSON.stringify(line)}`);
  return { child, watchdog: Number(match[1]), exited };
}

/** Milliseconds from `since` (performance.now()) until the workload makes progress again. */
async function msUntilProgress(w: Workload, since: number): Promise<number> {
  expect(await w.waitForProgress(10_000)).toBe(true);
  return performance.now() - since;
}

const procStatFields = (pid: number): string[] => {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return text.slice(text.lastIndexOf(')') + 2).split(' ');
};

async function gone(pid: number): Promise<boolean> {
  for (let i = 0; i < 500; i++) {
    if (readStat(pid) === undefined || readStat(pid)?.state === 'Z') return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return false;
}

describe.each([1, 2] as const)('cgroup v%i', (v) => {
  it.each(['sync', 'promise'] as const)(
    'kill -9 of the owner (%s API) thaws the cgroup within the bound, and the watchdog exits',
    async (api) => {
      const dir = scratch.make(v);
      await withWorkload(dir, async (w) => {
        const owner = await startOwner(dir, api, 'wait');
        expect(await w.isStalled(150)).toBe(true);
        // Its own session, at the root of the freezer hierarchies: no Ctrl-C, no freeze, no group kill reaches it.
        const [, , pgrp, session] = procStatFields(owner.watchdog);
        expect([Number(pgrp), Number(session)]).toEqual([owner.watchdog, owner.watchdog]);
        const cgroups = readFileSync(`/proc/${owner.watchdog}/cgroup`, 'utf8');
        expect(cgroups).toMatch(/^\d+:freezer:\/$/m);
        expect(cgroups).toMatch(/^0::\/$/m);

        const killedAt = performance.now();
        owner.child.kill('SIGKILL');
        expect(await msUntilProgress(w, killedAt)).toBeLessThan(THAW_BOUND_MS);
        expect(isSelfFrozen(dir, v)).toBe(false);
        expect((await owner.exited).how).toBe('SIGKILL');
        expect(await gone(owner.watchdog)).toBe(true);
      });
    },
  );

  it('a list frozen with untilExit is thawed whole when its owner is killed', async () => {
    const dirs = [scratch.make(v), scratch.make(v)];
    await withWorkload(dirs[0] as string, async (first) => {
      await withWorkload(dirs[1] as string, async (second) => {
        const owner = await startOwner(dirs, 'promise', 'wait');
        expect([await first.isStalled(150), await second.isStalled(150)]).toEqual([true, true]);
        const killedAt = performance.now();
        owner.child.kill('SIGKILL');
        expect(await msUntilProgress(first, killedAt)).toBeLessThan(THAW_BOUND_MS);
        expect(await msUntilProgress(second, killedAt)).toBeLessThan(THAW_BOUND_MS);
        expect(await gone(owner.watchdog)).toBe(true);
      });
    });
  });

  it('Ctrl-C of the owner’s job does not reach the watchdog, which thaws', async () => {
    const dir = scratch.make(v);
    await withWorkload(dir, async (w) => {
      const owner = await startOwner(dir, 'promise', 'wait');
      // What a terminal does on Ctrl-C: SIGINT to the foreground process group.
      const interruptedAt = performance.now();
      process.kill(-(owner.child.pid as number), 'SIGINT');
      expect((await owner.exited).how).toBe('SIGINT');
      expect(await msUntilProgress(w, interruptedAt)).toBeLessThan(THAW_BOUND_MS);
      expect(await gone(owner.watchdog)).toBe(true);
    });
  });

  it('an owner that returns from its main exits (the watchdog keeps nothing alive), and that thaws too', async () => {
    const dir = scratch.make(v);
    await withWorkload(dir, async (w) => {
      const owner = await startOwner(dir, 'sync', 'return');
      const { how, at } = await owner.exited;
      expect(how).toBe(0);
      expect(await msUntilProgress(w, at)).toBeLessThan(THAW_BOUND_MS);
      expect(await gone(owner.watchdog)).toBe(true);
    });
  });

  it('a thaw by the owner releases the cgroup: a later freeze by someone else survives the owner', async () => {
    const dir = scratch.make(v);
    await withWorkload(dir, async (w) => {
      const owner = await startOwner(dir, 'sync', 'thaw');
      expect(await w.waitForProgress()).toBe(true);
      freezeCgroup(dir, v);
      expect(await w.isStalled(150)).toBe(true);
      owner.child.kill('SIGKILL');
      expect(await gone(owner.watchdog)).toBe(true);
      expect(isSelfFrozen(dir, v)).toBe(true);
      expect(await w.isStalled(150)).toBe(true);
      thawCgroup(dir, v);
    });
  });
});

describe('the OOM killer', () => {
  /** A v1 memory cgroup under this process's own, limited, for the owner alone. */
  function memoryCgroup(limitBytes: number): string {
    const line = readFileSync('/proc/self/cgroup', 'utf8')
      .split('\n')
      .find((l) => /^\d+:([^:]*,)?memory(,[^:]*)?:/.test(l));
    if (line === undefined) throw new Error('these tests need the v1 memory controller (this machine has it)');
    const dir = join('/sys/fs/cgroup/memory', line.slice(line.lastIndexOf(':') + 1), `${scratch.name}-oom`);
    mkdirSync(dir);
    writeFileSync(join(dir, 'memory.limit_in_bytes'), String(limitBytes));
    return dir;
  }

  it('an owner killed for memory has its freeze thawed', async () => {
    const dir = scratch.make(2);
    const memory = memoryCgroup(256 << 20);
    try {
      await withWorkload(dir, async (w) => {
        // The owner joins the limited cgroup before node starts, so all it allocates counts there.
        const intoMemoryCgroup = ['sh', '-c', `echo $$ > ${memory}/cgroup.procs && exec "$@"`, 'sh'];
        const owner = await startOwner(dir, 'sync', 'allocate', intoMemoryCgroup);
        const { how, at } = await owner.exited;
        expect(how).toBe('SIGKILL');
        expect(readFileSync(join(memory, 'memory.oom_control'), 'utf8')).toMatch(/^oom_kill [1-9]/m);
        expect(await msUntilProgress(w, at)).toBeLessThan(THAW_BOUND_MS);
        expect(await gone(owner.watchdog)).toBe(true);
      });
    } finally {
      for (let i = 0; i < 100; i++) {
        try {
          rmdirSync(memory);
          break;
        } catch {
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    }
  });
});
