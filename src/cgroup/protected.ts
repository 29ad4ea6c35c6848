import { readFileSync, readdirSync } from 'node:fs';
import { CgfreezeError, describeValue, fromSystemError } from '../errors.js';
import { selfAndAncestors } from './membership.js';
import { parseProcStat } from './proc.js';
import { readProcessIds } from './tasks.js';

/**
 * Processes of the host itself that no cgroup outside a container may hold: the engines, the
 * Kubernetes node agents and the system's own daemons. Freezing them hangs every container, the
 * node or the sessions on it. Names as /proc/<pid>/stat shows them (15 characters at most, so
 * `containerd-shim-runc-v2` reads `containerd-shim` and `systemd-journald` `systemd-journal`); see
 * PROTECTED_PREFIXES for families.
 */
export const PROTECTED_COMMANDS: ReadonlySet<string> = new Set([
  'init',
  'systemd',
  'dockerd',
  'docker-proxy',
  'containerd',
  'runc',
  'crun',
  'conmon',
  'podman',
  'crio',
  'cri-dockerd',
  'kubelet',
  'k3s',
  'k3s-server',
  'k3s-agent',
  'kubelite',
  'k8s-dqlite',
  'sshd',
  'dbus-daemon',
  'dbus-broker',
  'dbus-broker-lau',
]);

/** Families of the above: every `containerd-shim*` (runc-v2, runhcs, kata…) and every `systemd-*` daemon. */
const PROTECTED_PREFIXES = ['containerd-shim', 'systemd-'];

/**
 * The engines' per-container plumbing: it may sit in a container's or pod's own cgroup (CRI-O's
 * conmon with `conmon_cgroup = "pod"`, a shim in its pod's cgroup), and freezing it with the
 * container wedges the engine's exec, stop and logs of that container. Refused even there.
 */
function isRuntimePlumbing(comm: string): boolean {
  return comm === 'conmon' || comm === 'runc' || comm === 'crun' || comm.startsWith('containerd-shim');
}

function isProtectedCommand(comm: string): boolean {
  return PROTECTED_COMMANDS.has(comm) || PROTECTED_PREFIXES.some((p) => comm.startsWith(p));
}

/**
 * Cgroup names that are a container's or a pod's own cgroup in the engines' layouts
 * (docs/serve.md, "What it never freezes"; from the resolution spec's table of Docker, containerd,
 * the kubelet, Podman and CRI-O under the systemd and cgroupfs drivers):
 * `docker-<id>.scope`, `cri-containerd-<id>.scope`, `crio-<id>.scope`, `libpod-<id>.scope`; cgroupfs
 * `<id>` (Docker `/docker/<id>`, kubelet `…/pod<uid>/<id>`), `crio-<id>`, `libpod-<id>`; pods
 * `kubepods[-<qos>]-pod<uid>.slice`, `pod<uid>`, `machine-libpod_pod_<id>.slice`,
 * `user-libpod_pod_<id>.slice`. `<id>` is 64 hex digits, so `crio-conmon-<id>.scope` and
 * `libpod-conmon-<id>.scope` (the engines' monitors) are not containers.
 */
const CONTAINER_CGROUP =
  /^(?:(?:docker|cri-containerd|crio|libpod)-[0-9a-f]{64}\.scope|(?:crio-|libpod-)?[0-9a-f]{64}|kubepods(?:-besteffort|-burstable)?-pod[0-9a-f_]{32,36}\.slice|pod[0-9a-f-]{32,36}|(?:machine|user)-libpod_pod_[0-9a-f]{64}\.slice)$/;

/**
 * systemd units that hold processes of the host: services (the engines' and the kubelet's own units,
 * `user@<uid>.service` managers), sockets, mounts, swaps, and scopes that are not a container's
 * (`init.scope`, `session-<n>.scope`, `run-<id>.scope`, the engines' `*-conmon-<id>.scope`).
 */
function hostUnit(name: string): boolean {
  return /\.(?:service|socket|mount|swap)$/.test(name) || (name.endsWith('.scope') && !CONTAINER_CGROUP.test(name));
}

/** A container's cgroup is small; a subtree larger than this is not a container. */
const MAX_CGROUPS = 4096;
/** Each process costs one read of /proc; this bounds the work of one check. */
const MAX_PROCESSES = 4096;

function checkPath(value: unknown, what: string, allowEmpty: boolean): string {
  if (allowEmpty && (value === undefined || value === '')) return '';
  if (typeof value !== 'string' || !value.startsWith('/') || value.split('/').includes('..')) {
    throw new CgfreezeError(
      'ERR_INVALID_ARG',
      `${what} must be an absolute path without '..', got ${describeValue(value)}`,
    );
  }
  return value.replace(/\/+$/, '');
}

let knownAncestry: ReadonlySet<number> | undefined;

/**
 * This process and its ancestors. Once the chain has been read up to PID 1 it is kept: a parent that
 * exits hands us to the nearest subreaper above it or to PID 1, both already in the chain, so the chain
 * only ever loses members (whose pids could only come back as strangers, refused too: the safe side).
 * A chain cut short (an unreadable /proc entry) is read again each time.
 */
function ancestry(): ReadonlySet<number> {
  if (knownAncestry !== undefined) return knownAncestry;
  const pids = selfAndAncestors();
  const chain = new Set(pids);
  if (pids.at(-1) === 1) knownAncestry = chain;
  return chain;
}

function errnoCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException).code;
}

