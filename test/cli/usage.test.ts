import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { CLI, cleanEnv, cli, ROOT } from './helpers.js';

// Each step is a real process on a shared, often overloaded VM; allow for it.
vi.setConfig({ testTimeout: 300_000 });

const COMMANDS = ['pause', 'unpause', 'status', 'inspect', 'ls', 'demo'];

describe('usage, help and version', () => {
  it('--version prints the package version', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(cli(['--version'])).toEqual({ status: 0, stdout: `cgfreeze version ${pkg.version}\n`, stderr: '' });
    expect(JSON.parse(cli(['version', '--json']).stdout)).toMatchObject({ version: pkg.version });
  });

  it('--help lists every command; each command has its own --help', () => {
    const main = cli(['--help']);
    expect(main.status).toBe(0);
    for (const name of COMMANDS) {
      expect(main.stdout).toMatch(new RegExp(`^  ${name} +\\S`, 'm'));
      const help = cli([name, '--help']);
      expect(help.status).toBe(0);
      expect(help.stdout).toMatch(new RegExp(`^Usage:  cgfreeze ${name} `));
      expect(help.stdout).toContain('--json');
      expect(cli(['help', name]).stdout).toBe(help.stdout);
    }
  });

  it('serve is listed and hands its arguments to the sidecar, which has its own help', () => {
    expect(cli(['--help']).stdout).toMatch(/^ {2}serve +Run the privileged sidecar/m);
    const help = cli(['serve', '--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/^Usage: cgfreeze serve \[options\]/);
    expect(cli(['serve', '--no-such-flag']).status).not.toBe(0);
  });

  // docker 28.2.2, recorded on this machine:
  //   `docker pause`          -> rc 1, stderr "docker: 'docker pause' requires at least 1 argument\n\nUsage: ..."
  //   `docker pause --bogus x` -> rc 125, stderr "unknown flag: --bogus\n\nUsage: ..."
  // cgfreeze uses one status, 2, for every usage error, and one line that says what to do.
  it.each([
    [
      ['pause'],
      "Error: 'cgfreeze pause' requires at least 1 CONTAINER argument, a --cgroup PATH or a --filter (see 'cgfreeze pause --help')",
    ],
    [['unpause', '--bogus', 'x'], "Error: unknown flag: --bogus (see 'cgfreeze unpause --help')"],
    [['pause', '--timeout'], "Error: flag needs an argument: --timeout (see 'cgfreeze pause --help')"],
    [
      ['pause', '--timeout', 'later', 'x'],
      `Error: invalid duration for --timeout: "later"; use e.g. 30s, 1m30s, 500ms or a number of seconds (see 'cgfreeze pause --help')`,
    ],
    [
      ['pause', '--filter', 'status=running'],
      `Error: unsupported filter "status=running"; use --filter label=KEY or --filter label=KEY=VALUE (see 'cgfreeze pause --help')`,
    ],
    [['frobnicate'], "Error: unknown command: frobnicate (see 'cgfreeze --help')"],
    [
      ['demo', '--cycles', '0'],
      `Error: --cycles takes a whole number from 1 to 100000, got "0" (see 'cgfreeze demo --help')`,
    ],
  ])('%j is a usage error: exit 2, one line on stderr', (args, line) => {
    expect(cli(args)).toEqual({ status: 2, stdout: '', stderr: line + '\n' });
  });

  it('bare cgfreeze prints the help and exits 2', () => {
    const r = cli([]);
    expect(r.status).toBe(2);
    expect(r.stdout).toContain('Usage:  cgfreeze [OPTIONS] COMMAND');
  });

  it('--json turns a usage error into JSON on stdout', () => {
    const r = cli(['pause', '--json']);
    expect(r.status).toBe(2);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, error: { code: 'ERR_INVALID_ARG' } });
  });
});

describe('colour', () => {
  const plain = 'Error: No such cgroup: /sys/fs/cgroup/freezer/cgfc-nothing-here\n';
  it('is off when output is not a terminal', () => {
    expect(cli(['pause', '/sys/fs/cgroup/freezer/cgfc-nothing-here']).stderr).toBe(plain);
  });
  it('FORCE_COLOR turns it on, NO_COLOR wins over FORCE_COLOR', () => {
    const forced = cli(['pause', '/sys/fs/cgroup/freezer/cgfc-nothing-here'], { FORCE_COLOR: '1' });
    expect(forced.stderr).toBe('\u001b[31mError:\u001b[39m No such cgroup: /sys/fs/cgroup/freezer/cgfc-nothing-here\n');
    expect(cli(['pause', '/sys/fs/cgroup/freezer/cgfc-nothing-here'], { FORCE_COLOR: '1', NO_COLOR: '1' }).stderr).toBe(
      plain,
    );
  });
});

describe('demo', () => {
  it('freezes a live worker in each hierarchy, times 200 cycles by default, reports latencies, and leaves nothing', () => {
    const r = spawnSync(process.execPath, [CLI, 'demo', '--json'], { encoding: 'utf8', env: cleanEnv() });
    expect(r.status).toBe(0);
    const report = JSON.parse(r.stdout) as {
      versions: Array<{ version: string; stoppedWhileFrozen: boolean; cycles: number; resumeUs: { p50: number } }>;
    };
    expect(report.versions.map((v) => v.version)).toEqual(['v1', 'v2']);
    for (const v of report.versions) {
      expect(v).toMatchObject({ stoppedWhileFrozen: true, cycles: 200 });
      expect(v.resumeUs.p50).toBeGreaterThan(0);
    }
    // Its scratch cgroups are named after its pid.
    const made = ['/sys/fs/cgroup/freezer', '/sys/fs/cgroup/unified'].map((m) => `${m}/cgfreeze-demo-${r.pid}`);
    expect(made.filter((dir) => existsSync(dir))).toEqual([]);
    const human = cli(['demo', '--cycles', '3']);
    expect(human.status).toBe(0);
    expect(human.stdout).toMatch(/^CGROUP +HELD WHILE FROZEN +FREEZE P50 +THAW P50 +RESUME P50 +RESUME P99$/m);
    expect(human.stdout).toMatch(/^v1 +yes +/m);
  });
});
