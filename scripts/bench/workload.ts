/**
 * The benchmark's scratch cgroups and the workload inside them: N tasks
 * forked by raw-loop (task 0 spins a counter in a tmpfs file, the rest idle),
 * shared by every method of a case so they all drive the same cgroup.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  rmdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { cgroup2Mount, cgroupMounts, freezerV1Mount } from '../../src/cgroup/mountinfo.js';

export type Mode = 'v1' | 'v2';

export const PREFIX = 'cgfb';
const packageRoot = join(__dirname, '..', '..');
export const buildDir = join(packageRoot, 'build', 'cgfb-bench');
export const rawLoopPath = join(buildDir, 'raw-loop');

/** Compiles the C baseline (static, so it also runs inside busybox containers). */
export function buildRawLoop(): string {
  mkdirSync(buildDir, { recursive: true });
  execFileSync(
    'gcc',
    ['-O2', '-static', '-Wall', '-Wextra', '-Werror', '-o', rawLoopPath, join(__dirname, 'raw-loop.c')],
    {
      stdio: ['ignore', 'inherit', 'inherit'],
    },
  );
  return rawLoopPath;
}

/** Mount point of the hierarchy a mode uses, or a clear failure. */
export function hierarchyRoot(mode: Mode): string {
  const mounts = cgroupMounts();
  const mount = mode === 'v1' ? freezerV1Mount(mounts) : cgroup2Mount(mounts);
  if (mount === undefined) throw new Error(`no ${mode === 'v1' ? 'v1 freezer' : 'cgroup2'} mount on this machine`);
  return mount.mountPoint;
}

/** Per-run parent cgroups (`cgfb-<pid>`) in both hierarchies; removed by {@link removeRunParents}. */
export function runParent(mode: Mode): string {
  const dir = join(hierarchyRoot(mode), `${PREFIX}-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

export function removeRunParents(): void {
  for (const mode of ['v1', 'v2'] as const) {
    let root: string;
    try {
      root = hierarchyRoot(mode);
    } catch {
      continue;
    }
    const dir = join(root, `${PREFIX}-${process.pid}`);
    if (existsSync(dir)) rmdirSync(dir);
  }
}

/** Writes the thawed state directly (teardown must not depend on the code under test). */
export function forceThaw(dir: string, mode: Mode): void {
  if (mode === 'v1') writeFileSync(join(dir, 'freezer.state'), 'THAWED');
  else writeFileSync(join(dir, 'cgroup.freeze'), '0');
}

export function shmDir(): string {
  const dir = `/dev/shm/${PREFIX}-${process.pid}`;
  mkdirSync(dir, { recursive: true });
  return dir;
}

export function removeShmDir(): void {
  rmSync(`/dev/shm/${PREFIX}-${process.pid}`, { recursive: true, force: true });
}

/**
 * Reads the low 32 bits of the workload's counter; any change is a sign of
 * life. Also tells how long the spinner (the task that moves it) and this
 * process's main thread (the one that watches it) have waited for a CPU: a
 * resume that waited on a run queue measured the machine's load.
 */
export class Counter {
  private readonly fd: number;
  private readonly schedstats: number[];
  private readonly buf = Buffer.alloc(4);
  private readonly statBuf = Buffer.alloc(128);
  constructor(
    readonly file: string,
    readonly spinnerPid: number,
  ) {
    this.fd = openSync(file, 'r');
    // The main thread's tid is the pid.
    this.schedstats = [spinnerPid, process.pid].map((pid) => openSync(`/proc/${pid}/task/${pid}/schedstat`, 'r'));
  }
  read(): number {
    readSync(this.fd, this.buf, 0, 4, 0);
    return this.buf.readUInt32LE(0);
  }
  /**
   * Time runnable but waiting for a CPU so far (schedstat run_delay, ns): the
   * spinner's, plus the watcher's (this process's main thread) when it is also the caller.
   */
  cpuWaitNs(of: 'spinner' | 'spinner+watcher'): number {
    let waited = 0;
    for (const fd of of === 'spinner' ? this.schedstats.slice(0, 1) : this.schedstats) {
      const n = readSync(fd, this.statBuf, 0, this.statBuf.length, 0);
      waited += Number(this.statBuf.toString('latin1', 0, n).split(' ')[1]);
    }
    return waited;
  }
  /** Spins until the counter differs from `last` (the harness's observation loop). */
  waitChange(last: number): void {
    while (this.read() === last) {
      // tight: this is the resume observation, like the C loop's
    }
  }
  close(): void {
    closeSync(this.fd);
    for (const fd of this.schedstats) closeSync(fd);
  }
}

/**
 * The keepWarm cgroup a warm case relies on. While it reads FROZEN the v1
 * freezer's global key stays on; a sample counts as warm only if it did both
 * before the freeze and after the resume (read outside the timed spans).
 */
export class WarmAnchor {
  private readonly fd: number;
  private readonly buf = Buffer.alloc(16);
  constructor(readonly dir: string) {
    this.fd = openSync(join(dir, 'freezer.state'), 'r');
  }
  frozen(): boolean {
    const n = readSync(this.fd, this.buf, 0, this.buf.length, 0);
    return this.buf.toString('latin1', 0, n).startsWith('FROZEN');
  }
  close(): void {
    closeSync(this.fd);
  }
}

export class ScratchWorkload {
  private constructor(
    readonly mode: Mode,
    readonly tasks: number,
    readonly dir: string,
    readonly counter: Counter,
    private readonly child: ChildProcess,
  ) {}

  static async start(mode: Mode, tasks: number): Promise<ScratchWorkload> {
    const dir = join(runParent(mode), `w${tasks}`);
    mkdirSync(dir);
    const counterFile = join(shmDir(), `${mode}-w${tasks}.counter`);
    const child = spawn(rawLoopPath, ['workload', dir, String(tasks), counterFile], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    let spinnerPid: number;
    try {
      // "ready <pid of task 0, the spinner> ..."
      spinnerPid = Number((await waitReady(child, 60_000)).split(' ')[1]);
    } catch (err) {
      child.kill('SIGKILL');
      await waitTasksGone(dir);
      rmdirSync(dir);
      throw err;
    }
    return new ScratchWorkload(mode, tasks, dir, new Counter(counterFile, spinnerPid), child);
  }

  /** Thaws, ends the tasks, removes the cgroup. Safe to call after any failure. */
  async stop(): Promise<void> {
    forceThaw(this.dir, this.mode);
    this.counter.close();
    const exited = new Promise<void>((resolve) => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) resolve();
      else this.child.once('exit', () => resolve());
    });
    this.child.stdin?.end();
    await exited;
    await waitTasksGone(this.dir);
    rmdirSync(this.dir);
    rmSync(this.counter.file, { force: true });
  }
}

/** Resolves on the child's first line starting with "ready". */
export function waitReady(child: ChildProcess, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error(`workload not ready after ${timeoutMs} ms`)), timeoutMs);
    child.stdout?.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      const line = text.split('\n').find((l) => l.startsWith('ready'));
      if (line !== undefined) {
        clearTimeout(timer);
        resolve(line);
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`workload exited before ready (code ${String(code)}, signal ${String(signal)})`));
    });
  });
}

async function waitTasksGone(dir: string): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    if (readFileSync(join(dir, 'cgroup.procs'), 'utf8').trim() === '') return;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`tasks still in ${dir} after 10 s`);
}
