// What the tarball holds: exactly the files a consumer needs, and prebuilds that are what their
// directory names say (machine, C library, the oldest glibc they need).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

const tarball = inject('tarball');
/** The newest glibc symbol version a glibc prebuild may need, 2.28 as x * 1000 + y (README, "Install"). */
const GLIBC_FLOOR = 2028;
/** readelf's name for each arch's e_machine. */
const MACHINE: Record<string, string> = { x64: 'Advanced Micro Devices X86-64', arm64: 'AArch64' };

let unpacked: string;
let files: string[];

beforeAll(() => {
  unpacked = mkdtempSync(join(tmpdir(), 'cgfreeze-tarball-'));
  execFileSync('tar', ['xzf', tarball, '-C', unpacked]);
  files = execFileSync('tar', ['tzf', tarball], { encoding: 'utf8' })
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => line.replace(/^package\//, ''));
});

afterAll(() => {
  rmSync(unpacked, { recursive: true, force: true });
});

const readelf = (args: string[], file: string): string =>
  execFileSync('readelf', ['-W', ...args, join(unpacked, 'package', file)], { encoding: 'utf8' });

describe('the tarball', () => {
  it('holds exactly what a consumer needs', () => {
    const allowed = [
      /^(LICENSE|README\.md|CHANGELOG\.md|package\.json|binding\.gyp|scripts\/install\.mjs)$/,
      /^native\/[a-z_]+\.(cc|h)$/,
      /^dist\/([a-z-]+\/)*[a-z-]+\.(js|d\.ts)$/,
      /^prebuilds\/linux-(x64|arm64)-(glibc|musl)\/cgfreeze\.node$/,
    ];
    expect(files.filter((f) => !allowed.some((pattern) => pattern.test(f)))).toEqual([]);
    for (const needed of [
      'LICENSE',
      'CHANGELOG.md',
      'dist/index.js',
      'dist/client/index.d.ts',
      'dist/serve/index.js',
    ]) {
      expect(files).toContain(needed);
    }
    expect(files).toEqual(expect.arrayContaining(['prebuilds/linux-x64-glibc/cgfreeze.node']));
    expect(files).toEqual(expect.arrayContaining(['prebuilds/linux-arm64-glibc/cgfreeze.node']));
  });

  it('passes publint and arethetypeswrong (types under node10, node16 and bundler resolution)', () => {
    const bin = (name: string): string => join(__dirname, '..', '..', 'node_modules', '.bin', name);
    // Both read the tarball's own files: nothing is packed again.
    expect(
      execFileSync(bin('publint'), ['--strict', '--pack', 'false', join(unpacked, 'package')], { encoding: 'utf8' }),
    ).toContain('All good!');
    expect(execFileSync(bin('attw'), [tarball], { encoding: 'utf8' })).toContain('No problems found');
  });

  it('has a package.json that installs on any OS', () => {
    const pkg = JSON.parse(readFileSync(join(unpacked, 'package', 'package.json'), 'utf8')) as Record<string, unknown>;
    expect(pkg.os).toBeUndefined();
    expect(pkg.cpu).toBeUndefined();
    expect(pkg.type).toBe('commonjs');
    expect(pkg.scripts).toMatchObject({ install: 'node scripts/install.mjs' });
  });
});

/** `[machine, libc]` as the ELF file itself says: e_machine, and whether it needs glibc's libc.so.6. */
function elfIdentity(file: string): [string, string] {
  const machine = /Machine:\s+(.+)/.exec(readelf(['-h'], file))?.[1]?.trim() ?? '';
  const needed = [...readelf(['-d'], file).matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
  return [machine, needed.includes('libc.so.6') ? 'glibc' : 'musl'];
}

/** The newest GLIBC_x.y symbol version the file needs, as x * 1000 + y. */
function newestGlibc(file: string): number {
  const versions = [...readelf(['-V'], file).matchAll(/Name: GLIBC_(\d+)\.(\d+)/g)];
  return Math.max(...versions.map((m) => Number(m[1]) * 1000 + Number(m[2])));
}

describe('each prebuild', () => {
  const prebuilds = (): string[] => files.filter((f) => f.startsWith('prebuilds/'));

  it('is a shared object for the arch and C library its directory names', () => {
    const named = prebuilds().map((file) => {
      const [, arch = '', libc = ''] = /linux-(\w+)-(\w+)\//.exec(file) ?? [];
      return { file, identity: [MACHINE[arch], libc] };
    });
    expect(prebuilds().map((file) => ({ file, identity: elfIdentity(file) }))).toEqual(named);
    expect(prebuilds().map((file) => /Type:\s+(\w+)/.exec(readelf(['-h'], file))?.[1])).toEqual(
      prebuilds().map(() => 'DYN'),
    );
  });

  it('needs no glibc newer than the documented floor', () => {
    const glibc = prebuilds().filter((file) => file.includes('-glibc/'));
    const newest = glibc.map((file) => ({ file, newest: newestGlibc(file) }));
    expect(newest.filter((n) => n.newest > GLIBC_FLOOR)).toEqual([]);
    expect(newest.every((n) => n.newest > 2000)).toBe(true);
  });
});
