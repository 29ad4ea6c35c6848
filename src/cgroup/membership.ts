import { readFileSync } from 'node:fs';
import { CgfreezeError } from '../errors.js';
import type { CgroupLocation } from './location.js';
import { type CgroupMount, isUnder } from './mountinfo.js';
import { readProcStat } from './proc.js';

/** One line of /proc/<pid>/cgroup. */
export interface ProcCgroupEntry {
  hierarchyId: number;
  /** v1 controllers (`freezer`, `name=systemd`); empty for the v2 line. */
  controllers: string[];
  path: string;
}

export function parseProcCgroup(text: string): ProcCgroupEntry[] {
  const entries: ProcCgroupEntry[] = [];
  for (const line of text.split('\n')) {
    const first = line.indexOf(':');
    const second = line.indexOf(':', first + 1);
    if (first < 0 || second < 0) continue;
    const hierarchyId = Number(line.slice(0, first));
    if (!Number.isInteger(hierarchyId)) continue;
    const controllers = line.slice(first + 1, second);
    entries.push({
      hierarchyId,
      controllers: controllers === '' ? [] : controllers.split(','),
      path: line.slice(second + 1),
    });
  }
  return entries;
}

/** The entry of `entries` that belongs to `mount`'s hierarchy. */
export function entryForMount(entries: ProcCgroupEntry[], mount: CgroupMount): ProcCgroupEntry | undefined {
  if (mount.version === 2) return entries.find((e) => e.hierarchyId === 0 && e.controllers.length === 0);
  return entries.find((e) => e.hierarchyId !== 0 && e.controllers.some((c) => mount.controllers.includes(c)));
}

/** The hierarchy path of `pid` in `mount`'s hierarchy, or undefined if the process is gone. */
export function cgroupPathOf(pid: number | 'self', mount: CgroupMount, procRoot = '/proc'): string | undefined {
  let text: string;
  try {
    text = readFileSync(`${procRoot}/${pid}/cgroup`, 'utf8');
  } catch {
    return undefined;
  }
  return entryForMount(parseProcCgroup(text), mount)?.path;
}

/** This process and its ancestors up to (not including) pid 0. */
export function selfAndAncestors(procRoot = '/proc'): number[] {
  const pids = [process.pid];
  let pid: number | undefined = readProcStat('self', procRoot)?.ppid;
  while (pid !== undefined && pid > 0 && !pids.includes(pid) && pids.length < 256) {
    pids.push(pid);
    pid = readProcStat(pid, procRoot)?.ppid;
  }
  return pids;
}

/**
 * Refuses a cgroup that holds this process or one of its ancestors: freezing
 * it would stop the caller itself (a deadlock) or the shell, runner or
 * supervisor that started it.
 */
export function assertNotHoldingSelf(location: CgroupLocation, target: string = location.dir): void {
  for (const pid of selfAndAncestors()) {
    const path = cgroupPathOf(pid, location.mount);
    if (path !== undefined && isUnder(path, location.hierarchyPath)) {
      const who = pid === process.pid ? 'this process' : `pid ${pid}, an ancestor of this process,`;
      throw new CgfreezeError(
        'ERR_SELF_FREEZE',
        `refusing to freeze ${location.dir}: ${who} is in it (${path}); freezing it would stop the caller`,
        { target, path: location.dir },
      );
    }
  }
}
