// A real unprivileged user for the tests of state a user can write (issue #10): a home of its own,
// /run/user/<uid> as a rootless engine's runtime directory, and its files written as itself.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestUser {
  name: string;
  uid: number;
  home: string;
  /** `/run/user/<uid>`, the user's own. */
  runDir: string;
  /** Runs a shell snippet as the user (its uid and gid, no other group). */
  run(script: string): void;
  /**
   * Writes, as the user, a rootless Docker's state of one container in the places Docker keeps it:
   * `config.v2.json` naming `pid` as running, runc's `state.json` with that pid's start time and
   * `cgroupPaths`, whatever process and cgroup they are.
   */
  forgeDocker(c: { id: string; name: string; pid: number; cgroupPaths: Record<string, string> }): void;
  /** Removes the user, its home and its runtime directory. */
  remove(): void;
}

export function createUser(prefix: string): TestUser {
  const name = `${prefix}${randomBytes(3).toString('hex')}`;
  const home = mkdtempSync(join(tmpdir(), `${prefix}-home-`));
  chmodSync(home, 0o755);
  execFileSync('useradd', ['--no-create-home', '--home-dir', home, '--shell', '/usr/sbin/nologin', name]);
  const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim());
  chownSync(home, uid, uid);
  const runDir = `/run/user/${uid}`;
  mkdirSync(runDir, { recursive: true, mode: 0o700 });
  chownSync(runDir, uid, uid);
  const run = (script: string): void => {
    execFileSync('setpriv', [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', 'sh', '-c', script], {
      stdio: 'inherit',
    });
  };
  return {
    name,
    uid,
    home,
    runDir,
    run,
    forgeDocker({ id, name: containerName, pid, cgroupPaths }) {
      const start = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ')[19];
      const config = JSON.stringify({
        ID: id,
        Name: `/${containerName}`,
        State: { Running: true, Paused: false, Pid: pid },
      });
      const state = JSON.stringify({
        id,
        init_process_pid: pid,
        init_process_start: Number(start),
        cgroup_paths: cgroupPaths,
      });
      run(
        [
          `mkdir -p ${home}/.local/share/docker/containers/${id} ${runDir}/docker/runtime-runc/moby/${id}`,
          `printf '%s' '${config}' > ${home}/.local/share/docker/containers/${id}/config.v2.json`,
          `printf '%s' '${state}' > ${runDir}/docker/runtime-runc/moby/${id}/state.json`,
        ].join(' && '),
      );
    },
    remove() {
      spawnSync('userdel', [name]);
      rmSync(home, { recursive: true, force: true });
      rmSync(runDir, { recursive: true, force: true });
    },
  };
}
