import { statSync } from 'node:fs';
import { locateCgroup } from '../cgroup/location.js';
import { CgfreezeError, describeValue, fromSystemError } from '../errors.js';
import { isRecord } from '../json.js';
import type { CgroupTarget } from '../freezer/cgroup-target.js';
import {
  type Engine,
  type Resolved,
  type ResolvedCgroup,
  type ResolutionUse,
  type ResolveOptions,
  resolveForUse,
} from '../resolve/index.js';

/**
 * What freeze, thaw, state and kill accept: a cgroup directory, a container reference, `{ cgroup }`,
 * or a {@link Resolved} from resolve() or list(). A string is a directory when it starts with `/` and
 * has a second `/` (`/sys/fs/cgroup/freezer/x`); Docker names (`web`, `/web`), IDs and Kubernetes
 * `namespace/pod/container` references never do.
 */
export type Target = string | { cgroup: string } | Resolved;

/**
 * `hostRoot` prefixes every path read and written, for processes that see the host under another root
 * (a sidecar with the host at `/host`); paths given and returned are host paths without it. The other
 * options say where the engines keep their state, for container references (see the resolver).
 */
export type TargetOptions = ResolveOptions;

/** Is this string a cgroup directory rather than a container reference? */
export function isCgroupPath(target: string): boolean {
  return target.startsWith('/') && target.indexOf('/', 1) > 0;
}

export function checkHostRoot(hostRoot: unknown): string {
  if (hostRoot === undefined || hostRoot === '' || hostRoot === '/') return '';
  if (typeof hostRoot !== 'string' || !hostRoot.startsWith('/') || hostRoot.split('/').includes('..')) {
    throw new CgfreezeError(
      'ERR_INVALID_ARG',
      `hostRoot must be an absolute path without '..', got ${describeValue(hostRoot)}`,
    );
  }
  return hostRoot.replace(/\/+$/, '');
}

/** A target as the freezer takes it, and what the public API decides on before handing it down. */
export interface PreparedTarget {
  cg: CgroupTarget;
  /** For a container its engine paused itself: that engine. */
  pausedBy?: Engine;
  /** Drops the cached resolution it came from, for a reference whose cgroup proved recreated. */
  forget?: () => void;
}

const RESOLVED_KINDS: ReadonlySet<unknown> = new Set(['container', 'pod', 'cgroup']);

/** A Resolved given back to us: checked like any input, since a caller may have built or changed it. */
function isResolved(target: object): target is Resolved {
  return 'kind' in target && RESOLVED_KINDS.has(target.kind);
}

/** A Resolved given back by a caller, checked: ERR_INVALID_ARG when a field a target needs is missing. */
export function checkResolved(target: Resolved): Resolved {
  const { ref, cgroupDir, cgroupIdentity, pausedByEngine } = target;
  if (
    typeof ref !== 'string' ||
    typeof cgroupDir !== 'string' ||
    !cgroupDir.startsWith('/') ||
    typeof cgroupIdentity !== 'string' ||
    !/^\d+:\d+$/.test(cgroupIdentity) ||
    typeof pausedByEngine !== 'boolean'
  ) {
    throw new CgfreezeError(
      'ERR_INVALID_ARG',
      'a resolved target needs ref, an absolute cgroupDir, cgroupIdentity (dev:ino) and pausedByEngine, as resolve() returns them',
    );
  }
  return target;
}

/**
 * Resolves a target once, above the freezer. A reference comes from the resolver (its cache checked as
 * far as `use` needs); a Resolved is taken as it is, with its identity as the guard.
 */
export function prepareTarget(target: unknown, opts: TargetOptions, use: ResolutionUse): PreparedTarget {
  const hostRoot = checkHostRoot(opts.hostRoot);
  const fromPath = (path: string, label: string): PreparedTarget => ({
    cg: { label, cgroupDir: path, openDir: hostRoot + path },
  });
  if (typeof target === 'string') {
    if (isCgroupPath(target)) return fromPath(target, target);
    if (target !== '') {
      // Resolution checks that the container runs and that this cgroup is really its own.
      const resolution = resolveForUse(target, opts, use);
      return { ...fromResolved(resolution.resolved, hostRoot), forget: () => resolution.forget() };
    }
  } else if (isRecord(target)) {
    if (isResolved(target)) return fromResolved(checkResolved(target), hostRoot);
    if ('cgroup' in target) {
      const { cgroup } = target;
      if (typeof cgroup !== 'string' || !cgroup.startsWith('/')) {
        throw new CgfreezeError('ERR_INVALID_ARG', `{ cgroup } must be an absolute path, got ${describeValue(cgroup)}`);
      }
      return fromPath(cgroup, cgroup);
    }
  }
  throw new CgfreezeError(
    'ERR_INVALID_ARG',
    `a target must be a cgroup path, a container reference, { cgroup: path } or a resolved target, got ${describeValue(target)}`,
  );
}

function fromResolved(resolved: Resolved, hostRoot: string): PreparedTarget {
  const prepared: PreparedTarget = {
    cg: {
      label: resolved.ref,
      cgroupDir: resolved.cgroupDir,
      openDir: hostRoot + resolved.cgroupDir,
      identity: resolved.cgroupIdentity,
    },
  };
  if (resolved.kind !== 'cgroup' && resolved.pausedByEngine) prepared.pausedBy = resolved.engine;
  return prepared;
}

/**
 * A cgroup directory given by path, validated as a freeze would (on a freezer mount, not the root,
 * no `..` or symbolic link on the way) and normalized, with its identity for a later guard.
 */
export function resolveCgroupPath(path: string, opts: TargetOptions): ResolvedCgroup {
  const hostRoot = checkHostRoot(opts.hostRoot);
  const location = locateCgroup(hostRoot + path);
  const cgroupDir = location.dir.slice(hostRoot.length);
  let identity: string;
  try {
    const st = statSync(location.dir);
    identity = `${st.dev}:${st.ino}`;
  } catch (err) {
    throw fromSystemError(err, path);
  }
  return {
    kind: 'cgroup',
    ref: path,
    cgroupDir,
    freezeFile: `${cgroupDir}/${location.version === 1 ? 'freezer.state' : 'cgroup.freeze'}`,
    cgroupVersion: location.version === 1 ? 'v1' : 'v2',
    cgroupIdentity: identity,
    labels: {},
    pausedByEngine: false,
  };
}

/** A group member's name before it is resolved, for its failure line. */
export function labelOf(target: unknown): string {
  if (typeof target === 'string') return target;
  if (typeof target === 'object' && target !== null) {
    const { ref, cgroup } = target as { ref?: unknown; cgroup?: unknown };
    if (typeof ref === 'string') return ref;
    if (typeof cgroup === 'string') return cgroup;
  }
  return describeValue(target);
}
