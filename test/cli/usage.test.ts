import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { CLI, cleanEnv, cli, ROOT } from './helpers.js';

// Each step is a real process on a shared, often overloaded VM; allow for it.
vi.setConfig({ testTimeout: 300_000 });

const COMMANDS = ['pause', 'unpause', 'status', 'inspect', 'ls', 'serve', 'demo'];

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

  it('serve has the same help layout as every command, from the same option specs, as has its image entrypoint', () => {
    expect(cli(['--help']).stdout).toMatch(/^ {2}serve +Run the privileged sidecar/m);
    const help = cli(['serve', '--help']);
    expect(help.stdout).toMatch(/^  +--metrics-listen \[HOST:\]PORT +Serve GET \/metrics/m);
    expect(help.stdout).toMatch(/^  +--docker-root DIR +/m);
    expect(help.stdout).toMatch(/^Global options:$/m);
    const entrypoint = spawnSync(process.execPath, [join(ROOT, 'dist', 'serve', 'main.js'), '--help'], {
      encoding: 'utf8',
    });
    expect({ status: entrypoint.status, stdout: entrypoint.stdout }).toEqual({ status: 0, stdout: help.stdout });
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
    [['unpause', '--bogus', 'x'], "Error: Unknown flag: --bogus (see 'cgfreeze unpause --help')"],
    [['pause', '--timeout'], "Error: Flag needs an argument: --timeout (see 'cgfreeze pause --help')"],
    [
      ['pause', '--timeout', 'later', 'x'],
      `Error: Invalid duration for --timeout: "later"; use e.g. 30s, 1m30s, 500ms or a number of seconds (see 'cgfreeze pause --help')`,
    ],
    [
      ['pause', '--filter', 'name=web'],
      `Error: Unsupported filter "name=web"; use label=KEY, label=KEY=VALUE, status=running, status=paused, memory<SIZE, memory>SIZE, memory<PERCENT% or memory>PERCENT% (see 'cgfreeze pause --help')`,
    ],
    [
      ['unpause', '--filter', 'memory<lots'],
      `Error: Invalid memory size in filter "memory<lots": use e.g. 512MiB, 2GiB, 512m or a number of bytes (see 'cgfreeze unpause --help')`,
    ],
    [
      ['ls', '--filter', 'status=exited'],
      `Error: Unsupported status in filter "status=exited"; use status=running or status=paused (see 'cgfreeze ls --help')`,
    ],
    [['frobnicate'], "Error: Unknown command: frobnicate (see 'cgfreeze --help')"],
    [['serve', '--no-such-flag'], "Error: Unknown flag: --no-such-flag (see 'cgfreeze serve --help')"],
    [['serve', '--on-sigterm', 'kill'], "Error: --on-sigterm takes leave or thaw (see 'cgfreeze serve --help')"],
    [
      ['serve', '--tcp', '9000'],
      "Error: --tcp needs a token: --token-file FILE or CGFREEZE_SERVE_TOKEN (see 'cgfreeze serve --help')",
    ],
    [
      ['serve', '--metrics-listen', 'localhost'],
      `Error: --metrics-listen takes [HOST:]PORT, got "localhost" (see 'cgfreeze serve --help')`,
    ],
    // One duration grammar: a bare number is seconds, so a number of milliseconds is refused, not obeyed.
    [
      ['serve', '--request-timeout', '10000'],
      "Error: --request-timeout takes a duration from 1ms to 10m (see 'cgfreeze serve --help')",
    ],
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

describe('start-up', () => {
  /** What a process loaded by its exit: the package's files and Node's builtin modules. */
  function loaded(args: string[]): { files: string[]; builtins: string[] } {
    const dir = mkdtempSync(join(tmpdir(), 'cgfc-load-'));
    try {
      const preload = join(dir, 'loaded.cjs');
      writeFileSync(
        preload,
        "process.on('exit', () => require('fs').writeSync(2, JSON.stringify({ files: Object.keys(require.cache), " +
          "builtins: process.moduleLoadList.filter((m) => m.startsWith('NativeModule ')).map((m) => m.slice(13)) })));\n",
      );
      const r = spawnSync(process.execPath, ['--require', preload, ...args], { encoding: 'utf8', env: cleanEnv() });
      const seen = JSON.parse(r.stderr) as { files: string[]; builtins: string[] };
      return { files: seen.files.filter((f) => f !== preload), builtins: seen.builtins };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  it('the bin is one bundled file, and --version loads nothing node -e 0 does not but parseArgs and os', () => {
    const bare = new Set(loaded(['-e', '0']).builtins);
    const version = loaded([CLI, '--version']);
    expect(version.files).toEqual([CLI]);
    // Not child_process, net, streams or tty: each costs milliseconds of every run.
    expect(version.builtins.filter((b) => !bare.has(b)).sort()).toEqual([
      'internal/util/parse_args/parse_args',
      'internal/util/parse_args/utils',
      'os',
    ]);
  });

  it('output to a full non-blocking pipe is written whole and in order', async () => {
    // cgfreeze's stdout is a non-blocking pipe (python3 sets O_NONBLOCK, then execs it) whose reader is
    // slow: write(2) meets EAGAIN, and the rest goes through Node's stream, which waits for the reader.
    const targets = Array.from({ length: 3000 }, (_, i) => `/sys/fs/cgroup/freezer/cgfc-none-${i}`);
    const parent = spawn(
      'python3',
      [
        '-c',
        'import os, sys; os.set_blocking(1, False); os.execv(sys.argv[1], sys.argv[1:])',
        process.execPath,
        CLI,
        'inspect',
        ...targets,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'], env: cleanEnv() },
    );
    parent.stdout.pause();
    await new Promise((resolve) => setTimeout(resolve, 1500));
    let stdout = '';
    parent.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    parent.stdout.resume();
    const status = await new Promise<number | null>((resolve) => parent.on('close', resolve));
    expect(status).toBe(1);
    expect(stdout.length).toBeGreaterThan(128 * 1024);
    const body = JSON.parse(stdout) as { results: Array<{ target: string }> };
    expect(body.results.map((r) => r.target)).toEqual(targets);
  });

  it('a reader that goes away early (cgfreeze ... | head) costs no error', () => {
    const targets = Array.from({ length: 3000 }, (_, i) => `/sys/fs/cgroup/freezer/cgfc-none-${i}`);
    const r = spawnSync(
      'sh',
      ['-c', 'cli="$1"; shift; "$0" "$cli" inspect "$@" | head -c 1 > /dev/null', process.execPath, CLI, ...targets],
      { encoding: 'utf8', env: cleanEnv() },
    );
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
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

describe('a bug in cgfreeze', () => {
  it('exits 70 with a line asking for a report; CGFREEZE_DEBUG=1 adds the stack trace', () => {
    // A fault put in from outside: the CLI meets a plain TypeError where it asks for its uid, as it would
    // meet a bug of its own. It must not be reported as bad input (exit 2) or as a failed target (exit 1).
    const dir = mkdtempSync(join(tmpdir(), 'cgfc-bug-'));
    try {
      const preload = join(dir, 'bug.cjs');
      writeFileSync(preload, "process.getuid = () => { throw new TypeError('an injected bug'); };\n");
      const run = (env: Record<string, string>) =>
        spawnSync(process.execPath, ['--require', preload, CLI, 'ls'], { encoding: 'utf8', env: cleanEnv(env) });
      const plain = run({});
      expect({ status: plain.status, stdout: plain.stdout, stderr: plain.stderr }).toEqual({
        status: 70,
        stdout: '',
        stderr:
          'Error: Internal error in cgfreeze (please report it): an injected bug\n' +
          'This is a bug in cgfreeze: please report it, with the stack trace CGFREEZE_DEBUG=1 prints.\n',
      });
      const debug = run({ CGFREEZE_DEBUG: '1' });
      expect(debug.status).toBe(70);
      expect(debug.stderr).toMatch(/TypeError: an injected bug\n\s+at /);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
