// Issue #10 through the sidecar: state a user can write must never steer the sidecar's freeze, even when a
// rule lets that user pause `batch-*`. A real user (useradd) forges a rootless Docker's state as itself and
// asks over the socket as itself; the oracle is the kernel's freezer state of the root-owned targets.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LabContainer, getLab } from '../helpers/lab.js';
import { type TestUser, createUser } from '../helpers/user.js';
import { asUid } from './as-uid.js';
import { ScratchCgroups, TestSidecar, auditLines } from './helpers.js';
import { kernelFreezerState } from '../helpers/kernel.js';

describe('the sidecar and state a user can write (real uid, real root processes)', () => {
  const lab = getLab('host');
  const cg = new ScratchCgroups();
  const t = new TestSidecar();
  const { socketPath, auditLog } = t;
  const tag = randomBytes(3).toString('hex');
  let user: TestUser | undefined;
  let uid = 0;
  let victimDir: string;
  let rootful: LabContainer;

  beforeAll(async () => {
    // On this hybrid host the freezer that counts is v1's, as runc's state names it.
    victimDir = await cg.make(1, 'victim');
    const victimPid = Number(readFileSync(`${victimDir}/cgroup.procs`, 'utf8').trim());
    rootful = await lab.docker({ name: `cgfs-rootful-${tag}` });
    user = createUser('cgfs');
    uid = user.uid;
    // A root process in a root-owned cgroup, under a name the rule grants.
    const forged = randomBytes(32).toString('hex');
    user.forgeDocker({ id: forged, name: `batch-${tag}`, pid: victimPid, cgroupPaths: { freezer: victimDir } });
    // A rootful container's own ID, under another name the rule grants.
    user.forgeDocker({
      id: rootful.id,
      name: `batch-copy-${tag}`,
      pid: rootful.pid,
      cgroupPaths: { freezer: rootful.cgroupDir },
    });
    await t.start({
      socketMode: 0o666,
      resolve: {
        engines: ['docker'],
        // Root's daemon, and the user's rootless one where Docker would keep it.
        docker: [
          { dataRoot: lab.env.docker.dataRoot, execRoot: lab.env.docker.execRoot },
          { dataRoot: `${user.home}/.local/share/docker`, execRoot: `${user.runDir}/docker` },
        ],
      },
      policy: { rules: [{ callers: { uids: [uid] }, actions: ['pause', 'unpause'], targets: { names: ['batch-*'] } }] },
    });
  }, 300_000);

  afterAll(async () => {
    await t.stop();
    user?.remove();
    await cg.cleanup();
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
