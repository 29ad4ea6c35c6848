import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, cpSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type KernelFreezerState, kernelFreezerState } from '../helpers/kernel.js';
import { type Scratch, killAtExit, makeTempDir } from '../helpers/scratch.js';

export const ROOT = join(__dirname, '..', '..');
/** The `cgfreeze` binary as installed; the kernel tier's global setup builds dist/ before any test runs. */
export const CLI = join(ROOT, 'dist', 'cli', 'main.js');

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Environment without the caller's audit, colour or sudo settings, so tests see the defaults. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const key of [
    'CGFREEZE_AUDIT_LOG',
    'CGFREEZE_AUDIT_SYSLOG',
    'CGFREEZE_SYSLOG_SOCKET',
    'NO_COLOR',
    'FORCE_COLOR',
    'CGFREEZE_DEBUG',
    'SUDO_USER',
  ])
    delete env[key];
  // The test VM is shared and at times heavily loaded: give the kernel time to settle rather than fail on 10 s.
  return { ...env, CGFREEZE_TIMEOUT: '60s', ...extra };
}

export function cli(args: string[], env: Record<string, string> = {}): CliResult {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: cleanEnv(env), timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Starts the CLI in the background, for --for and signals; killed at exit if a failed test leaves it. */
export function cliSpawn(
  args: string[],
  env: Record<string, string> = {},
): { child: ChildProcess; done: Promise<CliResult>; stdout: () => string } {
  const child = killAtExit(
    spawn(process.execPath, [CLI, ...args], { env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] }),
  );
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr?.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const done = new Promise<CliResult>((resolve) => child.on('close', (status) => resolve({ status, stdout, stderr })));
  return { child, done, stdout: () => stdout };
}

const installedCopies = new Map<boolean, string>();

/**
 * `cgfreeze` as a package install would hold it (dist/, package.json, `bindings`, and the addon unless
 * `addon` is false), copied once per test process into a directory every uid can read: uid 65534
 * cannot read a checkout that sits in a mode-700 directory (a clone under /root, or in `mktemp -d`),
 * and no test may depend on where the checkout is. Returns the path of its dist/cli/main.js.
 */
export function installedCopy({ addon = true }: { addon?: boolean } = {}): string {
  const known = installedCopies.get(addon);
  if (known !== undefined) return known;
  const dir = makeTempDir(0o755);
  const parts = ['package.json', 'dist', 'node_modules/bindings', 'node_modules/file-uri-to-path'];
  for (const part of addon ? [...parts, 'build/Release/cgfreeze.node'] : parts)
    cpSync(join(ROOT, part), join(dir, part), { recursive: true });
  const openUp = (path: string): void => {
    for (const entry of readdirSync(path, { withFileTypes: true })) {
      const child = join(path, entry.name);
      chmodSync(child, entry.isDirectory() ? 0o755 : 0o644);
      if (entry.isDirectory()) openUp(child);
    }
  };
  openUp(dir);
  const main = join(dir, 'dist', 'cli', 'main.js');
  installedCopies.set(addon, main);
  return main;
}

/** The CLI as uid/gid 65534 with no supplementary groups (setpriv), from its readable copy. */
export function cliAsNobody(args: string[]): CliResult {
  const r = spawnSync(
    'setpriv',
    ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, installedCopy(), ...args],
    { encoding: 'utf8', env: cleanEnv(), cwd: '/', timeout: 60_000 },
  );
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export async function waitFor(check: () => boolean, what: string, limitMs = 60_000): Promise<void> {
  const end = Date.now() + limitMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/**
 * A scratch cgroup with a light worker, a shell that writes a rising count to a file every 10 ms, so a
 * test sees it stop and resume without a core spinning under the CLI processes it starts.
 */
export class CgroupWithWorker {
  private constructor(
    readonly dir: string,
    private readonly counterFile: string,
  ) {}

  /** `name`: the scratch child to make (nested names make their parents), by default a fresh one. */
  static async start(scratch: Scratch, version: 1 | 2, tmp: string, name?: string): Promise<CgroupWithWorker> {
    const dir = scratch.make(version, name);
    const counterFile = join(tmp, `${basename(dir)}-v${version}.count`);
    const loop = `i=0; while :; do i=$((i+1)); echo $i > ${counterFile}; sleep 0.01; done`;
    // The shell joins the cgroup before it starts counting; the scratch's cleanup kills it there.
    spawn('sh', ['-c', `echo $$ > ${dir}/cgroup.procs && ${loop}`], { stdio: 'ignore' });
    const worker = new CgroupWithWorker(dir, counterFile);
    await waitFor(() => worker.counter() > 0, `the worker in ${dir} to count`);
    return worker;
  }

  kernelState(): KernelFreezerState {
    return kernelFreezerState(this.dir);
  }

  private counter(): number {
    try {
      return Number(readFileSync(this.counterFile, 'utf8').trim() || '0');
    } catch {
      return 0;
    }
  }

  /** The count moves: the worker runs. */
  async assertRunning(): Promise<void> {
    const before = this.counter();
    await waitFor(() => this.counter() > before, `the worker in ${this.dir} to run`, 30_000);
  }

  /** The count stays put over a short look: frozen tasks cannot count. */
  async assertStopped(): Promise<void> {
    const before = this.counter();
    await sleep(150);
    if (this.counter() !== before) throw new Error(`${this.dir}: the worker still runs`);
  }
}
