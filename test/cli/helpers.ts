import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export const ROOT = join(__dirname, '..', '..');
export const CLI = join(ROOT, 'dist', 'cli', 'main.js');
const V1 = '/sys/fs/cgroup/freezer';
const V2 = '/sys/fs/cgroup/unified';

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/**
 * The CLI runs as a real process from dist/, as users run it: the bundle scripts/build-cli.mjs makes
 * from tsc's output. Rebuilds when a source file is newer than the build; a lock directory keeps
 * parallel test files from writing dist/ at the same time.
 */
export async function ensureBuilt(): Promise<void> {
  const lock = '/tmp/cgfc-build.lock';
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      await sleep(100);
    }
  }
  try {
    if (!existsSync(CLI) || newestMtime(join(ROOT, 'src')) > statSync(CLI).mtimeMs) {
      const node = (args: string[]): void => {
        execFileSync(process.execPath, args, { cwd: ROOT, stdio: 'inherit' });
      };
      node([join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json']);
      node([join(ROOT, 'scripts', 'build-cli.mjs')]);
    }
  } finally {
    rmdirSync(lock);
  }
}

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Environment without the caller's audit or colour settings, so tests see the defaults. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const key of [
    'CGFREEZE_AUDIT_LOG',
    'CGFREEZE_AUDIT_SYSLOG',
    'CGFREEZE_SYSLOG_SOCKET',
    'NO_COLOR',
    'FORCE_COLOR',
    'CGFREEZE_DEBUG',
  ])
    delete env[key];
  // The test VM is shared and at times heavily loaded: give the kernel time to settle rather than fail on 10 s.
  return { ...env, CGFREEZE_TIMEOUT: '60s', ...extra };
}

export function cli(args: string[], env: Record<string, string> = {}): CliResult {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: cleanEnv(env), timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Starts the CLI in the background, for --for and signals. */
export function cliSpawn(
  args: string[],
  env: Record<string, string> = {},
): { child: ChildProcess; done: Promise<CliResult>; stdout: () => string } {
  const child = spawn(process.execPath, [CLI, ...args], { env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr?.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const done = new Promise<CliResult>((resolve) => child.on('close', (status) => resolve({ status, stdout, stderr })));
  return { child, done, stdout: () => stdout };
}

export async function waitFor(check: () => boolean, what: string, limitMs = 60_000): Promise<void> {
  const end = Date.now() + limitMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/**
 * A scratch cgroup holding a workload that bumps a counter file, so a test can
 * see it stop and resume. Named with the helper prefix and the test pid.
 */
export class Scratch {
  readonly dir: string;
  readonly counterFile: string;
  private child: ChildProcess | undefined;

  /** `parent`: a cgroup directory to make it in (default the hierarchy's root). */
  constructor(
    readonly version: 'v1' | 'v2',
    name: string,
    parent: string = version === 'v1' ? V1 : V2,
  ) {
    this.dir = `${parent}/cgfc-${process.pid}-${name}`;
    this.counterFile = `/tmp/cgfc-${process.pid}-${name}.count`;
  }

  start(): this {
    mkdirSync(this.dir);
    writeFileSync(this.counterFile, '0');
    const child = spawn('sh', ['-c', `i=0; while :; do i=$((i+1)); echo $i > ${this.counterFile}; sleep 0.01; done`], {
      stdio: 'ignore',
    });
    this.child = child;
    writeFileSync(`${this.dir}/cgroup.procs`, String(child.pid));
    return this;
  }

  /** Every task of the scratch cgroup; the shell and its short-lived sleeps. */
  pids(): number[] {
    return readFileSync(`${this.dir}/cgroup.procs`, 'utf8').split('\n').filter(Boolean).map(Number);
  }

  counter(): number {
    return Number(readFileSync(this.counterFile, 'utf8').trim() || '0');
  }

  kernelState(): 'frozen' | 'thawed' | 'freezing' {
    if (this.version === 'v1')
      return readFileSync(`${this.dir}/freezer.state`, 'utf8').trim().toLowerCase() as 'frozen' | 'thawed' | 'freezing';
    const frozen = /^frozen 1$/m.test(readFileSync(`${this.dir}/cgroup.events`, 'utf8'));
    const self = readFileSync(`${this.dir}/cgroup.freeze`, 'utf8').trim() === '1';
    return frozen ? 'frozen' : self ? 'freezing' : 'thawed';
  }

  /** The workload makes progress: the counter moves. */
  async assertRunning(): Promise<void> {
    const before = this.counter();
    await waitFor(() => this.counter() > before, `${this.dir} workload to make progress`);
  }

  /** The workload is stopped: the counter stays put over a short look. Frozen tasks cannot write. */
  async assertStopped(): Promise<void> {
    const before = this.counter();
    await sleep(150);
    if (this.counter() !== before) throw new Error(`${this.dir} workload still running`);
  }

  /** Thaws, kills and removes, whatever state the test left. */
  async cleanup(): Promise<void> {
    if (!existsSync(this.dir)) return;
    try {
      writeFileSync(
        this.version === 'v1' ? `${this.dir}/freezer.state` : `${this.dir}/cgroup.freeze`,
        this.version === 'v1' ? 'THAWED' : '0',
      );
    } catch {
      // Already gone or never frozen; the kill below still runs.
    }
    for (const pid of this.pids()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Exited meanwhile.
      }
    }
    await waitFor(() => this.pids().length === 0, `${this.dir} to empty`);
    rmdirSync(this.dir);
    rmSync(this.counterFile, { force: true });
  }
}