/** The command name of a live process; undefined once it has exited. Throws when it cannot tell. */
function commandOf(pid: number): string | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT' && errnoCode(err) !== 'ESRCH') throw err;
    // Gone, or hidden from us (hidepid): only a process that no longer exists is no risk.
    try {
      process.kill(pid, 0);
    } catch (e) {
      if (errnoCode(e) === 'ESRCH') return undefined;
    }
    throw err;
  }
  const stat = parseProcStat(text);
  if (stat === undefined) throw new Error(`/proc/${pid}/stat is not a stat line`);
  return stat.comm;
}

/**
 * Refuses (ERR_PROTECTED_CGROUP) a cgroup the sidecar must never freeze on another's behalf; a
 * freeze reaches the whole subtree, so every cgroup below counts. On top of the freezer's own
 * ERR_SELF_FREEZE:
 *
 * - PID 1, this process or one of its ancestors anywhere in the subtree (so also the sidecar's own
 *   cgroup and every cgroup above it);
 * - outside containers: a systemd unit of the host (see `hostUnit`) anywhere in the subtree, whatever
 *   its processes call themselves, and a process of the host by name (PROTECTED_COMMANDS);
 * - inside a container (a `target` resolved from an engine's state, `kind` container or pod, or a
 *   cgroup whose path is or is below a container's or pod's cgroup, see CONTAINER_CGROUP): what it
 *   runs is its own business, apart from the engines' plumbing (conmon, runc, crun, shims);
 * - and it fails closed: a subtree whose processes cannot all be read (permissions, a threaded
 *   cgroup, a process outside this PID namespace that cgroup.procs shows as 0, a /proc entry it
 *   cannot read) or that is too large to check is refused, not passed.
 *
 * `target` is a resolve() result or any `{ cgroupDir }`; the tree is read at `hostRoot + cgroupDir`,
 * process names from this process's /proc (a sidecar shares the host's PID namespace).
 */
export function assertNotProtected(
  target: { cgroupDir: string; ref?: string; kind?: string },
  opts: { hostRoot?: string } = {},
): void {
  if (typeof target !== 'object' || target === null) {
    throw new CgfreezeError('ERR_INVALID_ARG', `the target must be a resolved target, got ${describeValue(target)}`);
  }
  const cgroupDir = checkPath(target.cgroupDir, 'cgroupDir', false);
  const hostRoot = checkPath(opts.hostRoot, 'hostRoot', true);
  const label = typeof target.ref === 'string' ? target.ref : cgroupDir;
  const refuse = (why: string, dir: string, cause?: unknown): CgfreezeError => {
    const where = dir.slice(hostRoot.length);
    return new CgfreezeError(
      'ERR_PROTECTED_CGROUP',
      `refusing to freeze ${cgroupDir}: ${why}${where === cgroupDir ? '' : ` (in ${where})`}`,
      { target: label, path: where, ...(cause === undefined ? {} : { cause }) },
    );
  };
  const resolvedContainer = target.kind === 'container' || target.kind === 'pod';
  const mine = ancestry();
  const pending: Array<{ dir: string; inContainer: boolean }> = [
    { dir: hostRoot + cgroupDir, inContainer: resolvedContainer || cgroupDir.split('/').some(isContainerName) },
  ];
  let cgroups = 0;
  let processes = 0;
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const { dir, inContainer } = next;
    if (++cgroups > MAX_CGROUPS) throw refuse(`more than ${MAX_CGROUPS} cgroups below it`, dir);
    const name = dir.slice(dir.lastIndexOf('/') + 1);
    if (!inContainer && hostUnit(name)) throw refuse(`it holds ${name}, a unit of the host's systemd`, dir);
    let pids: number[];
    let children: string[];
    try {
      pids = readProcessIds(dir);
      children = readdirSync(dir, { withFileTypes: true })
        .filter((e) => e.isDirectory())
        .map((e) => e.name);
    } catch (err) {
      // A cgroup below that was removed while we walked holds nothing; anything else is a blind spot.
      if (errnoCode(err) === 'ENOENT') {
        if (dir === hostRoot + cgroupDir) throw fromSystemError(err, label);
        continue;
      }
      throw refuse(`cannot read its processes (${errnoCode(err) ?? String(err)})`, dir, err);
    }
    processes += pids.length;
    if (processes > MAX_PROCESSES) throw refuse(`more than ${MAX_PROCESSES} processes in it`, dir);
    for (const pid of pids) {
      let why: string | undefined;
      if (pid === 0) why = 'a process outside this PID namespace (the sidecar needs the host PID namespace)';
      else if (pid === 1) why = 'PID 1';
      else if (pid === process.pid) why = `this process (pid ${pid})`;
      else if (mine.has(pid)) why = `pid ${pid}, an ancestor of this process`;
      else {
        let comm: string | undefined;
        try {
          comm = commandOf(pid);
        } catch (err) {
          throw refuse(`cannot read /proc/${pid}/stat (${errnoCode(err) ?? String(err)})`, dir, err);
        }
        if (comm !== undefined && (inContainer ? isRuntimePlumbing(comm) : isProtectedCommand(comm)))
          why = `${comm} (pid ${pid})`;
      }
      if (why !== undefined) throw refuse(`it holds ${why}`, dir);
    }
    for (const child of children) {
      pending.push({ dir: `${dir}/${child}`, inContainer: inContainer || isContainerName(child) });
    }
  }
}

function isContainerName(name: string): boolean {
  return CONTAINER_CGROUP.test(name);
}
