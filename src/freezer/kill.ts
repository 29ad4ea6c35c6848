import { readFileSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { locateCgroup } from '../cgroup/location.js';
import { assertNotHoldingSelf } from '../cgroup/membership.js';
import { cgroupTree, listProcesses, signalAll, writeCgroupKill } from '../cgroup/tasks.js';
import { CgfreezeError, fromSystemError } from '../errors.js';
import { type Target, type TargetOptions, resolveTarget } from './targets.js';

export interface KillOptions extends TargetOptions {
  /** How long to wait for the cgroup to empty, in ms (default 5000). */
  timeoutMs?: number;
}

export interface KillResult {
  target: string;
  cgroupDir: string;
  version: 'v1' | 'v2';
  elapsedMs: number;
}

const POLL_MS = 5;

/**
 * Kills every task in a cgroup tree, frozen or not, and waits until it is
 * empty. v2 uses cgroup.kill, which works on frozen tasks. On v1 a frozen
 * task cannot die until thawed, so the order is: SIGKILL everything, then
 * thaw the cgroup and every frozen descendant (runc#2105).
 */
export async function kill(target: Target, opts: KillOptions = {}): Promise<KillResult> {
  const started = performance.now();
  const resolved = resolveTarget(target, opts, 'paths');
  const location = locateCgroup(resolved.openDir);
  assertNotHoldingSelf(location, resolved.label);
  const { dir, version } = location;
  const timeoutMs = opts.timeoutMs ?? 5000;
  try {
    if (version === 2) {
      if (!writeCgroupKill(dir)) signalAll(dir, 'SIGKILL');
    } else {
      signalAll(dir, 'SIGKILL');
      for (const d of cgroupTree(dir)) {
        if (readFileSync(`${d}/freezer.self_freezing`, 'utf8').trim() === '1')
          writeFileSync(`${d}/freezer.state`, 'THAWED');
      }
      if (readFileSync(`${dir}/freezer.parent_freezing`, 'utf8').trim() === '1') {
        throw new CgfreezeError(
          'ERR_FROZEN_BY_ANCESTOR',
          `${resolved.label} cannot die while an ancestor keeps it frozen`,
          {
            target: resolved.label,
            path: dir,
          },
        );
      }
    }
    while (listProcesses(dir).length > 0) {
      if (performance.now() - started > timeoutMs) {
        throw new CgfreezeError('ERR_KILL_TIMEOUT', `${resolved.label} still has tasks ${timeoutMs} ms after SIGKILL`, {
          target: resolved.label,
          path: dir,
        });
      }
      // Tasks forked between listing and signalling survive one round: signal again.
      if (version === 1 || !writeCgroupKill(dir)) signalAll(dir, 'SIGKILL');
      await sleep(POLL_MS);
    }
  } catch (err) {
    throw fromSystemError(err, resolved.label);
  }
  return {
    target: resolved.label,
    cgroupDir: resolved.cgroupDir,
    version: version === 1 ? 'v1' : 'v2',
    elapsedMs: performance.now() - started,
  };
}
