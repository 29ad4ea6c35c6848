import { CgfreezeError, describeValue } from '../errors.js';
import { selfAndAncestors } from './membership.js';
import { readProcStat } from './proc.js';
import { cgroupTree, processesIn } from './tasks.js';

/**
 * Processes whose cgroup is never frozen on another's behalf: the engines and supervisors of the host.
 * Freezing them would hang every container and the callers themselves. Names as /proc/<pid>/stat
 * shows them (15 characters at most); every `containerd-shim*` counts too.
 */
export const PROTECTED_COMMANDS: ReadonlySet<string> = new Set([
  'dockerd',
  'containerd',
  'containerd-shim',
  'docker-proxy',
  'runc',
  'crun',
  'conmon',
  'podman',
  'crio',
  'kubelet',
  'systemd',
  'init',
]);

/** A container's cgroup is small; a subtree larger than this is not a container. */
const MAX_CGROUPS = 4096;

function isProtectedCommand(comm: string): boolean {
  return PROTECTED_COMMANDS.has(comm) || comm.startsWith('containerd-shim');
}

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

/**
 * Refuses (ERR_PROTECTED_CGROUP) a cgroup whose subtree, which a freeze reaches entirely, holds PID 1,
 * this process or one of its ancestors, or a host engine or supervisor (see PROTECTED_COMMANDS). For a
 * service that freezes on others' behalf (the sidecar), on top of the freezer's own ERR_SELF_FREEZE.
 * `target` is a resolve() result or any `{ cgroupDir }`; the tree is read at `hostRoot + cgroupDir`,
 * process names from this process's /proc (a sidecar shares the host's PID namespace).
 */
export function assertNotProtected(
  target: { cgroupDir: string; ref?: string },
  opts: { hostRoot?: string } = {},
): void {
  if (typeof target !== 'object' || target === null) {
    throw new CgfreezeError('ERR_INVALID_ARG', `the target must be a resolved target, got ${describeValue(target)}`);
  }
  const cgroupDir = checkPath(target.cgroupDir, 'cgroupDir', false);
  const hostRoot = checkPath(opts.hostRoot, 'hostRoot', true);
  const label = typeof target.ref === 'string' ? target.ref : cgroupDir;
  const refuse = (why: string, where: string): CgfreezeError =>
    new CgfreezeError('ERR_PROTECTED_CGROUP', `refusing to freeze ${cgroupDir}: ${why}`, {
      target: label,
      path: where,
    });
  const dirs = cgroupTree(hostRoot + cgroupDir, MAX_CGROUPS + 1);
  if (dirs.length > MAX_CGROUPS) throw refuse(`more than ${MAX_CGROUPS} cgroups below it`, cgroupDir);
  // Computed per check: a parent that exits leaves us a new one (a subreaper) to protect.
  const mine = new Set(selfAndAncestors());
  for (const dir of dirs) {
    for (const pid of processesIn(dir)) {
      let why: string | undefined;
      if (pid === 1) why = 'PID 1';
      else if (pid === process.pid) why = `this process (pid ${pid})`;
      else if (mine.has(pid)) why = `pid ${pid}, an ancestor of this process`;
      else {
        const comm = readProcStat(pid)?.comm;
        if (comm !== undefined && isProtectedCommand(comm)) why = `${comm} (pid ${pid})`;
      }
      if (why !== undefined) {
        const where = dir.slice(hostRoot.length);
        throw refuse(`it holds ${why}${where === cgroupDir ? '' : ` (in ${where})`}`, where);
      }
    }
  }
}
