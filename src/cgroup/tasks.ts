import { readFileSync, readdirSync } from 'node:fs';
import type { Culprit } from '../errors.js';
import { readProcStat } from './proc.js';

function readIds(file: string): number[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const ids: number[] = [];
  for (const line of text.split('\n')) {
    const id = Number(line);
    if (line !== '' && Number.isInteger(id) && id > 0) ids.push(id);
  }
  return ids;
}

/** `dir` and every cgroup below it, parents first; at most `limit` of them. */
export function cgroupTree(dir: string, limit = Infinity): string[] {
  const dirs = [dir];
  for (let i = 0; i < dirs.length && dirs.length < limit; i++) {
    const current = dirs[i] as string;
    try {
      for (const entry of readdirSync(current, { withFileTypes: true })) {
        if (entry.isDirectory() && dirs.length < limit) dirs.push(`${current}/${entry.name}`);
      }
    } catch {
      // Removed while we walked: it has no tasks left to list.
    }
  }
  return dirs;
}

/**
 * Process ids in `dir` itself, as cgroup.procs lists them: 0 stands for a process outside this PID
 * namespace. Throws when the file cannot be read (a threaded cgroup gives EOPNOTSUPP).
 */
export function readProcessIds(dir: string): number[] {
  return readFileSync(`${dir}/cgroup.procs`, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map(Number);
}

/** Process ids in `dir` and below; none where a cgroup is gone or unreadable. */
export function listProcesses(dir: string): number[] {
  return cgroupTree(dir).flatMap((d) => readIds(`${d}/cgroup.procs`));
}

/** Thread ids in `dir` and below (v1 `tasks`, v2 `cgroup.threads`). */
export function listThreads(dir: string, version: 1 | 2): number[] {
  const file = version === 1 ? 'tasks' : 'cgroup.threads';
  return cgroupTree(dir).flatMap((d) => readIds(`${d}/${file}`));
}

function readProc(tid: number, file: string): string {
  try {
    return readFileSync(`/proc/${tid}/${file}`, 'utf8');
  } catch {
    return '';
  }
}

/** Where a frozen task waits: v1 tasks sit in the refrigerator, v2 tasks in the freezer trap. */
const PARKED_WCHAN: Record<1 | 2, string> = { 1: '__refrigerator', 2: 'do_freezer_trap' };

/**
 * The tasks of a cgroup tree that are not parked by the freezer: what keeps a
 * freeze from completing. Stopped and traced tasks count as frozen on v2.
 * When wchan is unreadable (`0`), v2 falls back to the state letter; on v1 a
 * frozen task shows `D` like a stuck one, so it is listed to be safe.
 */
export function findCulprits(dir: string, version: 1 | 2, limit = 32): Culprit[] {
  const culprits: Culprit[] = [];
  for (const tid of listThreads(dir, version)) {
    const stat = readProcStat(tid);
    if (stat === undefined) continue; // exited
    const { state } = stat;
    const wchan = readProc(tid, 'wchan').trim();
    if (wchan === PARKED_WCHAN[version]) continue;
    if (version === 2 && (state === 'T' || state === 't')) continue;
    const tgid = /^Tgid:\s*(\d+)/m.exec(readProc(tid, 'status'));
    culprits.push({
      pid: tgid ? Number(tgid[1]) : tid,
      tid,
      comm: stat.comm,
      state,
      wchan: wchan === '0' ? '' : wchan,
    });
    if (culprits.length >= limit) break;
  }
  return culprits;
}

/** Sends `signal` to every process in the tree; returns how many were signalled. */
export function signalAll(dir: string, signal: NodeJS.Signals): number {
  let count = 0;
  for (const pid of listProcesses(dir)) {
    try {
      process.kill(pid, signal);
      count++;
    } catch {
      // Already gone.
    }
  }
  return count;
}
