import { setTimeout as sleep } from 'node:timers/promises';
import { cgroupTree, listProcesses, signalAll } from '../cgroup/tasks.js';
import { CgfreezeError, fromSystemError } from '../errors.js';
import type { CgroupTarget } from './cgroup-target.js';
import { type CgroupEntry, openEntry, openOnce } from './handles.js';
import { thawWritten } from './holds.js';

export interface KillResult {
  target: string;
  cgroupDir: string;
  version: 'v1' | 'v2';
  elapsedMs: number;
}

export const DEFAULT_KILL_TIMEOUT_MS = 5000;
const POLL_MS = 5;

/**
 * Kills every task in a cgroup tree, frozen or not, and waits until it is empty. v2 uses cgroup.kill,
 * which works on frozen tasks (signals each task on kernels without it). On v1 a frozen task cannot
 * die until thawed, so the order is: SIGKILL everything, then thaw the cgroup and every frozen
 * descendant (runc#2105). Every write goes through the native handle of that cgroup.
 */
export async function killCgroup(target: CgroupTarget, timeoutMs: number): Promise<KillResult> {
  const started = performance.now();
  const entry = openEntry(target);
  const { dir, version } = entry.location;
  const prefix = target.openDir.slice(0, target.openDir.length - target.cgroupDir.length);
  entry.busy++;
  try {
    if (version === 2) {
      if (!entry.handle.writeKill()) signalAll(dir, 'SIGKILL');
    } else {
      signalAll(dir, 'SIGKILL');
      if (entry.readSelf()) thaw(entry);
      for (const d of cgroupTree(dir).slice(1)) thawDescendant(d, target.label, prefix);
      if (entry.readParentFreezing()) {
        throw new CgfreezeError(
          'ERR_FROZEN_BY_ANCESTOR',
          `${target.label} cannot die while an ancestor keeps it frozen`,
          {
            target: target.label,
            path: dir,
          },
        );
      }
    }
    while (listProcesses(dir).length > 0) {
      if (performance.now() - started > timeoutMs) {
        throw new CgfreezeError('ERR_KILL_TIMEOUT', `${target.label} still has tasks ${timeoutMs} ms after SIGKILL`, {
          target: target.label,
          path: dir,
        });
      }
      // Tasks forked between listing and signalling survive one round: signal again.
      resignal(entry);
      await sleep(POLL_MS);
    }
  } catch (err) {
    throw fromSystemError(err, target.label);
  } finally {
    entry.busy--;
  }
  return {
    target: target.label,
    cgroupDir: target.cgroupDir,
    version: version === 1 ? 'v1' : 'v2',
    elapsedMs: performance.now() - started,
  };
}

/** Thaws one frozen descendant of a v1 cgroup being killed; one that vanished meanwhile needs nothing. */
function thawDescendant(openDir: string, label: string, hostPrefix: string): void {
  let member: CgroupEntry;
  try {
    member = openOnce({ label, cgroupDir: openDir.slice(hostPrefix.length), openDir });
  } catch (err) {
    const { code } = fromSystemError(err, label);
    if (code === 'ENOENT' || code === 'ERR_CGROUP_GONE') return;
    throw err;
  }
  try {
    if (member.readSelf()) thaw(member);
  } finally {
    member.handle.close();
  }
}

/** A kill's thaw ends whatever freeze this process held there (holds.ts). */
function thaw(entry: CgroupEntry): void {
  entry.handle.writeState(false);
  thawWritten(entry);
}

function resignal(entry: CgroupEntry): void {
  if (entry.version === 1 || !entry.handle.writeKill()) signalAll(entry.location.dir, 'SIGKILL');
}
