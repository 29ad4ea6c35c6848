// The kernel's cgroup freezer selftest scenarios (tools/testing/selftests/cgroup/test_freezer.c),
// run through cgfreeze's API: all ten on v2, and the ones that apply on v1. Freezes are proven by
// the kernel's files (test/helpers/kernel.ts) and, where a workload runs, by its progress counter;
// where state() is used, it is checked against those files.
import { mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Workload, startWorkload } from '../../scripts/workload/index.js';
import { startScenario } from '../../scripts/workload/scenario.js';
import { freeze, freezeSync, kill, state, thaw, thawSync } from '../../src/index.js';
import { kernelFreezerState, kernelView } from '../helpers/kernel.js';
import { type Scratch, createScratch, until } from '../helpers/scratch.js';
import { errorWith } from '../helpers/matchers.js';

let scratch: Scratch;
beforeAll(() => {
  scratch = createScratch();
});
afterAll(async () => {
  await scratch.cleanup();
});

const frozen = (dir: string): boolean => kernelFreezerState(dir) === 'frozen';
const procState = (pid: number): string => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
};

async function stopAll(workloads: Workload[]): Promise<void> {
  await Promise.all(workloads.map((w) => w.stop()));
}

describe.each([1, 2] as const)('cgroup v%i', (v) => {
  it('simple: 100 sleeping tasks freeze and thaw', async () => {
    const dir = scratch.make(v);
    const w = await startWorkload(dir, { tasks: 100, mode: 'idle' });
    try {
      expect(frozen(dir)).toBe(false);
      expect((await freeze(dir)).state).toBe('frozen');
      expect(frozen(dir)).toBe(true);
      expect((await thaw(dir)).state).toBe('thawed');
      expect(frozen(dir)).toBe(false);
    } finally {
      await w.stop();
    }
  });

  it('tree: freezing and thawing ancestors and descendants in every order', async () => {
    const root = scratch.make(v);
    const d = (p: string): string => `${root}/${p}`;
    for (const p of ['B', 'B/C', 'B/D', 'E', 'E/F', 'E/F/G', 'E/F/G/H', 'I', 'K']) mkdirSync(d(p));
    const workloads = await Promise.all([
      startWorkload(d('B/C')),
      startWorkload(d('E/F/G/H')),
      startWorkload(d('K'), { tasks: 3 }),
    ]);
    try {
      freezeSync([d('B'), d('E/F'), d('E/F/G')]);
      expect(frozen(root)).toBe(false);
      expect(frozen(d('E'))).toBe(false);
      expect(frozen(d('B/C'))).toBe(true);
      expect(await workloads[0]?.isStalled(100)).toBe(true);

      freezeSync(root);
      expect(frozen(d('B'))).toBe(true);
      expect(frozen(d('E'))).toBe(true);
      expect(await workloads[2]?.isStalled(100)).toBe(true);

      // Thawing B, F and G is recorded, but A keeps them frozen: each says so.
      for (const p of ['B', 'E/F', 'E/F/G']) {
        expect(() => thawSync(d(p))).toThrow(errorWith({ code: 'ERR_FROZEN_BY_ANCESTOR', ancestor: root }));
      }
      expect(kernelView(d('B/C'))).toEqual({ state: 'frozen', self: false, byAncestor: true });
      expect(state(d('B/C'))).toMatchObject(kernelView(d('B/C')));
      expect(frozen(d('E/F/G/H'))).toBe(true);

      thawSync(root);
      for (const p of ['', '/B/C', '/E/F/G/H', '/K']) expect(frozen(root + p)).toBe(false);
      for (const w of workloads) expect(await w.waitForProgress()).toBe(true);
    } finally {
      await stopAll(workloads);
    }
  });

  it('forkbomb: a fork/exec storm freezes, and is killed while frozen', async () => {
    const dir = scratch.make(v);
    const storm = await startScenario(dir, 'forkstorm');
    try {
      expect((await freeze(dir)).state).toBe('frozen');
      await kill(dir);
      expect(readFileSync(`${dir}/cgroup.procs`, 'utf8')).toBe('');
    } finally {
      await storm.stop();
    }
  });

  it('mkdir: a child created under a frozen parent is frozen, and so is a task started in it', async () => {
    const parent = scratch.make(v);
    freezeSync(parent);
    const child = `${parent}/child`;
    mkdirSync(child);
    expect(kernelView(child)).toEqual({ state: 'frozen', byAncestor: true, self: false });
    expect(state(child)).toMatchObject(kernelView(child));
    // startWorkload waits for the tasks to report in, which a frozen cgroup prevents: start it unthawed
    // in a sibling, then migrate (the kernel's mkdir test forks straight into the child).
    const staging = scratch.make(v);
    const w = await startWorkload(staging);
    try {
      writeFileSync(`${child}/cgroup.procs`, String(w.pids[0]));
      expect(await w.isStalled(200)).toBe(true);
      expect(frozen(child) && frozen(parent)).toBe(true);
      thawSync(parent);
      expect(await w.waitForProgress()).toBe(true);
    } finally {
      await w.stop();
    }
  });

  it('rmdir: removing a child keeps the parent frozen; a recreated child is frozen', () => {
    const parent = scratch.make(v);
    const child = `${parent}/child`;
    mkdirSync(child);
    freezeSync(parent);
    rmdirSync(child);
    expect(frozen(parent)).toBe(true);
    mkdirSync(child);
    expect(frozen(child)).toBe(true);
    thawSync(parent);
    expect(frozen(child)).toBe(false);
  });

  it('migrate: running → frozen, frozen → running, frozen → frozen', async () => {
    const [a, b, c] = [scratch.make(v), scratch.make(v), scratch.make(v)];
    const w = await startWorkload(a);
    const pid = String(w.pids[0]);
    try {
      freezeSync(b);
      writeFileSync(`${b}/cgroup.procs`, pid);
      expect(await w.isStalled(150)).toBe(true);
      expect(frozen(b)).toBe(true);
      writeFileSync(`${a}/cgroup.procs`, pid);
      expect(await w.waitForProgress()).toBe(true);
      expect(frozen(a)).toBe(false);
      freezeSync(c);
      writeFileSync(`${b}/cgroup.procs`, pid);
      writeFileSync(`${c}/cgroup.procs`, pid);
      expect(await w.isStalled(150)).toBe(true);
      expect(frozen(b) && frozen(c)).toBe(true);
      thawSync([b, c]);
      expect(await w.waitForProgress()).toBe(true);
    } finally {
      await w.stop();
    }
  });

  it('stopped: a SIGSTOPped task does not block freeze or thaw, and stays stopped', async () => {
    const dir = scratch.make(v);
    const w = await startWorkload(dir);
    const pid = w.pids[0] as number;
    try {
      process.kill(pid, 'SIGSTOP');
      await expect.poll(() => procState(pid)).toBe('T');
      expect(freezeSync(dir, { timeoutMs: 5000 }).state).toBe('frozen');
      expect(thawSync(dir).state).toBe('thawed');
      expect(procState(pid)).toBe('T');
      expect(await w.isStalled(100)).toBe(true);
      process.kill(pid, 'SIGCONT');
      expect(await w.waitForProgress()).toBe(true);
    } finally {
      await w.stop();
    }
  });

  it('ptraced: a task in ptrace-stop does not block freeze or thaw; the tracer still works', async () => {
    const dir = scratch.make(v);
    const w = await startWorkload(dir);
    const tracer = await startScenario(scratch.make(v), 'tracer', [String(w.pids[0])]);
    try {
      expect(await tracer.command('interrupt')).toBe('ok');
      expect(freezeSync(dir, { timeoutMs: 5000 }).state).toBe('frozen');
      expect(await tracer.command('getsiginfo')).toBe('ok');
      expect(thawSync(dir).state).toBe('thawed');
      expect(await tracer.command('detach')).toBe('ok');
      expect(await w.waitForProgress()).toBe(true);
    } finally {
      await tracer.stop();
      await w.stop();
    }
  });

  it('vfork: a parent blocked in vfork and its child freeze together', async () => {
    const dir = scratch.make(v);
    const task = await startScenario(dir, 'vfork');
    try {
      expect(readFileSync(`${dir}/cgroup.procs`, 'utf8').trim().split('\n')).toHaveLength(2);
      expect(freezeSync(dir, { timeoutMs: 5000 }).state).toBe('frozen');
      expect(thawSync(dir).state).toBe('thawed');
    } finally {
      await task.stop();
    }
  });
});

