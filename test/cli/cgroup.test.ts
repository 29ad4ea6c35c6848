import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
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
    expect(again).toMatchObject({ status: 1, stdout: '', stderr: `Error: cgroup ${v1.dir} is already paused\n` });

    const u = cli(['unpause', v1.dir, spare.dir]);
    expect(u).toMatchObject({ status: 0, stdout: `${v1.dir}\n${spare.dir}\n` });
    // docker: "Error response from daemon: Container <id> is not paused"
    const notPaused = cli(['unpause', v1.dir]);
    expect(notPaused).toMatchObject({ status: 1, stdout: '', stderr: `Error: cgroup ${v1.dir} is not paused\n` });
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
    expect(root.stderr).toMatch(/^Error: refusing to freeze the root cgroup.*\n$/);
    const notCgroup = cli(['pause', '--cgroup', tmp]);
    expect(notCgroup.status).toBe(1);
    expect(notCgroup.stderr).toMatch(/^Error: not on a cgroup mount: .*; give a cgroup directory such as .*\n$/);
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
    expect(stderr.startsWith(`Error: refusing to freeze ${spare.dir}: this process is in it`)).toBe(true);
    expect(stderr.split('\n')).toHaveLength(2);
    expect(spare.kernelState()).toBe('thawed');
  });

  it('without privilege says to run as root', () => {
    // nobody cannot write freezer.state (nor, under a umask of 077, enter the directory); the check is
    // the kernel's, not ours.
    const r = cliAsNobody(['pause', v1.dir]);
    expect(r.status).toBe(1);
    expect(r.stderr.startsWith(`Error: permission denied: ${v1.dir}`)).toBe(true);
    expect(r.stderr).toMatch(/^Error: permission denied: \S+ \(EACCES in \w+\); run cgfreeze as root.*\n$/);
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
    expect(r.stderr).toMatch(/^Error: cannot open the audit log .*no-such-dir.*\n$/);
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
    expect(r.stderr).toMatch(/^Warning: syslog: .*nobody-listens\.sock.*\n$/);
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
      `Error: invalid duration for --for: "soon"; use e.g. 30s, 1m30s, 500ms or a number of seconds (see 'cgfreeze pause --help')\n`,
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

describe('status', () => {
  it('shows the kernel state, self or ancestor, version and freeze file', () => {
    writeFileSync(`${v2.dir}/cgroup.freeze`, '1');
    try {
      const r = cli(['status', v2.dir, '--cgroup', v1.dir]);
      expect(r.status).toBe(0);
      expect(r.stdout).toContain(
        `${v2.dir}\n  Kernel:      frozen (by itself)\n  Cgroup:      v2 ${v2.dir}\n  Freeze file: ${v2.dir}/cgroup.freeze\n`,
      );
      expect(r.stdout).toContain(`${v1.dir}\n  Kernel:      thawed (running)\n`);
      const j = cli(['inspect', v2.dir]);
      expect(JSON.parse(j.stdout)).toMatchObject([
        { target: v2.dir, kernel: { state: 'frozen', self: true, byAncestor: false, version: 'v2' } },
      ]);
    } finally {
      writeFileSync(`${v2.dir}/cgroup.freeze`, '0');
    }
  });
});
