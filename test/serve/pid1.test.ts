// "The sidecar refuses any cgroup holding PID 1", other than through the root cgroup: this machine's
// init sits in the root cgroup, so the sidecar runs in a PID namespace of its own (unshare) whose
// PID 1, a shell, sits in a scratch cgroup. That is the layout of a host whose init has a cgroup of
// its own (systemd's /init.scope), seen by a sidecar with the host's PID namespace.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CgfreezeClient } from '../../src/client/index.js';
import { readProcs } from '../../scripts/workload/cgroupfs.js';
import { UNTOUCHED, kernelView } from '../helpers/kernel.js';
import { killAtExit, makeTempDir, removeTempDir } from '../helpers/scratch.js';
import { CLI } from '../cli/helpers.js';
import { ScratchCgroups, until } from './helpers.js';

/** The innermost pid of a task (the last field of NSpid), as its own PID namespace numbers it. */
function pidInItsNamespace(pid: number): number {
  const nspid = /^NSpid:\s+(.*)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? '';
  return Number(nspid.trim().split(/\s+/).at(-1));
}

describe('the sidecar never freezes the cgroup of PID 1', () => {
  const scratch = new ScratchCgroups();
  const tmp = makeTempDir();
  const socketPath = join(tmp, 's.sock');
  let initParent: string;
  let initCgroup: string;
  let namespace: ChildProcess;
  let client: CgfreezeClient;

  beforeAll(async () => {
    initParent = scratch.makeEmpty(2, 'init');
    initCgroup = scratch.makeEmpty(2, 'init/pid1');
    // The shell is PID 1 of the new namespace: it starts the sidecar, then moves itself (not the
    // sidecar, already forked) into initCgroup, and waits. --kill-child ends it with unshare.
    const script =
      '"$0" "$1" serve --socket "$2" --lease-file "$3/leases.json" --audit-log "$3/audit.log" & ' +
      'echo 0 > "$4/cgroup.procs"; wait';
    namespace = killAtExit(
      spawn(
        'unshare',
        [
          '--pid',
          '--fork',
          '--kill-child',
          '--mount-proc',
          'sh',
          '-c',
          script,
          process.execPath,
          CLI,
          socketPath,
          tmp,
          initCgroup,
        ],
        { stdio: 'ignore' },
      ),
    );
    await until('the namespaced sidecar to listen', () => existsSync(socketPath), 60_000);
    client = new CgfreezeClient({ socketPath });
  }, 120_000);

  afterAll(async () => {
    client?.close();
    namespace?.kill('SIGKILL');
    await scratch.cleanup();
    removeTempDir(tmp);
  });

  it("refuses the cgroup holding its PID 1, and that cgroup's parent, with ERR_PROTECTED_CGROUP; freezes neither", async () => {
    const [init] = readProcs(initCgroup);
    expect(init === undefined ? undefined : pidInItsNamespace(init)).toBe(1);
    for (const dir of [initCgroup, initParent]) {
      await expect(client.pause(dir)).rejects.toMatchObject({
        code: 'ERR_PROTECTED_CGROUP',
        message: expect.stringContaining('it holds PID 1') as unknown as string,
      });
      expect(kernelView(dir)).toEqual(UNTOUCHED);
    }
    // The same sidecar pauses a cgroup without PID 1: the refusal is about PID 1, not this setup.
    const plain = await scratch.make(2, 'plain');
    await expect(client.pause(plain)).resolves.toMatchObject({ ok: true, state: 'frozen' });
    expect(kernelView(plain).state).toBe('frozen');
    await client.unpause(plain);
    expect(kernelView(plain)).toEqual(UNTOUCHED);
  });
});
