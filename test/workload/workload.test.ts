// The workload helpers against the real kernel: real tasks in real v1 and v2
// cgroups, frozen and thawed by writing the freezer files directly.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  freezeCgroup,
  isDead,
  readFreezerState,
  readProcs,
  readWchan,
  sleep,
  thawCgroup,
} from '../../scripts/workload/cgroupfs.js';
import { startStuckTask, startWorkload, type Workload } from '../../scripts/workload/index.js';
import { createScratch, type Scratch } from '../helpers/scratch.js';

/** Polls `check` until it holds; fails the test with `what` otherwise. */
async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(2);
  }
}

function sorted(pids: readonly number[]): number[] {
  return [...pids].sort((a, b) => a - b);
}

/** Files and mount points this test process created and has not removed. */
function leftovers(): string[] {
  const mine = new RegExp(`^cgf-wl-(fuse-)?${process.pid}-`);
  return [...readdirSync('/dev/shm').filter((n) => mine.test(n)), ...readdirSync('/tmp').filter((n) => mine.test(n))];
}

const versions = [1, 2] as const;
let scratch: Scratch;

beforeAll(() => {
  scratch = createScratch();
});

afterAll(async () => {
  await scratch.cleanup();
  const left = [scratch.v1Root, scratch.v2Root].filter((root) => existsSync(root));
  if (left.length > 0) throw new Error(`scratch cleanup left ${left.join(', ')}`);
});

describe.each(versions)('busy worker in a v%i cgroup', (version) => {
  it('makes progress, stalls when frozen through the file, resumes when thawed', async () => {
    const dir = scratch.make(version);
    const worker = await startWorkload(dir, { tasks: 3 });
    try {
      expect(worker.pids).toHaveLength(3);
      expect(sorted(readProcs(dir))).toEqual(sorted(worker.pids));
      expect(await worker.waitForProgress()).toBe(true);

      freezeCgroup(dir);
      await until('FROZEN', () => readFreezerState(dir) === 'FROZEN');
      expect(await worker.isStalled(200)).toBe(true);

      thawCgroup(dir);
      expect(await worker.waitForProgress()).toBe(true);
    } finally {
      await worker.stop();
    }
    expect(worker.pids.every(isDead)).toBe(true);
    expect(readProcs(dir)).toEqual([]);
    expect(existsSync(worker.counterFile)).toBe(false);
  });

  it('stop() ends a worker that is still frozen and leaves the cgroup thawed', async () => {
    const dir = scratch.make(version);
    const worker = await startWorkload(dir, { tasks: 2 });
    freezeCgroup(dir);
    await until('FROZEN', () => readFreezerState(dir) === 'FROZEN');
    await worker.stop();
    expect(worker.pids.every(isDead)).toBe(true);
    expect(readProcs(dir)).toEqual([]);
    expect(readFreezerState(dir)).toBe('THAWED');
  });
});

describe.each(versions)('1000 tasks in a v%i cgroup', (version) => {
  it('start in the cgroup, freeze and thaw, and stop cleanly', async () => {
    const dir = scratch.make(version);
    const worker = await startWorkload(dir, { tasks: 1000, timeoutMs: 120_000 });
    try {
      expect(new Set(worker.pids).size).toBe(1000);
      expect(sorted(readProcs(dir))).toEqual(sorted(worker.pids));
      freezeCgroup(dir);
      await until('FROZEN', () => readFreezerState(dir) === 'FROZEN', 30_000);
      expect(await worker.isStalled(100)).toBe(true);
      thawCgroup(dir);
      expect(await worker.waitForProgress()).toBe(true);
    } finally {
      await worker.stop();
    }
    expect(worker.pids.filter((pid) => !isDead(pid))).toEqual([]);
    expect(readProcs(dir)).toEqual([]);
  }, 180_000);
});

describe.each(versions)('idle worker in a v%i cgroup', (version) => {
  it('echoes at once when thawed and only after the thaw when frozen', async () => {
    const dir = scratch.make(version);
    const worker = await startWorkload(dir, { mode: 'idle', tasks: 2 });
    try {
      // Task 0 sleeps in read(0), not spinning.
      await until('task 0 blocked in read', () => readWchan(worker.pids[0] as number) !== '');
      const before = process.hrtime.bigint();
      expect(await worker.echo()).toBeGreaterThan(before);
      expect(worker.counter()).toBe(1n);

      freezeCgroup(dir);
      await until('FROZEN', () => readFreezerState(dir) === 'FROZEN');
      let arrived = false;
      const pending = worker.echo().then((at) => {
        arrived = true;
        return at;
      });
      await sleep(200);
      expect(arrived).toBe(false);
      expect(worker.counter()).toBe(1n);

      const thawAt = process.hrtime.bigint();
      thawCgroup(dir);
      expect(await pending).toBeGreaterThan(thawAt);
      expect(worker.counter()).toBe(2n);
    } finally {
      await worker.stop();
    }
    expect(worker.pids.every(isDead)).toBe(true);
  });

  it('echo() refuses a busy worker', async () => {
    const worker = await startWorkload(scratch.make(version));
    try {
      await expect(worker.echo()).rejects.toThrow(/idle/);
    } finally {
      await worker.stop();
    }
  });
});

