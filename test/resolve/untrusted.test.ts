// Issue #10: engine state that an unprivileged user can write must never steer root's freeze. A real
// user (useradd) writes a rootless Docker's state as itself, forged to name a root process in a
// root-owned cgroup; root then freezes by that name through the library and the CLI. The oracle is the
// kernel's own cgroup.events and the workload process, never src/.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CgfreezeError, clearResolveCache, freezeSync, resolveSync } from '../../src/index.js';
import { CLI } from '../cli/helpers.js';
import { type Scratch, createScratch } from '../helpers/scratch.js';
import { type TestUser, createUser } from '../helpers/user.js';

const ID = randomBytes(32).toString('hex');
const NAME = `batch-${randomBytes(3).toString('hex')}`;

function frozenByKernel(dir: string): boolean {
  return /^frozen 1$/m.test(readFileSync(`${dir}/cgroup.events`, 'utf8'));
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof CgfreezeError ? err.code : `not a CgfreezeError: ${String(err)}`;
  }
  return undefined;
}

describe('state a user can write is untrusted (real uid, real root process)', () => {
  let scratch: Scratch;
  let victimDir: string;
  let victim: ChildProcess;
  let user: TestUser | undefined;

  beforeAll(async () => {
    scratch = createScratch();
    victimDir = scratch.make(2);
    // Root's process that the user wants frozen.
    victim = spawn('sh', ['-c', `echo $$ > ${victimDir}/cgroup.procs && exec sleep 1000`], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 100));
    user = createUser('cgfu');
    user.forgeDocker({ id: ID, name: NAME, pid: victim.pid as number, cgroupPaths: { '': victimDir } });
  });

  afterAll(async () => {
    victim?.kill('SIGKILL');
    user?.remove();
    await scratch?.cleanup();
  });

  it('freezeSync by the forged name is refused as untrusted, and the root process keeps running', () => {
    clearResolveCache();
    expect(codeOf(() => freezeSync(NAME, { engines: ['docker'] }))).toBe('ERR_UNTRUSTED_SOURCE');
    expect(codeOf(() => resolveSync(NAME, { engines: ['docker'] }))).toBe('ERR_UNTRUSTED_SOURCE');
    expect(frozenByKernel(victimDir)).toBe(false);
    expect(readFileSync(`${victimDir}/cgroup.freeze`, 'utf8').trim()).toBe('0');
  });

  it('the same state named by path (a user-owned directory, not the rootless default) is untrusted too', () => {
    const { home, runDir } = user as TestUser;
    const opts = { docker: [{ dataRoot: `${home}/.local/share/docker`, execRoot: `${runDir}/docker` }] };
    clearResolveCache();
    expect(codeOf(() => freezeSync(ID.slice(0, 12), opts))).toBe('ERR_UNTRUSTED_SOURCE');
    expect(frozenByKernel(victimDir)).toBe(false);
  });

  it('cgfreeze pause by that name fails and freezes nothing', () => {
    const r = spawnSync(process.execPath, [CLI, 'pause', NAME], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/uid \d+/);
    expect(frozenByKernel(victimDir)).toBe(false);
  });
});
