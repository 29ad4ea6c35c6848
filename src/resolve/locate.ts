import { lstatSync, readdirSync, realpathSync } from 'node:fs';
import { posix } from 'node:path';
import { CgfreezeError } from '../errors.js';
import { entryForMount, parseProcCgroup } from '../cgroup/membership.js';
import { type CgroupMount, hierarchyPathToDir, isUnder } from '../cgroup/mountinfo.js';
import { readProcessIds } from '../cgroup/tasks.js';
import type { Candidate } from './candidate.js';
import { isRecord, num, str } from '../json.js';
import type { Host } from './host.js';

/** A container's cgroup as found on disk, plus what a cache needs to revalidate it. */
export interface LocatedCgroup {
  hierarchyPath: string;
  cgroupDir: string;
  freezeFile: string;
  cgroupVersion: 'v1' | 'v2';
  startTime: number;
  /** `dev:ino` of the directory, as the freezer's handle reports it. */
  identity: string;
}

interface RuntimeState {
  file: string;
  pid?: number;
  startTime?: number;
  /** Absolute cgroup directories as the runtime saw them (runc), or a hierarchy path for both (crun). */
  v1?: string;
  v2?: string;
  any?: string;
}

function short(c: Candidate): string {
  return `${c.engine} container ${c.names[0] ?? c.id.slice(0, 12)}`;
}

/** True when a path component names the container: `<id>`, `docker-<id>.scope`, `libpod-<id>`, `crio-<id>.scope`, … */
export function namesContainer(component: string, id: string): boolean {
  if (component.includes('conmon')) return false;
  return component === id || component.endsWith(`-${id}`) || component.endsWith(`-${id}.scope`);
}

/** The deepest prefix of `path` whose last component names the container, if any. */
function containerUnit(path: string, id: string): string | undefined {
  const parts = path.split('/');
  for (let i = parts.length - 1; i > 0; i--) {
    if (namesContainer(parts[i] ?? '', id)) return parts.slice(0, i + 1).join('/');
  }
  return undefined;
}

/** Turns a runtime's absolute cgroup directory into a hierarchy path, whatever mount point the runtime saw. */
function stateDirToPath(dir: string, mount: CgroupMount): string {
  if (isUnder(dir, mount.mountPoint)) return dir.slice(mount.mountPoint.length) || '/';
  const m =
    mount.version === 1
      ? /^\/sys\/fs\/cgroup\/[^/]+(\/.*)?$/.exec(dir)
      : /^\/sys\/fs\/cgroup(?:\/unified)?(\/.*)?$/.exec(dir);
  return m?.[1] ?? '/';
}

function readRuntimeState(host: Host, c: Candidate): RuntimeState | undefined {
  for (const dir of c.runtimeDirs) {
    const runc = host.readJson(`${dir}/state.json`);
    if (runc !== undefined) {
      const file = `${dir}/state.json`;
      if (!isRecord(runc)) throw new CgfreezeError('ERR_STATE_FILE', `${file} is not a JSON object`, { path: file });
      const paths = isRecord(runc['cgroup_paths']) ? runc['cgroup_paths'] : {};
      const state: RuntimeState = { file };
      const v1 = str(paths['freezer']);
      const v2 = str(paths['']);
      if (v1 !== undefined && v1 !== '') state.v1 = v1;
      if (v2 !== undefined && v2 !== '') state.v2 = v2;
      const pid = num(runc['init_process_pid']);
      const start = num(runc['init_process_start']);
      if (pid !== undefined) state.pid = pid;
      if (start !== undefined) state.startTime = start;
      return state;
    }
    const crun = host.readJson(`${dir}/status`);
    if (crun !== undefined) {
      const file = `${dir}/status`;
      if (!isRecord(crun)) throw new CgfreezeError('ERR_STATE_FILE', `${file} is not a JSON object`, { path: file });
      const state: RuntimeState = { file };
      const raw = str(crun['cgroup-path']);
      if (raw !== undefined && raw !== '') state.any = raw.startsWith('/') ? raw : `/${raw}`;
      const pid = num(crun['pid']);
      const start = num(crun['process-start-time']);
      if (pid !== undefined) state.pid = pid;
      if (start !== undefined) state.startTime = start;
      return state;
    }
  }
  return undefined;
}