describe('startWorkload failures', () => {
  it('rejects with the reason the worker gives and leaves nothing behind', async () => {
    const dir = scratch.make(2);
    await expect(startWorkload(dir, { tasks: 100_001 })).rejects.toThrow(/exit status 2.*--tasks must be 1\.\.100000/s);
    await expect(startWorkload('/tmp')).rejects.toThrow(/neither a v1 freezer cgroup nor/);
    expect(readProcs(dir)).toEqual([]);
    expect(leftovers()).toEqual([]);
  });
});

describe('stuck task (FUSE request never answered)', () => {
  it('blocks in request_wait_answer inside the cgroup while the server stays outside', async () => {
    const dir = scratch.make(2);
    const stuck = await startStuckTask(dir);
    try {
      expect(readWchan(stuck.pid)).toBe('request_wait_answer');
      expect(readProcs(dir)).toEqual([stuck.pid]);
      expect(readFileSync(`/proc/${stuck.serverPid}/cgroup`, 'utf8')).toMatch(/^0::\/$/m);
      // The mount is private to the server: the caller sees an empty directory.
      expect(readdirSync(stuck.mountDir)).toEqual([]);
    } finally {
      await stuck.stop();
    }
    expect(isDead(stuck.pid)).toBe(true);
    expect(isDead(stuck.serverPid)).toBe(true);
    expect(existsSync(stuck.mountDir)).toBe(false);
  });

  it('keeps a v2 freeze at frozen 0; SIGKILL still ends it and the freeze then completes', async () => {
    const dir = scratch.make(2);
    const stuck = await startStuckTask(dir);
    try {
      freezeCgroup(dir);
      await sleep(300);
      expect(readFileSync(`${dir}/cgroup.events`, 'utf8')).toMatch(/^frozen 0$/m);
      expect(readFreezerState(dir)).toBe('FREEZING');
      expect(readWchan(stuck.pid)).toBe('request_wait_answer');

      await stuck.stop();
      expect(isDead(stuck.pid)).toBe(true);
      await until('frozen 1 once the culprit is gone', () => readFreezerState(dir) === 'FROZEN');
    } finally {
      thawCgroup(dir);
      await stuck.stop();
    }
  });

  it('keeps a v1 freeze FREEZING while a busy neighbour is parked', async () => {
    const dir = scratch.make(1);
    const stuck = await startStuckTask(dir);
    const worker = await startWorkload(dir, { tasks: 2 });
    try {
      freezeCgroup(dir);
      await sleep(300);
      expect(readFreezerState(dir)).toBe('FREEZING');
      expect(await worker.isStalled(200)).toBe(true);
      expect(readWchan(stuck.pid)).toBe('request_wait_answer');
      thawCgroup(dir);
      expect(await worker.waitForProgress()).toBe(true);
    } finally {
      thawCgroup(dir);
      await stuck.stop();
      await worker.stop();
    }
    expect(readProcs(dir)).toEqual([]);
  });
});

describe('scratch cgroups', () => {
  it('creates nested children in both hierarchies and rejects bad names', async () => {
    const own = createScratch();
    try {
      expect(own.v1Root).toMatch(new RegExp(`^/sys/fs/cgroup/freezer/cgfreeze-test-${process.pid}-[0-9a-f]+$`));
      expect(own.v2Root).toMatch(new RegExp(`^/sys/fs/cgroup/unified/cgfreeze-test-${process.pid}-[0-9a-f]+$`));
      const v1 = own.make(1, 'a/b/c');
      const v2 = own.make(2, 'a/b/c');
      expect(v1).toBe(`${own.v1Root}/a/b/c`);
      expect(existsSync(`${v1}/freezer.state`)).toBe(true);
      expect(existsSync(`${v2}/cgroup.freeze`)).toBe(true);
      expect(own.make(2)).not.toBe(own.make(2));
      expect(() => own.make(1, '../escape')).toThrow(/bad scratch cgroup name/);
      expect(() => own.make(1, 'a/b/c')).toThrow(/EEXIST/);
    } finally {
      await own.cleanup();
    }
  });

  it('cleanup() removes frozen, populated, nested cgroups and leaves no process behind', async () => {
    const own = createScratch();
    const v1Parent = own.make(1, 'p');
    const v1Child = own.make(1, 'p/q');
    const v2Child = own.make(2, 'p/q');
    const workers: Workload[] = [];
    try {
      workers.push(await startWorkload(v1Parent, { tasks: 5 }));
      workers.push(await startWorkload(v1Child, { tasks: 5, mode: 'idle' }));
      workers.push(await startWorkload(v2Child, { tasks: 5 }));
      const stuck = await startStuckTask(v2Child);
      // Freeze from the top so the v1 child is frozen by its ancestor as well.
      freezeCgroup(v1Parent);
      freezeCgroup(v1Child);
      freezeCgroup(`${own.v2Root}/p`);
      await until('v1 FROZEN', () => readFreezerState(v1Child) === 'FROZEN');

      await own.cleanup();
      expect(existsSync(own.v1Root)).toBe(false);
      expect(existsSync(own.v2Root)).toBe(false);
      const pids = [...workers.flatMap((w) => w.pids), stuck.pid];
      await until('every task dead', () => pids.every(isDead));

      // The helpers' own stop() still works after the scratch went first.
      await stuck.stop();
      expect(isDead(stuck.serverPid)).toBe(true);
    } finally {
      await Promise.all(workers.map((w) => w.stop()));
      await own.cleanup();
    }
    expect(leftovers()).toEqual([]);
  });
});
