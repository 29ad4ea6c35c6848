import { readdirSync, readFileSync } from 'node:fs';
import { CgfreezeError } from '../errors.js';
import { selfAndAncestors } from '../cgroup/membership.js';

/**
 * Processes whose cgroup the sidecar never freezes: the engines and
 * supervisors of its host. Freezing them would hang every container and
 * the sidecar's own callers. Names as /proc/<pid>/comm shows them (15 chars).
 */
export const PROTECTED_COMMS: ReadonlySet<string> = new Set([
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

function readPids(dir: string): number[] {
  try {
    return readFileSync(`${dir}/cgroup.procs`, 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map(Number);
  } catch {
    // Gone or not readable: the freeze itself reports that precisely.
    return [];
  }
}

function comm(pid: number, procRoot: string): string | undefined {
  try {
    return readFileSync(`${procRoot}/${pid}/comm`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/**
 * Refuses a cgroup whose subtree (a freeze reaches every descendant) holds
 * PID 1, this sidecar or its ancestors, or a host engine process. The
 * directory is read at `hostRoot + cgroupDir`; messages name the host path.
 */
export function assertFreezable(
  cgroupDir: string,
  target: string,
  mine: ReadonlySet<number> = new Set(selfAndAncestors()),
  hostRoot = '',
  procRoot = '/proc',
): void {
  const stack = [hostRoot + cgroupDir];
  let seen = 0;
  while (stack.length > 0) {
    const dir = stack.pop() as string;
    if (++seen > MAX_CGROUPS) {
      throw new CgfreezeError(
        'ERR_PROTECTED_CGROUP',
        `refusing to freeze ${cgroupDir}: more than ${MAX_CGROUPS} cgroups below it`,
        {
          target,
          path: cgroupDir,
        },
      );
    }
    for (const pid of readPids(dir)) {
      const name = comm(pid, procRoot);
      let why: string | undefined;
      if (pid === 1) why = 'PID 1';
      else if (mine.has(pid))
        why = pid === process.pid ? 'the sidecar itself' : `pid ${pid}, an ancestor of the sidecar`;
      else if (name !== undefined && (PROTECTED_COMMS.has(name) || name.startsWith('containerd-shim')))
        why = `${name} (pid ${pid})`;
      if (why !== undefined) {
        const where = dir.slice(hostRoot.length);
        const inside = where === cgroupDir ? '' : ` (in ${where})`;
        throw new CgfreezeError('ERR_PROTECTED_CGROUP', `refusing to freeze ${cgroupDir}: it holds ${why}${inside}`, {
          target,
          path: where,
        });
      }
    }
    let children: string[] = [];
    try {
      children = readdirSync(dir, { withFileTypes: true })
        .filter((e) => e.isDirectory())
        .map((e) => `${dir}/${e.name}`);
    } catch {
      children = [];
    }
    stack.push(...children);
  }
}
