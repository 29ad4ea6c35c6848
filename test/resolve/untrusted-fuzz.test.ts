// Fuzzing the trust boundary (issue #10): whatever a user writes into its rootless engine's state, a
// resolution either fails with a CgfreezeError or lands on a cgroup that user owns, run by that user.
import { lstatSync } from 'node:fs';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CgfreezeError, clearResolveCache, resolveSync } from '../../src/index.js';
import { FakeHost, hexId } from '../fixtures/hosts/fake-host.js';

const USER = '/user.slice/user-1000.slice/user@1000.service';
/** Cgroups on the host: root's and the user's (delegated), each with a process in it. */
const CGROUPS: Array<{ path: string; pid: number; owner: number }> = [
  { path: '/system.slice/cron.service', pid: 500, owner: 0 },
  { path: `/system.slice/docker-${hexId('aa00', 1)}.scope`, pid: 501, owner: 0 },
  { path: '/user.slice/user-1000.slice/session-1.scope', pid: 502, owner: 0 },
  { path: `${USER}/user.slice/docker-${hexId('bb00', 2)}.scope`, pid: 2001, owner: 1000 },
  { path: `${USER}/app.slice/x.scope`, pid: 2002, owner: 1000 },
];
const ID = hexId('f0f0', 3);
const DATA = '/home/alice/.local/share/docker';
const EXEC = '/run/user/1000/docker';

describe('fuzz: forged rootless state never reaches a cgroup its user does not own', () => {
  let host: FakeHost;
  beforeAll(() => {
    host = new FakeHost('unified');
    host.file('/etc/passwd', 'root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\n');
    for (const c of CGROUPS) host.cgroup(c.path).proc(c.pid, c.pid * 10, c.path);
    host.mkdir(`${DATA}/containers/${ID}`).mkdir(`${EXEC}/runtime-runc/moby/${ID}`);
    host.own('/home/alice', 1000).own('/run/user/1000', 1000).own(`/sys/fs/cgroup${USER}`, 1000);
    for (const c of CGROUPS) if (c.owner !== 0) host.own(`/proc/${c.pid}`, c.owner);
  });
  afterAll(() => host.remove());

  it('resolves only to the user-owned cgroup of a user-owned process, or fails with a CgfreezeError', () => {
    const cgroup = fc.constantFrom(...CGROUPS);
    let landedAtAll = 0;
    fc.assert(
      fc.property(cgroup, cgroup, fc.boolean(), fc.boolean(), (claimed, real, withState, startMatches) => {
        // The config names one process; the runtime state (if any) names a cgroup, consistent or not.
        host.json(`${DATA}/containers/${ID}/config.v2.json`, {
          ID,
          Name: '/forged',
          State: { Running: true, Paused: false, Pid: real.pid },
        });
        host.own(`${DATA}/containers/${ID}/config.v2.json`, 1000);
        host.json(`${EXEC}/runtime-runc/moby/${ID}/state.json`, {
          id: ID,
          init_process_pid: real.pid,
          init_process_start: startMatches ? real.pid * 10 : 1,
          cgroup_paths: withState ? { '': `/sys/fs/cgroup${claimed.path}` } : {},
        });
        clearResolveCache();
        let outcome: { dir: string } | CgfreezeError;
        try {
          outcome = { dir: resolveSync('forged', { hostRoot: host.root, engines: ['docker'] }).cgroupDir };
        } catch (err) {
          if (!(err instanceof CgfreezeError)) throw err;
          outcome = err;
        }
        const landed = outcome instanceof CgfreezeError ? undefined : outcome.dir;
        if (landed !== undefined) landedAtAll++;
        const ownerOfLanded = landed === undefined ? 1000 : lstatSync(host.root + landed).uid;
        const procOwner = lstatSync(`${host.root}/proc/${real.pid}`).uid;
        expect(ownerOfLanded).toBe(1000);
        expect(landed === undefined || procOwner === 1000).toBe(true);
      }),
      { numRuns: 300 },
    );
    // The property is not vacuous: consistent forgeries of the user's own containers do resolve.
    expect(landedAtAll).toBeGreaterThan(0);
  });
});
