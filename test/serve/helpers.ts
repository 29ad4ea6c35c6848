import { type ChildProcess, spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  rmdirSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readFreezerFiles } from '../../src/cgroup/freezer-files.js';
import type { FreezerState } from '../../src/cgroup/freezer-files.js';

export const V1_ROOT = '/sys/fs/cgroup/freezer';
export const V2_ROOT = '/sys/fs/cgroup/unified';
export const REPO = join(__dirname, '..', '..');
const VITE_NODE = join(REPO, 'node_modules', '.bin', 'vite-node');

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

export function stateOf(dir: string): FreezerState {
  const v2 = dir.startsWith(V2_ROOT + '/');
  return readFreezerFiles(dir, v2 ? 2 : 1, v2 ? V2_ROOT : V1_ROOT).state;
}

/**
 * A per-run parent cgroup in both hierarchies (`cgfs-<pid>-<rand>`) with
 * sleeping tasks in child cgroups. `cleanup` thaws, kills and removes all of
 * it, and is safe to call after a failure.
 */
export class ScratchCgroups {
  readonly name = `cgfs-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  private readonly children: ChildProcess[] = [];
  private readonly dirs: string[] = [];

  constructor() {
    for (const root of [V1_ROOT, V2_ROOT]) {
      mkdirSync(join(root, this.name));
      this.dirs.push(join(root, this.name));
    }
  }

  /** A child cgroup holding one task running `program` (default sleep). */
  async make(version: 1 | 2, leaf: string, program = 'sleep'): Promise<string> {
    const dir = join(version === 1 ? V1_ROOT : V2_ROOT, this.name, leaf);
    mkdirSync(dir);
    this.dirs.push(dir);
    const child = spawn('sh', ['-c', `echo $$ > ${dir}/cgroup.procs && exec ${program} 100000`], { stdio: 'ignore' });
    this.children.push(child);
    await until(`a task in ${dir}`, () => readFileSync(join(dir, 'cgroup.procs'), 'utf8').trim() !== '');
    return dir;
  }

  async cleanup(): Promise<void> {
    for (const dir of [...this.dirs].reverse()) thawQuietly(dir);
    for (const c of this.children) c.kill('SIGKILL');
    for (const dir of [...this.dirs].reverse()) {
      if (!existsSync(dir)) continue;
      await until(`${dir} to empty`, () => readFileSync(join(dir, 'cgroup.procs'), 'utf8').trim() === '', 10_000).catch(
        () => undefined,
      );
      try {
        rmdirSync(dir);
      } catch (err) {
        process.stderr.write(`cleanup: cannot remove ${dir}: ${(err as Error).message}\n`);
      }
    }
  }
}

export function thawQuietly(dir: string): void {
  try {
    if (dir.startsWith(V2_ROOT + '/')) writeFileSync(join(dir, 'cgroup.freeze'), '0');
    else writeFileSync(join(dir, 'freezer.state'), 'THAWED');
  } catch {
    // Already gone.
  }
}

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'cgfs-'));
}

export function removeTemp(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export function auditLines(file: string): Array<Record<string, unknown>> {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** The sidecar as its own process (`src/serve/main.ts` through vite-node), for crash and signal tests. */
export class SidecarProcess {
  readonly child: ChildProcess;
  stderr = '';

  constructor(args: string[]) {
    this.child = spawn(VITE_NODE, [join(REPO, 'src/serve/main.ts'), ...args], {
      cwd: REPO,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
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

export function listDir(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir) : [];
}

/**
 * The cgroups a lease file and its journal hold, read as the next start reads them: the list, then each
 * change of the journal in order. Its own reading, apart from src/, as a test's oracle.
 */
export function leasedOnFile(file: string): string[] {
  const leases = new Set<string>();
  if (existsSync(file))
    for (const l of (JSON.parse(readFileSync(file, 'utf8')) as { leases: Array<{ cgroupDir: string }> }).leases)
      leases.add(l.cgroupDir);
  const journal = `${file}.journal`;
  const changes = existsSync(journal) ? readFileSync(journal, 'utf8').split('\n') : [];
  for (const line of changes.filter((l) => l !== '')) {
    const change = JSON.parse(line) as { put?: { cgroupDir: string }; delete?: string };
    if (change.put !== undefined) leases.add(change.put.cgroupDir);
    if (change.delete !== undefined) leases.delete(change.delete);
  }
  return [...leases];
}
