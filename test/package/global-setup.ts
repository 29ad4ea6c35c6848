// vitest globalSetup of `npm run test:package`: installs what the consumer tests need (the arm64 cross
// compiler and qemu, the Node runtimes from the npm registry), builds the glibc prebuilds from this tree
// and packs the package, then hands the tarball and the runtimes to the tests through provide().
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';

const ROOT = join(__dirname, '..', '..');
/** The x64 majors the prebuild is proved under; arm64 runs one of them under qemu. */
const X64_MAJORS = [20, 22, 24];
const ARM64_MAJOR = 22;
/** The targets whose loading these tests prove; `npm run build:prebuilds` (no --target) builds musl too. */
const TESTED_TARGETS = ['linux-x64-glibc', 'linux-arm64-glibc'];

export interface NodeRuntime {
  major: number;
  arch: 'x64' | 'arm64';
  /** Command and leading arguments: `[node]`, or `[qemu-aarch64-static, -L, sysroot, node]`. */
  command: string[];
}

declare module 'vitest' {
  export interface ProvidedContext {
    tarball: string;
    runtimes: NodeRuntime[];
  }
}

function step<T>(what: string, fn: () => T): T {
  const started = Date.now();
  const result = fn();
  console.error(`[package] ${what} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return result;
}

/**
 * The node binary of node-linux-<arch>@<major> from the npm registry, unpacked under ~/.cache/cgfreeze/node
 * (this machine's cache, never shipped). `npm pack` + tar, not `npm install`: npm refuses an arm64 package
 * on this x64 host. Unpacked into a scratch directory and renamed, so a killed run leaves no half of one.
 */
function registryNode(arch: 'x64' | 'arm64', major: number): string {
  const cache = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'cgfreeze', 'node');
  const dir = join(cache, `linux-${arch}-${major}`);
  const binary = join(dir, 'package', 'bin', 'node');
  if (existsSync(binary)) return binary;
  mkdirSync(cache, { recursive: true });
  const scratch = mkdtempSync(join(cache, '.unpack-'));
  try {
    const packed = execFileSync('npm', ['pack', '--silent', `node-linux-${arch}@${major}`], {
      cwd: scratch,
      encoding: 'utf8',
    }).trim();
    execFileSync('tar', ['xzf', packed, 'package/bin/node', 'package/package.json'], { cwd: scratch });
    rmSync(join(scratch, packed));
    rmSync(dir, { recursive: true, force: true });
    renameSync(scratch, dir);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  return binary;
}

function runtimes(): NodeRuntime[] {
  const ownMajor = Number(process.versions.node.split('.')[0]);
  const x64 = X64_MAJORS.map((major): NodeRuntime => {
    // The node running the tests counts for its own major: only the others are installed.
    const binary = major === ownMajor && process.arch === 'x64' ? process.execPath : registryNode('x64', major);
    return { major, arch: 'x64', command: [binary] };
  });
  const arm64 = registryNode('arm64', ARM64_MAJOR);
  // Debian's arm64 glibc and libstdc++ (from the cross compiler's packages) are the emulated node's sysroot.
  const emulated: NodeRuntime = {
    major: ARM64_MAJOR,
    arch: 'arm64',
    command: ['qemu-aarch64-static', '-L', '/usr/aarch64-linux-gnu', arm64],
  };
  return [...x64, emulated];
}

function pack(): string {
  const dest = mkdtempSync(join(tmpdir(), 'cgfreeze-pack-'));
  execFileSync('npm', ['pack', '--silent', '--pack-destination', dest], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const [tarball] = readdirSync(dest).filter((f) => f.endsWith('.tgz'));
  if (tarball === undefined) throw new Error(`npm pack left no tarball in ${dest}`);
  return join(dest, tarball);
}

let tarballDir: string | undefined;

export function setup(project: TestProject): void {
  step('tools', () =>
    execFileSync('bash', [join(ROOT, 'scripts', 'package', 'install-tools.sh')], { stdio: 'inherit' }),
  );
  const found = step('node runtimes', runtimes);
  step('prebuilds', () =>
    execFileSync('npm', ['run', 'build:prebuilds', '--', ...TESTED_TARGETS.flatMap((t) => ['--target', t])], {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'inherit'],
    }),
  );
  const tarball = step('npm pack', pack);
  tarballDir = join(tarball, '..');
  project.provide('tarball', tarball);
  project.provide('runtimes', found);
}

export function teardown(): void {
  if (tarballDir !== undefined) rmSync(tarballDir, { recursive: true, force: true });
}
