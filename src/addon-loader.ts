/**
 * Finds and loads the native addon: a local build first (what `npm rebuild`
 * or a source checkout compiled, found by `bindings`), then the prebuild the
 * package ships for this platform, arch and C library. It knows files and
 * processes, nothing about cgroups; src/native.ts gives the result its type.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { CgfreezeError } from './errors.js';

export type Libc = 'glibc' | 'musl';

export interface AddonTarget {
  platform: NodeJS.Platform;
  arch: string;
  libc: Libc;
}

/** What `npm run prebuild` builds and the package ships, one N-API binary each. */
export const PREBUILD_TARGETS: readonly AddonTarget[] = [
  { platform: 'linux', arch: 'x64', libc: 'glibc' },
  { platform: 'linux', arch: 'arm64', libc: 'glibc' },
  { platform: 'linux', arch: 'x64', libc: 'musl' },
  { platform: 'linux', arch: 'arm64', libc: 'musl' },
];

const ADDON_NAME = 'cgfreeze';

/** `linux-x64-glibc`: the prebuild's directory under `prebuilds/`. */
export function targetName(target: AddonTarget): string {
  return `${target.platform}-${target.arch}-${target.libc}`;
}

export function shipsPrebuild(target: AddonTarget): boolean {
  return PREBUILD_TARGETS.some((t) => targetName(t) === targetName(target));
}

export function prebuildPath(packageRoot: string, target: AddonTarget): string {
  return join(packageRoot, 'prebuilds', targetName(target), `${ADDON_NAME}.node`);
}

// A musl process maps musl's loader (`ld-musl-x86_64.so.1`, Alpine also names it `libc.musl-x86_64.so.1`).
const MUSL_MAPPING = /\/(?:ld-musl-|libc\.musl-)[^/\n]*$/m;

/**
 * The C library of this process: the one Node itself was linked against,
 * which is the one a prebuild must match, whatever else the host has.
 */
export function detectLibc(): Libc {
  let maps: string;
  try {
    maps = readFileSync('/proc/self/maps', 'utf8');
  } catch {
    return libcOfReport();
  }
  return libcOfMaps(maps);
}

/** From what the process has mapped (/proc/self/maps, about 4 KB). */
export function libcOfMaps(maps: string): Libc {
  return MUSL_MAPPING.test(maps) ? 'musl' : 'glibc';
}

/**
 * Without /proc: Node's report names the glibc it runs on, and only on glibc
 * (about 30 ms). Its network section is left out: it would look up the names
 * of open sockets' peers.
 */
export function libcOfReport(): Libc {
  const report = process.report as NodeJS.ProcessReport & { excludeNetwork: boolean };
  const excludeNetwork = report.excludeNetwork;
  report.excludeNetwork = true;
  try {
    const { header } = report.getReport() as { header?: { glibcVersionRuntime?: unknown } };
    return typeof header?.glibcVersionRuntime === 'string' ? 'glibc' : 'musl';
  } finally {
    report.excludeNetwork = excludeNetwork;
  }
}

export function currentTarget(): AddonTarget {
  return { platform: process.platform, arch: process.arch, libc: detectLibc() };
}

/** One place an addon may come from, in the order they are tried. */
export interface AddonCandidate {
  kind: 'local build' | 'prebuild';
  label: string;
  load(): unknown;
}

/** Thrown by `bindings` when none of its paths holds a build (it lists them in `tries`). */
function isNoLocalBuild(err: unknown): boolean {
  return err instanceof Error && Array.isArray((err as { tries?: unknown }).tries);
}

export function addonCandidates(packageRoot: string, target: AddonTarget): AddonCandidate[] {
  const require = createRequire(join(packageRoot, 'package.json'));
  const candidates: AddonCandidate[] = [
    {
      kind: 'local build',
      label: 'local build (build/Release)',
      load: () => {
        const bindings = require('bindings') as (opts: { bindings: string; module_root: string }) => unknown;
        try {
          return bindings({ bindings: ADDON_NAME, module_root: packageRoot });
        } catch (err) {
          if (isNoLocalBuild(err)) throw new Error('none', { cause: err });
          throw err;
        }
      },
    },
  ];
  if (shipsPrebuild(target)) {
    const path = prebuildPath(packageRoot, target);
    candidates.push({
      kind: 'prebuild',
      label: `prebuild prebuilds/${targetName(target)}`,
      load: () => require(path) as unknown,
    });
  }
  return candidates;
}

function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return (text.split('\n')[0] ?? '').replace(/^Cannot find module .*/, 'not in this package');
}

export const BUILD_FROM_SOURCE_REMEDY =
  'Build it from source: install python3, make and g++ (Debian/Ubuntu: `apt-get install python3 make g++`;' +
  ' Alpine: `apk add python3 make g++ linux-headers`; Fedora/RHEL: `dnf install python3 make gcc-c++`),' +
  ' then run `npm rebuild cgfreeze` (pnpm: `pnpm rebuild cgfreeze`) in your project.';

/**
 * Loads the first candidate whose `abiVersion` is `expectedAbi`: a stale local
 * build does not hide a good prebuild. Throws ERR_NATIVE_LOAD naming every
 * candidate's failure and a remedy that works in a consumer's project.
 */
export function loadAddon(packageRoot: string, expectedAbi: number): unknown {
  if (process.platform !== 'linux') {
    throw new CgfreezeError(
      'ERR_NATIVE_LOAD',
      `the cgfreeze freezer runs only on Linux (this is ${process.platform}); cgfreeze/client works on any OS`,
    );
  }
  const target = currentTarget();
  const failures: string[] = [];
  let lastError: unknown;
  for (const candidate of addonCandidates(packageRoot, target)) {
    let addon: unknown;
    try {
      addon = candidate.load();
    } catch (err) {
      failures.push(`${candidate.label}: ${firstLine(err)}`);
      lastError = err;
      continue;
    }
    const abi = (addon as { abiVersion?: unknown }).abiVersion;
    if (abi === expectedAbi) return addon;
    failures.push(`${candidate.label}: stale (abi ${String(abi)}, expected ${expectedAbi})`);
  }
  throw new CgfreezeError(
    'ERR_NATIVE_LOAD',
    `the cgfreeze native addon could not be loaded for ${targetName(target)}` +
      (shipsPrebuild(target) ? '' : ' (no prebuild ships for it)') +
      ':\n  ' +
      failures.join('\n  ') +
      '\n' +
      BUILD_FROM_SOURCE_REMEDY,
    lastError === undefined ? {} : { cause: lastError },
  );
}
