import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { readProcs } from '../../scripts/workload/cgroupfs.js';
import { startStuckTask } from '../../scripts/workload/index.js';
import { UNTOUCHED, kernelView } from '../helpers/kernel.js';
import { type Scratch, createScratch, makeTempDir, removeTempDir } from '../helpers/scratch.js';
import { CLI, CgroupWithWorker, cleanEnv, cli, cliAsNobody, cliSpawn, installedCopy, waitFor } from './helpers.js';

// Each step is a real process on a shared, often overloaded VM; allow for it.
vi.setConfig({ testTimeout: 300_000 });

// End to end on raw cgroups: the CLI as a process, the kernel and a worker's counter as the judges.
let scratch: Scratch;
let v1: CgroupWithWorker;
let v2: CgroupWithWorker;
let spare: CgroupWithWorker;
const tmp = makeTempDir();

beforeAll(async () => {
  scratch = createScratch();
  [v1, v2, spare] = await Promise.all([
    CgroupWithWorker.start(scratch, 1, tmp),
    CgroupWithWorker.start(scratch, 2, tmp),
    CgroupWithWorker.start(scratch, 1, tmp),
  ]);
});

afterAll(async () => {
  await scratch?.cleanup();
  removeTempDir(tmp);
});

function auditLines(file: string): Array<Record<string, unknown>> {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('pause and unpause --cgroup', () => {
  it('pauses a v1 and a v2 cgroup at once, stops the workloads, and unpauses them', async () => {
    const r = cli(['pause', '--cgroup', v1.dir, '--cgroup', v2.dir]);
    expect(r).toMatchObject({ status: 0, stderr: '' });
    expect(r.stdout).toBe(`${v1.dir}\n${v2.dir}\n`);
    expect(v1.kernelState()).toBe('frozen');
    expect(v2.kernelState()).toBe('frozen');
    await v1.assertStopped();
    await v2.assertStopped();

    const u = cli(['unpause', v1.dir, v2.dir]); // a path as a plain argument works too
    expect(u).toMatchObject({ status: 0, stderr: '', stdout: `${v1.dir}\n${v2.dir}\n` });
    expect(v1.kernelState()).toBe('thawed');
    expect(v2.kernelState()).toBe('thawed');
    await v1.assertRunning();
    await v2.assertRunning();
  });

  it('handles each target on its own: successes on stdout, one error line each, exit 1', () => {
    const missing = `${scratch.root(1)}/missing`;
    const r = cli(['pause', v1.dir, missing, spare.dir]);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe(`${v1.dir}\n${spare.dir}\n`);
    expect(r.stderr).toBe(`Error: No such cgroup: ${missing}\n`);
    expect(v1.kernelState()).toBe('frozen');
    expect(spare.kernelState()).toBe('frozen');

    // docker: "Error response from daemon: Container <id> is already paused"
    const again = cli(['pause', v1.dir]);
    expect(again).toMatchObject({ status: 1, stdout: '', stderr: `Error: Cgroup ${v1.dir} is already paused\n` });

    const u = cli(['unpause', v1.dir, spare.dir]);
    expect(u).toMatchObject({ status: 0, stdout: `${v1.dir}\n${spare.dir}\n` });
    // docker: "Error response from daemon: Container <id> is not paused"
    const notPaused = cli(['unpause', v1.dir]);
    expect(notPaused).toMatchObject({ status: 1, stdout: '', stderr: `Error: Cgroup ${v1.dir} is not paused\n` });
  });

  it('--atomic pauses nothing when one target fails', () => {
    const missing = `${scratch.root(1)}/missing`;
    const r = cli(['pause', '--atomic', v1.dir, missing, v2.dir]);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`Error: No such cgroup: ${missing}`);
    expect(v1.kernelState()).toBe('thawed');
    expect(v2.kernelState()).toBe('thawed');
  });

  it('--json reports each target with state, version and latency', () => {
    const r = cli(['pause', '--json', v2.dir, `${scratch.root(2)}/missing`]);
    expect(r.status).toBe(1);
    const body = JSON.parse(r.stdout) as { ok: boolean; results: Array<Record<string, unknown>> };
    expect(body.ok).toBe(false);
    expect(body.results[0]).toMatchObject({
      target: v2.dir,
      ok: true,
      state: 'frozen',
      version: 'v2',
      cgroupDir: v2.dir,
    });
    expect(typeof body.results[0]?.['elapsedMs']).toBe('number');
    expect(body.results[1]).toMatchObject({ ok: false, error: { code: 'ENOENT' } });
    expect(cli(['unpause', '--json', v2.dir]).status).toBe(0);
    expect(v2.kernelState()).toBe('thawed');
  });

  it('refuses the root cgroup and paths that are not cgroups, with one line saying why', () => {
    const root = cli(['pause', '--cgroup', '/sys/fs/cgroup/freezer']);
    expect(root.status).toBe(1);
    expect(root.stderr).toBe(
      'Error: /sys/fs/cgroup/freezer is the root cgroup of its hierarchy, which is never frozen\n',
    );
    const notCgroup = cli(['pause', '--cgroup', tmp]);
    expect(notCgroup.status).toBe(1);
    expect(notCgroup.stderr).toMatch(/^Error: Not on a cgroup mount: .*; give a cgroup directory such as .*\n$/);
    const relative = cli(['pause', '--cgroup', 'freezer/x']);
    expect(relative.status).toBe(2);
    expect(relative.stderr.split('\n')).toHaveLength(2);
  });

  it('refuses to freeze the cgroup it runs in', async () => {
    // The CLI joins the spare cgroup first, then is asked to freeze it.
    const sh = spawn(
      'sh',
      ['-c', `echo $$ > ${spare.dir}/cgroup.procs && exec "${process.execPath}" "${CLI}" pause ${spare.dir}`],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    sh.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const status = await new Promise<number | null>((resolve) => sh.on('close', resolve));
    expect(status).toBe(1);
    expect(stderr.startsWith(`Error: Refusing to freeze ${spare.dir}: this process is in it`)).toBe(true);
    expect(stderr.split('\n')).toHaveLength(2);
    expect(spare.kernelState()).toBe('thawed');
  });

  it('--atomic: a target the library refuses at the freeze rolls back the others, each says why', async () => {
    // From inside spare, spare passes the checks (its state is readable) and is refused at the freeze.
    const sh = spawn(
      'sh',
      [
        '-c',
        `echo $$ > ${spare.dir}/cgroup.procs && exec "${process.execPath}" "${CLI}" pause --atomic --json ${v1.dir} ${spare.dir}`,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    sh.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    const status = await new Promise<number | null>((resolve) => sh.on('close', resolve));
    expect(status).toBe(1);
    expect(JSON.parse(stdout)).toEqual({
      ok: false,
      results: [
        {
          target: v1.dir,
          ok: false,
          error: { code: 'ERR_ATOMIC_ROLLBACK', message: `Pause rolled back: --atomic, and ${spare.dir} failed` },
        },
        {
          target: spare.dir,
          ok: false,
          error: { code: 'ERR_SELF_FREEZE', message: expect.stringMatching(/^Refusing to freeze /) as unknown },
        },
      ],
    });
    expect(v1.kernelState()).toBe('thawed');
    expect(spare.kernelState()).toBe('thawed');
    await v1.assertRunning();
  });

  it('without privilege says to run as root', () => {
    // nobody cannot write freezer.state (nor, under a umask of 077, enter the directory); the check is
    // the kernel's, not ours.
    const r = cliAsNobody(['pause', v1.dir]);
    expect(r.status).toBe(1);
    expect(r.stderr.startsWith(`Error: Permission denied: ${v1.dir}`)).toBe(true);
    expect(r.stderr).toMatch(/^Error: Permission denied: \S+ \(EACCES in \w+\); run cgfreeze as root.*\n$/);
    expect(v1.kernelState()).toBe('thawed');
  });
});

describe('audit log', () => {
  it('writes one JSON line per state change, to --audit-log and to CGFREEZE_AUDIT_LOG', () => {
    const file = join(tmp, 'audit.jsonl');
    const missing = `${scratch.root(1)}/missing`;
    expect(cli(['pause', '--audit-log', file, v1.dir, missing]).status).toBe(1);
    // Under sudo, the line names the user who ran sudo.
    expect(cli(['unpause', v1.dir], { CGFREEZE_AUDIT_LOG: file, SUDO_USER: 'ana' }).status).toBe(0);
    const lines = auditLines(file);
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatchObject({
      action: 'pause',
      target: v1.dir,
      cgroupDir: v1.dir,
      version: 'v1',
      result: 'ok',
      state: 'frozen',
      who: {
        via: 'cli',
        uid: 0,
        gid: 0,
        pid: expect.any(Number) as number,
        // spawnSync from this test process: the CLI's parent is this process.
        ppid: process.pid,
        command: ['cgfreeze', 'pause', '--audit-log', file, v1.dir, missing],
      },
    });
    expect(typeof lines[0]?.['latencyMs']).toBe('number');
    expect(new Date(String(lines[0]?.['time'])).getTime()).not.toBeNaN();
    expect(lines[1]).toMatchObject({ action: 'pause', result: 'error', error: { code: 'ENOENT' }, latencyMs: null });
    expect(lines[2]).toMatchObject({ action: 'unpause', target: v1.dir, result: 'ok', state: 'thawed' });
    expect(lines.map((l) => (l['who'] as { sudoUser?: string }).sudoUser)).toEqual([undefined, undefined, 'ana']);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('changes nothing when the audit log cannot be opened', () => {
    const r = cli(['pause', '--audit-log', join(tmp, 'no-such-dir', 'audit.jsonl'), v1.dir]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^Error: Cannot open the audit log .*no-such-dir.*\n$/);
    expect(v1.kernelState()).toBe('thawed');
  });

  it('sends the same line to syslog through logger(1) when asked', async () => {
    const sock = join(tmp, 'syslog.sock');
    const out = join(tmp, 'syslog.txt');
    // A datagram syslog socket that writes each message it receives to a file.
    const py = spawn(
      'python3',
      [
        '-c',
        `import socket,sys\ns=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM)\ns.bind(sys.argv[1])\nprint('ready',flush=True)\nwhile True:\n  d=s.recv(65536)\n  open(sys.argv[2],'ab').write(d+b'\\n')`,
        sock,
        out,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      await new Promise<void>((resolve) => py.stdout.once('data', () => resolve()));
      const r = cli(['pause', '--syslog', v2.dir], { CGFREEZE_SYSLOG_SOCKET: sock });
      expect(r).toMatchObject({ status: 0, stderr: '' });
      expect(cli(['unpause', v2.dir], { CGFREEZE_AUDIT_SYSLOG: '1', CGFREEZE_SYSLOG_SOCKET: sock }).status).toBe(0);
      await waitFor(() => readFileSafe(out).split('\n').filter(Boolean).length === 2, 'two syslog messages');
      const [first, second] = readFileSafe(out).split('\n');
      // RFC 3164 from logger: <PRI>TIMESTAMP TAG[PID]: MSG; auth.notice is 4*8+5 = 37.
      expect(first).toMatch(/^<37>.*cgfreeze\[\d+\]: \{.*"action":"pause".*"result":"ok".*\}$/);
      expect(second).toMatch(/"action":"unpause"/);
    } finally {
      py.kill();
    }
  });

  it('warns, without failing the change, when syslog is unreachable', () => {
    const r = cli(['pause', '--syslog', v2.dir], { CGFREEZE_SYSLOG_SOCKET: join(tmp, 'nobody-listens.sock') });
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(`${v2.dir}\n`);
    expect(r.stderr).toMatch(/^Warning: Syslog: .*nobody-listens\.sock.*\n$/);
    expect(cli(['unpause', v2.dir]).status).toBe(0);
  });
});

function readFileSafe(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

describe('pause --for', () => {
  it('holds the pause for the duration, then unpauses and exits 0', async () => {
    const file = join(tmp, 'for.jsonl');
    const run = cliSpawn(['pause', '--for', '400ms', '--audit-log', file, v1.dir, v2.dir]);
    await waitFor(() => run.stdout().includes(v2.dir), 'the pause to be reported');
    expect(v1.kernelState()).toBe('frozen');
    expect(v2.kernelState()).toBe('frozen');
    const r = await run.done;
    expect(r).toMatchObject({ status: 0, stdout: `${v1.dir}\n${v2.dir}\n`, stderr: '' });
    expect(v1.kernelState()).toBe('thawed');
    expect(v2.kernelState()).toBe('thawed');
    const lines = auditLines(file);
    expect(lines.map((l) => [l['action'], l['reason'] ?? ''].join(' '))).toEqual([
      'pause ',
      'pause ',
      'unpause timer',
      'unpause timer',
    ]);
  });

  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    it(`unpauses at once on ${signal}`, async () => {
      const file = join(tmp, `${signal}.jsonl`);
      const run = cliSpawn(['pause', '--for', '1h', '--audit-log', file, v2.dir]);
      await waitFor(() => run.stdout().includes(v2.dir), 'the pause to be reported');
      expect(v2.kernelState()).toBe('frozen');
      run.child.kill(signal);
      const r = await run.done;
      expect(r.status).toBe(0);
      expect(v2.kernelState()).toBe('thawed');
      expect(auditLines(file).at(-1)).toMatchObject({ action: 'unpause', result: 'ok', reason: signal });
      await v2.assertRunning();
    });
  }

  it('a SIGKILL cannot be caught: the targets stay frozen until cgfreeze unpause', async () => {
    const run = cliSpawn(['pause', '--for', '1h', v2.dir]);
    await waitFor(() => run.stdout().includes(v2.dir), 'the pause to be reported');
    run.child.kill('SIGKILL');
    expect((await run.done).status).toBeNull();
    await v2.assertStopped();
    expect(v2.kernelState()).toBe('frozen');
    expect(cli(['unpause', v2.dir]).status).toBe(0);
    await v2.assertRunning();
  });

  it('rejects a bad duration as a usage error', () => {
    const r = cli(['pause', '--for', 'soon', v1.dir]);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe(
      `Error: Invalid duration for --for: "soon"; use e.g. 30s, 1m30s, 500ms or a number of seconds (see 'cgfreeze pause --help')\n`,
    );
    expect(v1.kernelState()).toBe('thawed');
  });
});

describe('timeouts, debugging and a missing addon', () => {
  it('--timeout, and CGFREEZE_TIMEOUT as its default, bound the wait for the kernel; the freeze is rolled back', async () => {
    const dir = scratch.make(2);
    const stuck = await startStuckTask(dir);
    try {
      for (const [args, env] of [
        [['--timeout', '300ms'], {}],
        [[], { CGFREEZE_TIMEOUT: '300ms' }],
      ] as const) {
        const started = Date.now();
        const r = cli(['pause', '--json', ...args, dir], env);
        expect(Date.now() - started).toBeLessThan(30_000); // not the 60 s of cleanEnv's CGFREEZE_TIMEOUT
        expect(r.status).toBe(1);
        expect(JSON.parse(r.stdout)).toMatchObject({
          ok: false,
          results: [{ ok: false, error: { code: 'ERR_FREEZE_TIMEOUT' } }],
        });
        expect(kernelView(dir)).toEqual(UNTOUCHED);
      }
    } finally {
      await stuck.stop();
    }
  });

  it('CGFREEZE_DEBUG=1 adds the stack trace to an error that ends the command', () => {
    const args = ['pause', '--audit-log', join(tmp, 'no-such-dir', 'audit.jsonl'), v1.dir];
    const plain = cli(args);
    expect(plain.status).toBe(1);
    expect(plain.stderr).not.toMatch(/^ {4}at /m);
    const r = cli(args, { CGFREEZE_DEBUG: '1' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^ {4}at /m);
    expect(r.stderr.endsWith(plain.stderr)).toBe(true);
    expect(v1.kernelState()).toBe('thawed');
  });

  it('without the addon, a pause fails with ERR_NATIVE_LOAD and says how to build it; nothing changes', () => {
    const r = spawnSync(process.execPath, [installedCopy({ addon: false }), 'pause', '--json', v1.dir], {
      encoding: 'utf8',
      env: cleanEnv(),
    });
    expect(r.status).toBe(1);
    const body = JSON.parse(r.stdout) as { results: Array<{ error: { code: string; message: string } }> };
    expect(body.results[0]?.error.code).toBe('ERR_NATIVE_LOAD');
    expect(body.results[0]?.error.message).toContain('npm rebuild cgfreeze');
    expect(v1.kernelState()).toBe('thawed');
  });
});

describe('unpause --atomic', () => {
  it('all or none: when one thaw fails, every target is paused again', async () => {
    // The child is frozen by itself and by its frozen parent: it passes the check (it is paused) and its
    // thaw fails (ERR_FROZEN_BY_ANCESTOR), after v1's thaw succeeded.
    const child = await CgroupWithWorker.start(scratch, 1, tmp, 'parent/child');
    const parent = dirname(child.dir);
    try {
      expect(cli(['pause', v1.dir, child.dir]).status).toBe(0);
      writeFileSync(`${parent}/freezer.state`, 'FROZEN');
      const r = cli(['unpause', '--atomic', v1.dir, child.dir]);
      expect(r).toEqual({
        status: 1,
        stdout: '',
        stderr:
          `Error: Unpause rolled back: --atomic, and ${child.dir} failed; paused again\n` +
          `Error: ${child.dir} is frozen by its ancestor cgroup ${parent}; unpause that cgroup instead (cgfreeze unpause --cgroup ${parent})\n`,
      });
      expect(v1.kernelState()).toBe('frozen');
      await v1.assertStopped();
      // The failed thaw had cleared the child's own freeze; it is back.
      expect(readFileSync(`${child.dir}/freezer.self_freezing`, 'utf8')).toBe('1\n');

      // Once the parent is thawed, the same command unpauses both.
      writeFileSync(`${parent}/freezer.state`, 'THAWED');
      expect(cli(['unpause', '--atomic', v1.dir, child.dir])).toEqual({
        status: 0,
        stdout: `${v1.dir}\n${child.dir}\n`,
        stderr: '',
      });
      await v1.assertRunning();
      await child.assertRunning();
    } finally {
      writeFileSync(`${parent}/freezer.state`, 'THAWED');
      if (v1.kernelState() !== 'thawed') cli(['unpause', v1.dir]);
    }
  });

  it('a target that fails its check leaves every target paused', () => {
    expect(cli(['pause', v1.dir]).status).toBe(0);
    try {
      expect(cli(['unpause', '--atomic', v1.dir, v2.dir])).toEqual({
        status: 1,
        stdout: '',
        stderr:
          `Error: Unpause not attempted: --atomic, and ${v2.dir} failed its check\n` +
          `Error: Cgroup ${v2.dir} is not paused\n`,
      });
      expect(v1.kernelState()).toBe('frozen');
    } finally {
      cli(['unpause', v1.dir]);
    }
  });
});

describe('status', () => {
  it('shows the kernel state, self or ancestor, version, freeze file, memory and CPU time', () => {
    writeFileSync(`${v2.dir}/cgroup.freeze`, '1');
    try {
      const r = cli(['status', v2.dir, '--cgroup', v1.dir]);
      expect(r.status).toBe(0);
      // Memory is bound to v1 on this host: nothing accounts the v2 scratch cgroup's memory.
      expect(r.stdout).toContain(
        `${v2.dir}\n  Kernel:      frozen (by itself)\n  Cgroup:      v2 ${v2.dir}\n  Freeze file: ${v2.dir}/cgroup.freeze\n` +
          '  Memory:      unknown (no memory controller accounts this cgroup)\n  CPU time:    ',
      );
      expect(r.stdout).toContain(`${v1.dir}\n  Kernel:      thawed (running)\n`);
      const missing = `${scratch.root(2)}/missing`;
      const j = cli(['inspect', v2.dir, missing]);
      expect(j.status).toBe(1);
      expect(j.stderr).toBe('');
      expect(JSON.parse(j.stdout)).toMatchObject({
        ok: false,
        results: [
          {
            target: v2.dir,
            ok: true,
            kernel: { state: 'frozen', self: true, byAncestor: false, version: 'v2' },
            memory: null,
            cpuTimeUs: expect.any(Number) as unknown,
          },
          { target: missing, ok: false, error: { code: 'ENOENT', message: `No such cgroup: ${missing}` } },
        ],
      });
    } finally {
      writeFileSync(`${v2.dir}/cgroup.freeze`, '0');
    }
  });

  it('reads memory and CPU of a v1 cgroup from the memory and cpuacct hierarchies at the same path', async () => {
    const path = v1.dir.slice('/sys/fs/cgroup/freezer'.length);
    const made = ['memory', 'cpuacct'].flatMap((h) => [
      `/sys/fs/cgroup/${h}${dirname(path)}`,
      `/sys/fs/cgroup/${h}${path}`,
    ]);
    const [, memory, , cpuacct] = made as [string, string, string, string];
    try {
      for (const dir of made) mkdirSync(dir);
      writeFileSync(`${memory}/memory.limit_in_bytes`, String(64 * 2 ** 20));
      // The worker's shell moves; the sleeps it starts from then on are born there.
      const shell = readProcs(v1.dir)[0] as number;
      writeFileSync(`${memory}/cgroup.procs`, String(shell));
      writeFileSync(`${cpuacct}/cgroup.procs`, String(shell));
      await waitFor(() => Number(readFileSync(`${cpuacct}/cpuacct.usage`, 'utf8')) > 0, 'the worker to use some CPU');
      const j = JSON.parse(cli(['inspect', v1.dir]).stdout) as {
        results: Array<{ memory: { usageBytes: number; limitBytes: number }; cpuTimeUs: number }>;
      };
      const usage = Number(readFileSync(`${memory}/memory.usage_in_bytes`, 'utf8'));
      expect(j.results[0]?.memory.limitBytes).toBe(64 * 2 ** 20);
      expect(j.results[0]?.memory.usageBytes).toBeGreaterThan(0);
      expect(Math.abs((j.results[0]?.memory.usageBytes ?? 0) - usage)).toBeLessThan(4 * 2 ** 20);
      expect(j.results[0]?.cpuTimeUs).toBeGreaterThan(0);
      expect(cli(['status', v1.dir]).stdout).toMatch(/^ {2}Memory: {6}\d.*B of 64MiB \(\d+\.\d%\)$/m);
      // A cgroup whose task is elsewhere in the memory hierarchy is not credited with that cgroup's memory.
      expect(JSON.parse(cli(['inspect', spare.dir]).stdout)).toMatchObject({ results: [{ memory: null }] });
    } finally {
      // Back to the hierarchies' roots; short-lived sleeps may exit (or be born) while they move.
      for (const dir of [memory, cpuacct]) {
        const root = dir.slice(0, dir.length - path.length);
        await waitFor(() => {
          for (const pid of readProcsSafe(dir)) {
            try {
              writeFileSync(`${root}/cgroup.procs`, String(pid));
            } catch {
              // Exited meanwhile.
            }
          }
          return readProcsSafe(dir).length === 0;
        }, `${dir} to empty`);
      }
      for (const dir of [...made].reverse()) if (existsSync(dir)) rmdirSync(dir);
    }
  });

  it('a read-only command reports on the root cgroup without speaking of freezing it', () => {
    const r = cli(['status', '/sys/fs/cgroup/unified']);
    expect(r.stderr).not.toMatch(/refus/i);
    expect(r).toEqual({
      status: 1,
      stdout: '',
      stderr: 'Error: /sys/fs/cgroup/unified is the root cgroup of its hierarchy, which is never frozen\n',
    });
  });
});

function readProcsSafe(dir: string): number[] {
  try {
    return readProcs(dir);
  } catch {
    return [];
  }
}
