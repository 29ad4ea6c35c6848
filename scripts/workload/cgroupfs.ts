// Plain node:fs access to cgroup files for the test and bench helpers. It must
// not use cgfreeze itself: these helpers set up and tear down what cgfreeze is
// tested against.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export type CgroupVersion = 1 | 2;

/** v1 freezer cgroups have freezer.state; cgroup2 directories have cgroup.freeze. */
export function cgroupVersionOf(dir: string): CgroupVersion {
  if (existsSync(`${dir}/freezer.state`)) return 1;
  if (existsSync(`${dir}/cgroup.freeze`)) return 2;
  throw new Error(`${dir} is neither a v1 freezer cgroup nor a non-root cgroup2 directory`);
}

/** The pids listed in DIR/cgroup.procs. */
export function readProcs(dir: string): number[] {
  return readFileSync(`${dir}/cgroup.procs`, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map(Number);
}

/** Whether DIR itself asked to be frozen (v1 self_freezing, v2 cgroup.freeze). */
export function isSelfFrozen(dir: string, version: CgroupVersion = cgroupVersionOf(dir)): boolean {
  const file = version === 1 ? 'freezer.self_freezing' : 'cgroup.freeze';
  return readFileSync(`${dir}/${file}`, 'utf8').trim() === '1';
}

/**
 * Whether an ancestor holds DIR frozen: v1 freezer.parent_freezing; v2 has no such file, so any
 * ancestor's cgroup.freeze (the walk stops below the root, which has none).
 */
export function isFrozenByAncestor(dir: string, version: CgroupVersion = cgroupVersionOf(dir)): boolean {
  if (version === 1) return readFileSync(`${dir}/freezer.parent_freezing`, 'utf8').trim() === '1';
  for (let up = dirname(dir); existsSync(`${up}/cgroup.freeze`); up = dirname(up)) {
    if (isSelfFrozen(up, 2)) return true;
  }
  return false;
}

/** Writes the thawed state (v1 THAWED, v2 0). Ancestors are left alone. */
export function thawCgroup(dir: string, version: CgroupVersion = cgroupVersionOf(dir)): void {
  if (version === 1) writeFileSync(`${dir}/freezer.state`, 'THAWED');
  else writeFileSync(`${dir}/cgroup.freeze`, '0');
}

/** Writes the frozen state (v1 FROZEN, v2 1) without waiting for it to take. */
export function freezeCgroup(dir: string, version: CgroupVersion = cgroupVersionOf(dir)): void {
  if (version === 1) writeFileSync(`${dir}/freezer.state`, 'FROZEN');
  else writeFileSync(`${dir}/cgroup.freeze`, '1');
}

/**
 * The effective freezer state: v1 freezer.state as is; v2 `frozen` from
 * cgroup.events combined with cgroup.freeze (asked but not there = FREEZING).
 */
export function readFreezerState(
  dir: string,
  version: CgroupVersion = cgroupVersionOf(dir),
): 'THAWED' | 'FREEZING' | 'FROZEN' {
  if (version === 1) {
    const state = readFileSync(`${dir}/freezer.state`, 'utf8').trim();
    if (state === 'THAWED' || state === 'FREEZING' || state === 'FROZEN') return state;
    throw new Error(`unexpected freezer.state ${JSON.stringify(state)} in ${dir}`);
  }
  const events = readFileSync(`${dir}/cgroup.events`, 'utf8');
  if (/^frozen 1$/m.test(events)) return 'FROZEN';
  return isSelfFrozen(dir, 2) ? 'FREEZING' : 'THAWED';
}

/** Kernel function a task sleeps in (/proc/PID/wchan), '' when running or gone. */
export function readWchan(pid: number): string {
  try {
    const wchan = readFileSync(`/proc/${pid}/wchan`, 'utf8').trim();
    return wchan === '0' ? '' : wchan;
  } catch {
    return '';
  }
}

/** State letter, parent and process group of a task, or undefined once it is gone. */
export function readStat(pid: number): { state: string; ppid: number; pgrp: number } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // comm may hold spaces and parentheses: fields resume after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { state: fields[0] ?? '', ppid: Number(fields[1]), pgrp: Number(fields[2]) };
}

/** Gone, or a zombie (already out of its cgroup, just not reaped yet). */
export function isDead(pid: number): boolean {
  const stat = readStat(pid);
  return stat === undefined || stat.state === 'Z' || stat.state === 'X';
}

/** Blocks the thread; for exit handlers and synchronous teardown only. */
export function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