describe('cgroup v2 only', () => {
  it('ptrace: seizing and interrupting an already frozen task keeps the cgroup frozen', async () => {
    const dir = scratch.make(2);
    const w = await startWorkload(dir);
    try {
      freezeSync(dir);
      const tracer = await startScenario(scratch.make(2), 'tracer', [String(w.pids[0])]);
      try {
        expect(await tracer.command('interrupt')).toBe('ok');
        expect(frozen(dir)).toBe(true);
        expect(await tracer.command('getsiginfo')).toBe('ok');
        expect(await tracer.command('detach')).toBe('ok');
        // Leaving the ptrace stop, the task passes through running back into the freezer's trap: the
        // request holds throughout, and the kernel reports the cgroup frozen again once the task is back.
        expect(kernelView(dir).self).toBe(true);
        await until('the detached task back in the freezer', () => frozen(dir));
      } finally {
        await tracer.stop();
      }
      thawSync(dir);
      expect(await w.waitForProgress()).toBe(true);
    } finally {
      await w.stop();
    }
  });
});

describe('cgroup v1 only', () => {
  it('self_freezing and parent_freezing describe who froze what', () => {
    const parent = scratch.make(1);
    const child = `${parent}/child`;
    mkdirSync(child);
    freezeSync(parent);
    expect(kernelView(child)).toEqual({ state: 'frozen', self: false, byAncestor: true });
    expect(state(child)).toMatchObject({ ...kernelView(child), ancestor: parent });
    freezeSync(child);
    expect(kernelView(child)).toEqual({ state: 'frozen', self: true, byAncestor: true });
    expect(state(child)).toMatchObject(kernelView(child));
    thawSync(parent);
    expect(kernelView(child)).toEqual({ state: 'frozen', self: true, byAncestor: false });
    expect(state(child)).toMatchObject(kernelView(child));
    thawSync(child);
    expect(kernelView(child)).toEqual({ state: 'thawed', self: false, byAncestor: false });
  });
});