/**
 * The hierarchy to freeze in: the v1 freezer when the runtime put the
 * container there (legacy and hybrid hosts, as runc and `docker pause` do),
 * else cgroup2 (unified hosts, and a unified-mode engine on a hybrid host).
 */
function chooseHierarchy(
  host: Host,
  c: Candidate,
  state: RuntimeState | undefined,
  procText: string,
): { mount: CgroupMount; statePath?: string } | undefined {
  const entries = parseProcCgroup(procText);
  const v1 = host.v1Freezer;
  const v2 = host.cgroup2;
  if (state !== undefined && (state.v1 !== undefined || state.v2 !== undefined)) {
    if (v1 !== undefined && state.v1 !== undefined) return { mount: v1, statePath: stateDirToPath(state.v1, v1) };
    if (v2 !== undefined && state.v2 !== undefined) return { mount: v2, statePath: stateDirToPath(state.v2, v2) };
    return undefined;
  }
  for (const mount of [v1, v2]) {
    if (mount === undefined) continue;
    const path = entryForMount(entries, mount)?.path;
    if (path === undefined || path === '/') continue;
    if (state?.any !== undefined) {
      if (isUnder(path, state.any)) return { mount, statePath: state.any };
    } else if (path.startsWith('/..') || containerUnit(path, c.id) !== undefined) {
      return { mount };
    }
  }
  return undefined;
}

/** The kernel lists `pid` in the cgroup at `hierarchyPath` or one level below it (crun's payload group). */
function cgroupHolds(host: Host, mount: CgroupMount, hierarchyPath: string, pid: number): boolean {
  const dir = hierarchyPathToDir(mount, hierarchyPath);
  if (dir === undefined) return false;
  const lists = (d: string): boolean => {
    try {
      return readProcessIds(host.path(d)).includes(pid);
    } catch {
      return false;
    }
  };
  if (lists(dir)) return true;
  try {
    return readdirSync(host.path(dir), { withFileTypes: true }).some(
      (e) => e.isDirectory() && lists(`${dir}/${e.name}`),
    );
  } catch {
    return false;
  }
}

/**
 * Finds and checks a container's cgroup: the init pid is alive and is the
 * process the runtime started (start time), its cgroup is the directory the
 * runtime recorded or below it, the directory names the container (or comes
 * from the runtime's own state), and it is a real directory (no symlinks) on
 * the freezer mount with its freeze file.
 */
