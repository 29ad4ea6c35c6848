// vitest globalSetup of the kernel tier. First it checks what that tier needs (root, the v1 freezer and
// cgroup2): without them it fails the run, so a real test can never be skipped quietly. Then it brings
// dist/ up to date once, before any test runs it (the CLI, strace and self-freeze tests start dist/ in
// child processes), under a flock on a file of this checkout: the kernel drops the lock with its holder,
// so a crashed run cannot leave it held, and a waiter gives up after BUILD_WAIT_S. Last, the
// real-engine labs (scripts/lab) for the whole run: installs the engines on a fresh machine, brings
// both labs up (fast no-op when they are up), and takes a lease on each; teardown releases it and the
// last holder brings the lab down, unless CGFREEZE_KEEP_LAB=1. Leases let concurrent runs (several
// worktrees) share one lab without tearing it down under each other.
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

// Not imported from helpers/lab.ts: that module imports vitest, which a globalSetup must not.
type LabMode = 'host' | 'v2';
const LAB_MODES: LabMode[] = ['host', 'v2'];
const ROOT = join(__dirname, '..');
const LAB_SCRIPT = join(ROOT, 'scripts', 'lab', 'lab.sh');
const INSTALL_SCRIPT = join(ROOT, 'scripts', 'lab', 'install.sh');
const HIERARCHIES = ['/sys/fs/cgroup/freezer', '/sys/fs/cgroup/unified'];
const BUILD_LOCK = join(ROOT, 'node_modules', '.cache', 'cgfreeze-dist.lock');
const BUILD_WAIT_S = 600;

// Runs under the lock: rebuilds when a source file is newer than the build.
const BUILD_IF_STALE = `
const { readdirSync, statSync, existsSync } = require('node:fs');
const { join } = require('node:path');
const { execFileSync } = require('node:child_process');
const newest = (dir) => Math.max(0, ...readdirSync(dir, { withFileTypes: true }).map((e) =>
  e.isDirectory() ? newest(join(dir, e.name)) : statSync(join(dir, e.name)).mtimeMs));
const built = join('dist', 'cli', 'main.js');
if (!existsSync(built) || newest('src') > statSync(built).mtimeMs) {
  execFileSync(process.execPath, [join('node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
  // The bin as the package ships it: one bundle over tsc's dist/cli/main.js.
  execFileSync(process.execPath, [join('scripts', 'build-cli.mjs')], { stdio: 'inherit' });
}
`;

function requireKernelTier(): void {
  const missing = [
    ...(process.getuid?.() === 0 ? [] : ['root']),
    ...HIERARCHIES.filter((mount) => !existsSync(join(mount, 'cgroup.procs'))).map((mount) => `a cgroup at ${mount}`),
  ];
  if (missing.length > 0)
    throw new Error(
      `the kernel tier needs ${missing.join(', ')}; \`npm run test:unit\` runs the tests that need none of it`,
    );
}

function buildDist(): void {
  mkdirSync(join(BUILD_LOCK, '..'), { recursive: true });
  execFileSync('flock', ['--wait', String(BUILD_WAIT_S), BUILD_LOCK, process.execPath, '-e', BUILD_IF_STALE], {
    cwd: ROOT,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
}

function bash(args: string[], timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = execFile('bash', args, { timeout: timeoutMs }, (err) =>
      err ? reject(new Error(`bash ${args.join(' ')} failed: ${err.message}`, { cause: err })) : resolve(),
    );
    child.stderr?.pipe(process.stderr);
  });
}

function labCommand(cmd: 'lease' | 'release', mode: LabMode): Promise<void> {
  return bash([LAB_SCRIPT, cmd, mode, String(process.pid)], 15 * 60_000);
}

/** The labs this run holds a lease on: teardown releases these only (setup may fail before any). */
const leased = new Set<LabMode>();

export async function setup(): Promise<void> {
  requireKernelTier();
  buildDist();
  const t = Date.now();
  await bash([INSTALL_SCRIPT], 15 * 60_000);
  await Promise.all(
    LAB_MODES.map(async (mode) => {
      await labCommand('lease', mode);
      leased.add(mode);
    }),
  );
  console.error(`[cgfl] labs ${LAB_MODES.join(', ')} ready in ${Date.now() - t} ms`);
}

export async function teardown(): Promise<void> {
  const results = await Promise.allSettled([...leased].map((mode) => labCommand('release', mode)));
  const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed.length > 0)
    throw new AggregateError(
      failed.map((f) => f.reason as unknown),
      'lab teardown failed',
    );
}
