// Issue #10 through the sidecar: state a user can write must never steer the sidecar's freeze, even when a
// rule lets that user pause `batch-*`. A real user (useradd) forges a rootless Docker's state as itself and
// asks over the socket as itself; the oracle is the kernel's freezer state of the root-owned targets.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Sidecar, startServer } from '../../src/serve/index.js';
import { type LabContainer, getLab } from '../helpers/lab.js';
import { asUid } from './as-uid.js';
import { ScratchCgroups, auditLines, removeTemp, tempDir } from './helpers.js';
import { kernelFreezerState } from '../helpers/kernel.js';

describe('the sidecar and state a user can write (real uid, real root processes)', () => {
  const lab = getLab('host');
  const cg = new ScratchCgroups();
  const tmp = tempDir();
  const socketPath = join(tmp, 's.sock');
  const auditLog = join(tmp, 'audit.log');
  const user = `cgfs${randomBytes(3).toString('hex')}`;
  const tag = randomBytes(3).toString('hex');
  const forgedId = randomBytes(32).toString('hex');
  let uid = 0;
  let home = '';
  let runDir = '';
  let victimDir: string;
  let victimPid = 0;
  let rootful: LabContainer;
  let sidecar: Sidecar;

  /** Writes a Docker container's state as the user would: its config.v2.json, and runc's state.json. */
  const forge = (id: string, name: string, pid: number, cgroup: string): void => {
    const start = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ')[19];
    const config = JSON.stringify({ ID: id, Name: `/${name}`, State: { Running: true, Paused: false, Pid: pid } });
    const state = JSON.stringify({
      id,
      init_process_pid: pid,
      init_process_start: Number(start),
      cgroup_paths: { freezer: cgroup },
    });
    const dirs = `${home}/.local/share/docker/containers/${id} ${runDir}/docker/runtime-runc/moby/${id}`;
    execFileSync(
      'setpriv',
      [
        `--reuid=${uid}`,
        `--regid=${uid}`,
        '--clear-groups',
        'sh',
        '-c',
        `mkdir -p ${dirs} && printf '%s' '${config}' > ${home}/.local/share/docker/containers/${id}/config.v2.json` +
          ` && printf '%s' '${state}' > ${runDir}/docker/runtime-runc/moby/${id}/state.json`,
      ],
      { stdio: 'inherit' },
    );
  };

  beforeAll(async () => {
    chmodSync(tmp, 0o755);
    // On this hybrid host the freezer that counts is v1's, as runc's state names it.
    victimDir = await cg.make(1, 'victim');
    victimPid = Number(readFileSync(`${victimDir}/cgroup.procs`, 'utf8').trim());
    rootful = await lab.docker({ name: `cgfs-rootful-${tag}` });
    home = mkdtempSync(join(tmpdir(), 'cgfs-home-'));
    chmodSync(home, 0o755);
    execFileSync('useradd', ['--no-create-home', '--home-dir', home, '--shell', '/usr/sbin/nologin', user]);
    uid = Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim());
    chownSync(home, uid, uid);
    runDir = `/run/user/${uid}`;
    mkdirSync(runDir, { recursive: true, mode: 0o700 });
    chownSync(runDir, uid, uid);
    // A root process in a root-owned cgroup, under a name the rule grants.
    forge(forgedId, `batch-${tag}`, victimPid, victimDir);
    // A rootful container's own ID, under another name the rule grants.
    forge(rootful.id, `batch-copy-${tag}`, rootful.pid, rootful.cgroupDir);
    sidecar = await startServer({
      socketPath,
      socketMode: 0o666,
      leaseFile: join(tmp, 'leases.json'),
      audit: { file: auditLog },
      resolve: {
        engines: ['docker'],
        // Root's daemon, and the user's rootless one where Docker would keep it.
        docker: [
          { dataRoot: lab.env.docker.dataRoot, execRoot: lab.env.docker.execRoot },
          { dataRoot: `${home}/.local/share/docker`, execRoot: `${runDir}/docker` },
        ],
      },
      policy: { rules: [{ callers: { uids: [uid] }, actions: ['pause', 'unpause'], targets: { names: ['batch-*'] } }] },
    });
  }, 300_000);

  afterAll(async () => {
    await sidecar?.close();
    spawnSync('userdel', [user]);
    if (home !== '') rmSync(home, { recursive: true, force: true });
    if (runDir !== '') rmSync(runDir, { recursive: true, force: true });
    await cg.cleanup();
    removeTemp(tmp);
  });

  it("refuses the user's forged container that names a root process, and freezes nothing", async () => {
    const res = await asUid(uid, socketPath, '/v1/pause', JSON.stringify({ target: `batch-${tag}` }));
    expect(res.status).toBe(403);
    expect(JSON.parse(res.text)).toMatchObject({
      results: [{ ok: false, error: { code: 'ERR_UNTRUSTED_SOURCE', message: new RegExp(`uid ${uid}`) } }],
    });
    expect(kernelFreezerState(victimDir)).toBe('thawed');
    expect(auditLines(auditLog).at(-1)).toMatchObject({
      who: { uid },
      target: `batch-${tag}`,
      result: 'error',
      error: { code: 'ERR_UNTRUSTED_SOURCE' },
    });
  });

  it("does not let the user's copy of a rootful container's ID, under a granted name, reach that container", async () => {
    const res = await asUid(uid, socketPath, '/v1/pause', JSON.stringify({ target: `batch-copy-${tag}` }));
    expect(res.status).toBe(404);
    expect(JSON.parse(res.text)).toMatchObject({
      results: [{ ok: false, error: { code: 'ERR_CONTAINER_NOT_FOUND' } }],
    });
    expect(kernelFreezerState(rootful.cgroupDir)).toBe('thawed');
  });
});