export function locate(host: Host, c: Candidate): LocatedCgroup {
  if (c.error !== undefined) throw c.error;
  const target = c.id;
  if (!c.running || c.pid <= 0) {
    throw new CgfreezeError('ERR_CONTAINER_NOT_RUNNING', `${short(c)} (${c.id.slice(0, 12)}) is not running`, {
      target,
    });
  }
  const startTime = host.startTime(c.pid);
  const procText = host.procCgroup(c.pid);
  if (startTime === undefined || procText === undefined) {
    throw new CgfreezeError(
      'ERR_CONTAINER_NOT_RUNNING',
      `${short(c)} is not running: its init process ${c.pid} is gone`,
      { target },
    );
  }
  const state = readRuntimeState(host, c);
  if (state?.pid !== undefined && state.pid !== c.pid) {
    throw new CgfreezeError(
      'ERR_CGROUP_MISMATCH',
      `${short(c)}: the engine says pid ${c.pid}, the runtime state ${state.file} says ${state.pid}`,
      { target },
    );
  }
  if (state?.startTime !== undefined && state.startTime !== startTime) {
    throw new CgfreezeError(
      'ERR_CONTAINER_NOT_RUNNING',
      `${short(c)} is not running: pid ${c.pid} now belongs to another process (start time ${startTime}, expected ${state.startTime})`,
      {
        target,
      },
    );
  }
  if (host.v1Freezer === undefined && host.cgroup2 === undefined) {
    throw new CgfreezeError('ERR_FREEZER_UNAVAILABLE', 'no cgroup freezer is mounted (no v1 freezer, no cgroup2)');
  }
  const chosen = chooseHierarchy(host, c, state, procText);
  if (chosen === undefined) {
    const where =
      state === undefined
        ? 'its cgroups do not name the container'
        : `the runtime state ${state.file} names no cgroup this host can freeze`;
    throw new CgfreezeError('ERR_NO_DEDICATED_CGROUP', `${short(c)} has no cgroup of its own: ${where}`, { target });
  }
  const { mount } = chosen;
  const procPath = entryForMount(parseProcCgroup(procText), mount)?.path ?? '/';
  // In a cgroup namespace of its own (an unprivileged pod on a cgroup v2 node) the kernel shows other
  // processes' cgroups relative to ours (`/../..`). The runtime's record must then name the cgroup, and
  // the kernel's own cgroup.procs there must list the process (the caller shares the host's pids).
  const ownNamespace = procPath.startsWith('/..');
  const statePath = chosen.statePath;
  if (ownNamespace && statePath === undefined) {
    throw new CgfreezeError(
      'ERR_CGROUP_MISMATCH',
      `${short(c)}: its cgroup ${procPath} is outside this cgroup namespace and no runtime state names it; run in the host cgroup namespace`,
      { target },
    );
  }
  let path: string;
  if (statePath !== undefined && state !== undefined) {
    if (posix.normalize(statePath) !== statePath || statePath.split('/').includes('..')) {
      throw new CgfreezeError(
        'ERR_STATE_FILE',
        `${state.file} holds a cgroup path that is not normalized: ${statePath.slice(0, 200)}`,
        { target, path: state.file },
      );
    }
    // Either way the kernel says so: /proc/<pid>/cgroup, or (when that is relative to a cgroup namespace
    // of our own, even as `/` for the very cgroup we run in) that cgroup's own cgroup.procs.
    if (!isUnder(procPath, statePath) && !cgroupHolds(host, mount, statePath, c.pid)) {
      throw new CgfreezeError(
        'ERR_CGROUP_MISMATCH',
        `${short(c)}: pid ${c.pid} is in ${procPath}, not in ${statePath} that ${state.file} names`,
        { target },
      );
    }
    // crun puts the payload in <scope>/container: freeze the unit that names the container.
    path = containerUnit(statePath, c.id) ?? statePath;
  } else {
    const unit = containerUnit(procPath, c.id);
    if (unit === undefined) {
      throw new CgfreezeError(
        'ERR_NO_DEDICATED_CGROUP',
        `${short(c)}: no runtime state and its cgroup ${procPath} does not name the container`,
        { target },
      );
    }
    path = unit;
  }
  const last = path.slice(path.lastIndexOf('/') + 1);
  if (path === '/' || last.includes('conmon')) {
    throw new CgfreezeError('ERR_NO_DEDICATED_CGROUP', `${short(c)} has no cgroup of its own (${path})`, { target });
  }
  const cgroupDir = hierarchyPathToDir(mount, path);
  if (cgroupDir === undefined) {
    throw new CgfreezeError(
      'ERR_CGROUP_MISMATCH',
      `${short(c)}: cgroup ${path} is not visible through ${mount.mountPoint} (mounted from ${mount.root})`,
      { target },
    );
  }
  return checkDir(host, c, path, cgroupDir, mount, startTime);
}

/**
 * State that an unprivileged user can write (a rootless engine's, or any under that user's
 * directories) may only name that user's own containers: a cgroup delegated to that uid (it owns the
 * directory, as with systemd's user@<uid>.service) whose init process runs as that uid or one of its
 * subordinate ids. Anything else would let the user steer root's freeze onto other processes.
 */
function assertOwnCgroup(host: Host, c: Candidate, cgroupDir: string, owner: number): void {
  const trust = c.trust;
  if (trust === undefined || trust.kind === 'root') return;
  const refuse = (why: string): CgfreezeError =>
    new CgfreezeError(
      'ERR_UNTRUSTED_SOURCE',
      `${short(c)} comes from ${c.source ?? 'engine state'} (${trust.why}): ${why}`,
      {
        target: c.id,
        path: cgroupDir,
      },
    );
  if (trust.kind === 'anyone') throw refuse('state that any user can write names no cgroup cgfreeze will touch');
  if (owner !== trust.uid) {
    throw refuse(`its cgroup ${cgroupDir} is not delegated to uid ${trust.uid} (it belongs to uid ${owner})`);
  }
  const initOwner = host.ownerOf(`/proc/${c.pid}`);
  if (initOwner === undefined || !host.userIds(trust.uid)(initOwner)) {
    throw refuse(
      `its init process ${c.pid} runs as uid ${String(initOwner)}, not as uid ${trust.uid} or one of its subordinate ids`,
    );
  }
}

