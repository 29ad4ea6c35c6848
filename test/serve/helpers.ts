import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createScratch, killAtExit } from '../helpers/scratch.js';

export { makeTempDir as tempDir, removeTempDir as removeTemp } from '../helpers/scratch.js';

export const REPO = join(__dirname, '..', '..');
/** The `cgfreeze` binary as installed (dist/ is built by the kernel tier's global setup). */
const CLI = join(REPO, 'dist', 'cli', 'main.js');

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `check` until it is true; fails after a generous deadline (a liveness bound, not a speed assertion). */
export async function until(what: string, check: () => boolean, deadlineMs = 20_000): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/**
 * A per-run parent cgroup in both hierarchies (test/helpers/scratch.ts: exit hook and stale sweep) with
 * sleeping tasks in child cgroups. `cleanup` thaws, kills and removes all of it, also after a failure.
 */
export class ScratchCgroups {
  private readonly scratch = createScratch();
  readonly name = this.scratch.name;

  /** A child cgroup with no task (`leaf` may be nested under an existing one). */
  makeEmpty(version: 1 | 2, leaf: string): string {
    return this.scratch.make(version, leaf);
  }

  /** A child cgroup (`leaf` may be nested under an existing one) holding one task running `program`. */
  async make(version: 1 | 2, leaf: string, program = 'sleep'): Promise<string> {
    const dir = this.makeEmpty(version, leaf);
    spawn('sh', ['-c', `echo $$ > ${dir}/cgroup.procs && exec ${program} 100000`], { stdio: 'ignore' });
    await until(`a task in ${dir}`, () => readFileSync(join(dir, 'cgroup.procs'), 'utf8').trim() !== '');
    return dir;
  }

  cleanup(): Promise<void> {
    return this.scratch.cleanup();
  }
}

export function auditLines(file: string): Array<Record<string, unknown>> {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** The sidecar as its own process (`cgfreeze serve`), for crash and signal tests. */
export class SidecarProcess {
  readonly child: ChildProcess;
  stderr = '';

  constructor(args: string[]) {
    this.child = killAtExit(
      spawn(process.execPath, [CLI, 'serve', ...args], { cwd: REPO, stdio: ['ignore', 'ignore', 'pipe'] }),
    );
    this.child.stderr?.on('data', (d: Buffer) => {
      this.stderr += d.toString();
    });
  }

  async ready(): Promise<void> {
    await until(
      'the sidecar to listen',
      () => this.stderr.includes('listening on') || this.child.exitCode !== null,
      60_000,
    );
    if (this.child.exitCode !== null) throw new Error(`sidecar exited: ${this.stderr}`);
  }

  exited(): Promise<number | null> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return Promise.resolve(this.child.exitCode);
    return new Promise((r) => this.child.once('exit', (code) => r(code)));
  }

  kill(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }
}
