import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { type ServeOptions, type Sidecar, startServer } from '../../src/serve/index.js';
import { createScratch, killAtExit, makeTempDir, removeTempDir, until } from '../helpers/scratch.js';

export { makeTempDir as tempDir, removeTempDir as removeTemp, sleep, until } from '../helpers/scratch.js';

export const REPO = join(__dirname, '..', '..');
/** The `cgfreeze` binary as installed (dist/ is built by the kernel tier's global setup). */
const CLI = join(REPO, 'dist', 'cli', 'main.js');

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

/** A sidecar in a fresh directory other uids can reach, with its socket, lease file and audit log in it. */
export class TestSidecar {
  readonly tmp = makeTempDir();
  readonly socketPath = join(this.tmp, 's.sock');
  readonly auditLog = join(this.tmp, 'audit.log');
  private running: Sidecar | undefined;

  async start(options: ServeOptions = {}): Promise<void> {
    chmodSync(this.tmp, 0o755);
    this.running = await startServer({
      socketPath: this.socketPath,
      leaseFile: join(this.tmp, 'leases.json'),
      audit: { file: this.auditLog },
      ...options,
    });
  }

  get sidecar(): Sidecar {
    if (this.running === undefined) throw new Error('the test sidecar did not start');
    return this.running;
  }

  async stop(): Promise<void> {
    await this.running?.close();
    removeTempDir(this.tmp);
  }
}
