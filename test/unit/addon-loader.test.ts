import { createRequire } from 'node:module';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type AddonTarget,
  addonCandidates,
  detectLibc,
  libcOfMaps,
  libcOfReport,
  loadAddon,
  prebuildPath,
  targetName,
} from '../../src/addon-loader.js';
import { CgfreezeError } from '../../src/errors.js';
import { packageRoot } from '../../src/native.js';

const GLIBC_MAPS = `55d0c0a00000-55d0c0b00000 r-xp 00000000 fe:00 1 /usr/bin/node
7f0c1a000000-7f0c1a1d0000 r-xp 00026000 fe:00 2 /usr/lib/x86_64-linux-gnu/libc.so.6
7f0c1a400000-7f0c1a42a000 r-xp 00001000 fe:00 3 /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2
`;
const ALPINE_MAPS = `5581d1a00000-5581d2f00000 r-xp 00000000 08:01 1 /usr/bin/node
7f5a8b000000-7f5a8b200000 r-xp 00000000 08:01 2 /usr/lib/libstdc++.so.6.0.32
7f5a8c51b000-7f5a8c5b1000 r-xp 00014000 08:01 3 /lib/ld-musl-x86_64.so.1
`;
/** qemu-user shows the guest's own mappings: an arm64 glibc under its -L sysroot. */
const QEMU_ARM64_MAPS = `5500bc0000-5500d47000 r-xp 00000000 fe:00 4 /usr/aarch64-linux-gnu/lib/libc.so.6
`;
const X64_GLIBC: AddonTarget = { platform: 'linux', arch: 'x64', libc: 'glibc' };
const X64_MUSL: AddonTarget = { platform: 'linux', arch: 'x64', libc: 'musl' };
const BUILT_ADDON = join(packageRoot, 'build', 'Release', 'cgfreeze.node');
/** The abi of the addon this checkout built, whatever its number is today. */
const ABI = (createRequire(__filename)(BUILT_ADDON) as { abiVersion: number }).abiVersion;
/** In fakePackage: a copy of the addon this checkout built. */
const ADDON = Symbol('addon');

const roots: string[] = [];
afterEach(() => {
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
});

/** A package root with the repository's node_modules (for `bindings`) and the given addon files. */
function fakePackage(files: Record<string, string | typeof ADDON>): string {
  const root = mkdtempSync(join(tmpdir(), 'cgfreeze-loader-'));
  roots.push(root);
  writeFileSync(join(root, 'package.json'), '{"name":"cgfreeze"}');
  symlinkSync(join(packageRoot, 'node_modules'), join(root, 'node_modules'));
  for (const [file, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, file)), { recursive: true });
    // A copy, not a link: each root's addon is its own file for dlopen.
    if (content === ADDON) copyFileSync(BUILT_ADDON, join(root, file));
    else writeFileSync(join(root, file), content);
  }
  return root;
}

function loadError(root: string, abi = ABI): CgfreezeError {
  try {
    loadAddon(root, abi);
  } catch (err) {
    if (err instanceof CgfreezeError) return err;
    throw err;
  }
  throw new Error('loadAddon did not throw');
}

describe('detectLibc', () => {
  it('tells glibc from musl by what the process has mapped', () => {
    expect(libcOfMaps(GLIBC_MAPS)).toBe('glibc');
    expect(libcOfMaps(ALPINE_MAPS)).toBe('musl');
    expect(libcOfMaps(QEMU_ARM64_MAPS)).toBe('glibc');
    expect(libcOfMaps('7f5a8c51b000-7f5a8c5b1000 r-xp 0 08:01 3 /lib/libc.musl-x86_64.so.1\n')).toBe('musl');
  });

  it('reads this process, from its maps and from its report alike: glibc on this machine', () => {
    const report = process.report as { excludeNetwork?: boolean };
    const excludeNetwork = report.excludeNetwork;
    expect(detectLibc()).toBe('glibc');
    expect(libcOfReport()).toBe('glibc');
    expect(report.excludeNetwork).toBe(excludeNetwork);
  });
});

describe('addonCandidates', () => {
  it('tries the local build first, then the prebuild for exactly this platform, arch and libc', () => {
    const candidates = addonCandidates('/pkg', X64_GLIBC);
    expect(candidates.map((c) => c.kind)).toEqual(['local build', 'prebuild']);
    expect(candidates[1]?.label).toBe('prebuild prebuilds/linux-x64-glibc');
    expect(prebuildPath('/pkg', X64_GLIBC)).toBe('/pkg/prebuilds/linux-x64-glibc/cgfreeze.node');
  });

  it('never offers a glibc prebuild to a musl process', () => {
    const labels = addonCandidates('/pkg', X64_MUSL).map((c) => c.label);
    expect(labels).toEqual(['local build (build/Release)', 'prebuild prebuilds/linux-x64-musl']);
  });

  it('offers only a local build where no prebuild ships', () => {
    const riscv: AddonTarget = { platform: 'linux', arch: 'riscv64', libc: 'glibc' };
    expect(addonCandidates('/pkg', riscv).map((c) => c.kind)).toEqual(['local build']);
  });
});

describe('loadAddon', () => {
  it('loads the local build when there is one, without touching the prebuild', () => {
    const root = fakePackage({
      'build/Release/cgfreeze.node': ADDON,
      [`prebuilds/${targetName(X64_GLIBC)}/cgfreeze.node`]: 'not an ELF file',
    });
    expect((loadAddon(root, ABI) as { abiVersion: number }).abiVersion).toBe(ABI);
  });

  it('loads the prebuild when there is no local build', () => {
    const root = fakePackage({ [`prebuilds/${targetName(X64_GLIBC)}/cgfreeze.node`]: ADDON });
    expect((loadAddon(root, ABI) as { abiVersion: number }).abiVersion).toBe(ABI);
  });

  it('names each candidate and a remedy a consumer can run when nothing loads', () => {
    const err = loadError(fakePackage({ [`prebuilds/${targetName(X64_GLIBC)}/cgfreeze.node`]: 'not an ELF file' }));
    expect(err.code).toBe('ERR_NATIVE_LOAD');
    expect(err.message).toContain('could not be loaded for linux-x64-glibc:');
    expect(err.message).toContain('local build (build/Release): none');
    expect(err.message).toMatch(/prebuild prebuilds\/linux-x64-glibc: .*(invalid ELF header|too short)/);
    expect(err.message).toContain('`npm rebuild cgfreeze`');
    expect(err.message).not.toContain('cmake');
  });

  it('says when the package has no prebuild at all', () => {
    const err = loadError(fakePackage({}));
    expect(err.message).toContain('prebuild prebuilds/linux-x64-glibc: not in this package');
  });

  it('reports a stale addon with its abi and the expected one', () => {
    const err = loadError(fakePackage({ 'build/Release/cgfreeze.node': ADDON }), ABI + 1);
    expect(err.message).toContain(`local build (build/Release): stale (abi ${ABI}, expected ${ABI + 1})`);
  });

  it('off Linux, is a typed error that points at the client', () => {
    const platform = Object.getOwnPropertyDescriptor(process, 'platform') as PropertyDescriptor;
    Object.defineProperty(process, 'platform', { value: 'darwin' });
    try {
      const err = loadError(fakePackage({ 'build/Release/cgfreeze.node': ADDON }));
      expect(err.code).toBe('ERR_NATIVE_LOAD');
      expect(err.message).toBe(
        'the cgfreeze freezer runs only on Linux (this is darwin); cgfreeze/client works on any OS',
      );
    } finally {
      Object.defineProperty(process, 'platform', platform);
    }
  });
});