function checkDir(
  host: Host,
  c: Candidate,
  hierarchyPath: string,
  cgroupDir: string,
  mount: CgroupMount,
  startTime: number,
): LocatedCgroup {
  const target = c.id;
  const freezeFile = `${cgroupDir}/${mount.version === 1 ? 'freezer.state' : 'cgroup.freeze'}`;
  let identity: string;
  let owner: number;
  try {
    const st = lstatSync(host.path(cgroupDir));
    owner = st.uid;
    if (!st.isDirectory())
      throw new CgfreezeError('ERR_CGROUP_MISMATCH', `${cgroupDir} is not a directory`, { target, path: cgroupDir });
    identity = `${st.dev}:${st.ino}`;
    const real = realpathSync(host.path(cgroupDir));
    const expected = host.realRootPath() === '/' ? cgroupDir : host.realRootPath() + cgroupDir;
    if (real !== expected) {
      throw new CgfreezeError('ERR_CGROUP_MISMATCH', `${cgroupDir} goes through a symbolic link (to ${real})`, {
        target,
        path: cgroupDir,
      });
    }
    if (!lstatSync(host.path(freezeFile)).isFile())
      throw new CgfreezeError('ERR_CGROUP_MISMATCH', `${freezeFile} is not a file`, { target, path: freezeFile });
  } catch (err) {
    if (err instanceof CgfreezeError) throw err;
    const code = (err as { code?: unknown }).code;
    if (code === 'ENOENT') {
      throw new CgfreezeError('ERR_CONTAINER_NOT_RUNNING', `${short(c)}: its cgroup ${cgroupDir} is gone`, {
        target,
        path: cgroupDir,
        cause: err,
      });
    }
    throw new CgfreezeError('ERR_CGROUP_MISMATCH', `${short(c)}: cannot inspect ${cgroupDir}: ${String(code)}`, {
      target,
      path: cgroupDir,
      cause: err,
    });
  }
  assertOwnCgroup(host, c, cgroupDir, owner);
  return {
    hierarchyPath,
    cgroupDir,
    freezeFile,
    cgroupVersion: mount.version === 1 ? 'v1' : 'v2',
    startTime,
    identity,
  };
}

/** The pod cgroup: the parent of its members' cgroups, named after the pod UID. */
export function locatePod(
  host: Host,
  members: Array<{ candidate: Candidate; located: LocatedCgroup }>,
  podUid: string | undefined,
  ref: string,
): LocatedCgroup {
  const parents = new Set(members.map((m) => posix.dirname(m.located.hierarchyPath)));
  if (parents.size !== 1) {
    throw new CgfreezeError(
      'ERR_CGROUP_MISMATCH',
      `the containers of pod ${ref} do not share one pod cgroup: ${[...parents].join(', ')}`,
      { target: ref },
    );
  }
  const podPath = [...parents][0] as string;
  const last = podPath.slice(podPath.lastIndexOf('/') + 1);
  const uidForms = podUid === undefined ? [] : [podUid, podUid.replace(/-/g, '_')];
  if (podPath === '/' || !uidForms.some((u) => last.includes(u))) {
    throw new CgfreezeError(
      'ERR_NO_DEDICATED_CGROUP',
      `pod ${ref}: ${podPath} is not a cgroup of this pod (no pod UID in its name)`,
      { target: ref },
    );
  }
  const mount = members[0]?.located.cgroupVersion === 'v2' ? host.cgroup2 : host.v1Freezer;
  const dir = mount === undefined ? undefined : hierarchyPathToDir(mount, podPath);
  const first = members[0];
  if (mount === undefined || dir === undefined || first === undefined) {
    throw new CgfreezeError('ERR_CGROUP_MISMATCH', `pod ${ref}: ${podPath} is not visible through the cgroup mount`, {
      target: ref,
    });
  }
  return checkDir(host, first.candidate, podPath, dir, mount, first.located.startTime);
}
