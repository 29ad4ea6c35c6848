// A caller with no rule for the action is refused before anything is resolved: strace shows the sidecar
// never touches an engine's state for it, and touches it at once for a caller that has a rule.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CgfreezeClient } from '../../src/client/index.js';
import { CLI } from '../cli/helpers.js';
import { asUid } from './as-uid.js';
import { auditLines, removeTemp, tempDir, until } from './helpers.js';

describe('a caller without a rule (strace of the sidecar)', () => {
  const tmp = tempDir();
  const socketPath = join(tmp, 's.sock');
  const auditLog = join(tmp, 'audit.log');
  const trace = join(tmp, 'trace');
  // A Docker state root of our own, with one (stopped) container in it.
  const dataRoot = join(tmp, 'docker');
  const id = randomBytes(32).toString('hex');
  const name = `cgfs-probe-${id.slice(0, 6)}`;
  let sidecar: ChildProcess;
  let stderr = '';

  beforeAll(async () => {
    chmodSync(tmp, 0o755);
    mkdirSync(join(dataRoot, 'containers', id), { recursive: true });
    writeFileSync(
      join(dataRoot, 'containers', id, 'config.v2.json'),
      JSON.stringify({ ID: id, Name: `/${name}`, State: { Running: false, Paused: false, Pid: 0 } }),
    );
    // Every file syscall and every write, of every thread.
    sidecar = spawn(
      'strace',
      ['-f', '-qq', '-s', '256', '-e', 'trace=%file,write', '-o', trace, process.execPath, CLI, 'serve'].concat(
        ['--socket', socketPath, '--socket-mode', '666', '--lease-file', join(tmp, 'leases.json')],
        ['--audit-log', auditLog, '--docker-root', dataRoot, '--docker-exec-root', join(tmp, 'docker-exec')],
      ),
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    sidecar.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    await until('the sidecar to listen', () => stderr.includes('listening on') || sidecar.exitCode !== null, 60_000);
  }, 120_000);

  afterAll(() => {
    // SIGKILL of strace kills its tracee too.
    sidecar?.kill('SIGKILL');
    removeTemp(tmp);
  });

  it('refuses it without reading any engine state, and reads it for a caller with a rule', async () => {
    // The default policy: only root. uid 65534 asks about the container by name.
    const denied = await asUid(65534, socketPath, '/v1/pause', JSON.stringify({ target: name }));
    expect(denied.status).toBe(403);
    expect(JSON.parse(denied.text)).toMatchObject({ error: { code: 'ERR_POLICY_DENIED' } });
    const root = new CgfreezeClient({ socketPath });
    await expect(root.status(name)).rejects.toMatchObject({ code: 'ERR_CONTAINER_NOT_RUNNING' });
    root.close();
    expect(auditLines(auditLog).map((l) => l.result)).toEqual(['denied']);
    // The sidecar is strace's child: it stops on its SIGTERM, and strace with it.
    const node = Number(readFileSync(`/proc/${sidecar.pid}/task/${sidecar.pid}/children`, 'utf8').trim());
    const exited = new Promise((r) => sidecar.once('exit', r));
    process.kill(node, 'SIGTERM');
    await exited;
    const lines = readFileSync(trace, 'utf8').split('\n');
    const deniedAt = lines.findIndex((l) => l.includes('write(') && l.includes('\\"result\\":\\"denied\\"'));
    // Any file syscall on the state root, but the sidecar's own exec (its command line names it).
    const reads = lines.flatMap((l, i) => (l.includes(dataRoot) && !l.includes('execve(') ? [i] : []));
    expect(deniedAt).toBeGreaterThan(0);
    // Root's request read the state (the trace would show it), the refused one did not.
    expect(reads.length).toBeGreaterThan(0);
    expect(reads.filter((i) => i < deniedAt)).toEqual([]);
  });
});
