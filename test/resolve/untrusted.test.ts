// Issue #10: engine state that an unprivileged user can write must never steer root's freeze. A real
// user (useradd) writes a rootless Docker's state as itself, forged to name a root process in a
// root-owned cgroup; root then freezes by that name through the library and the CLI. The oracle is the
// kernel's own cgroup.events and the workload process, never src/.
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, chmodSync, mkdirSync, chownSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CgfreezeError, clearResolveCache, freezeSync, resolveSync } from '../../src/index.js';
import { CLI } from '../cli/helpers.js';
import { type Scratch, createScratch } from '../helpers/scratch.js';

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
  let home: string;
  const user = `cgfu${randomBytes(3).toString('hex')}`;
  let uid = 0;
  let runDir = '';

  /** Runs a shell snippet as the user, as that user would forge its own files. */
  const asUser = (script: string): void => {
    execFileSync('setpriv', [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', 'sh', '-c', script], {
      stdio: 'inherit',
    });
  };

  beforeAll(async () => {
    scratch = createScratch();
    victimDir = scratch.make(2);
    // Root's process that the user wants frozen.
    victim = spawn('sh', ['-c', `echo $$ > ${victimDir}/cgroup.procs && exec sleep 1000`], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 100));
    home = mkdtempSync(join(tmpdir(), 'cgfu-home-'));
    chmodSync(home, 0o755);
    execFileSync('useradd', ['--no-create-home', '--home-dir', home, '--shell', '/usr/sbin/nologin', user]);
    uid = Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim());
    chownSync(home, uid, uid);
    runDir = `/run/user/${uid}`;
    mkdirSync(runDir, { recursive: true, mode: 0o700 });
    chownSync(runDir, uid, uid);
    const pid = victim.pid as number;
    const start = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ')[19];
    const config = JSON.stringify({ ID, Name: `/${NAME}`, State: { Running: true, Paused: false, Pid: pid } });
    const state = JSON.stringify({
      id: ID,
      init_process_pid: pid,
      init_process_start: Number(start),
      cgroup_paths: { '': victimDir },
    });
    asUser(
      [
        `mkdir -p ${home}/.local/share/docker/containers/${ID} ${runDir}/docker/runtime-runc/moby/${ID}`,
        `printf '%s' '${config}' > ${home}/.local/share/docker/containers/${ID}/config.v2.json`,
        `printf '%s' '${state}' > ${runDir}/docker/runtime-runc/moby/${ID}/state.json`,
      ].join(' && '),
    );
  });

  afterAll(async () => {
    victim?.kill('SIGKILL');
    spawnSync('userdel', [user]);
    rmSync(home, { recursive: true, force: true });
    if (runDir !== '') rmSync(runDir, { recursive: true, force: true });
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
