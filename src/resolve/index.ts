import { CgfreezeError } from '../errors.js';
import { readFreezerFiles } from '../cgroup/freezer-files.js';
import { dirToHierarchyPath } from '../cgroup/mountinfo.js';
import { type ResourceUsage, readResourceUsage } from '../cgroup/resources.js';
import type { Candidate, Source } from './candidate.js';
import { ContainerdSource, defaultContainerdRoots } from './engines/containerd.js';
import { DockerSource, defaultDockerRoots } from './engines/docker.js';
import { StorageSource, defaultStorageRoots } from './engines/storage.js';
import { type Found, ResolveCache, type ResolutionUse } from './cache.js';
import { compileFilter } from './filter.js';
import { Host } from './host.js';
import { type LocatedCgroup, locate, locatePod } from './locate.js';
import { type ParsedRef, parseReference } from './reference.js';
import {
  ENGINES,
  type Engine,
  type ListedContainer,
  type ListOptions,
  type Resolved,
  type ResolvedContainer,
  type ResolveOptions,
} from './types.js';

export { RESOLVE_OPTION_KEYS } from './types.js';
export type {
  ContainerdRoots,
  ContainerFilter,
  ContainerStatus,
  DockerRoots,
  Engine,
  MemoryCondition,
  K8sIdentity,
  ListedContainer,
  ListOptions,
  HealthStatus,
  Resolved,
  ResolvedCgroup,
  ResolvedContainer,
  ResolveOptions,
  StorageRoots,
} from './types.js';
export { parseReference, type ParsedRef } from './reference.js';
export { labelsMatch, parseContainerFilter, parseSize } from './filter.js';
export type { ResolutionUse } from './cache.js';

/** Everything one resolution reads: the host and the engine instances on it. */
class Scan {
  readonly host: Host;
  readonly sources: Source[] = [];
  private readonly loaded = new Map<string, Candidate | undefined>();

  constructor(opts: ResolveOptions) {
    this.host = new Host(opts.hostRoot, opts.mountinfo);
    const engines = new Set<Engine>(opts.engines ?? ENGINES);
    const dockerRoots = opts.docker ?? defaultDockerRoots(this.host);
    if (engines.has('docker')) for (const r of dockerRoots) this.sources.push(new DockerSource(this.host, r));
    if (engines.has('containerd')) {
      const roots =
        opts.containerd ??
        defaultContainerdRoots(
          this.host,
          dockerRoots.map((r) => r.execRoot ?? '/var/run/docker'),
        );
      for (const r of roots) this.sources.push(new ContainerdSource(this.host, r));
    }
    if (engines.has('podman') || engines.has('cri-o')) {
      for (const r of opts.storage ?? defaultStorageRoots(this.host))
        this.sources.push(new StorageSource(this.host, r));
    }
    this.engines = engines;
  }

  readonly engines: Set<Engine>;

  load(source: Source, key: string): Candidate | undefined {
    const k = `${source.label}\0${key}`;
    if (!this.loaded.has(k)) {
      const c = source.load(key);
      if (c !== undefined) {
        c.trust = source.trust;
        c.source = source.label;
      }
      const kept = c !== undefined && this.engines.has(c.engine) && !this.claimedByTrusted(c);
      this.loaded.set(k, kept ? c : undefined);
    }
    return this.loaded.get(k);
  }

  /** An ID that a root-only source knows belongs to that source: an untrusted copy of it is dropped. */
  private claimedByTrusted(c: Candidate): boolean {
    if (c.trust?.kind === 'root') return false;
    this.trustedIds ??= new Set(
      this.sources.filter((s) => s.trust.kind === 'root').flatMap((s) => s.entries().map((e) => e.id)),
    );
    return this.trustedIds.has(c.id);
  }

  private trustedIds: Set<string> | undefined;

  /** The sources whose container listing this process may not read (root-only state read without root). */
  unreadable(): UnreadableState[] {
    return this.sources.flatMap((source) =>
      source.listingDirs().flatMap((path) => {
        const code = this.host.unreadableDir(path);
        return code === undefined ? [] : [{ engines: source.engines.filter((e) => this.engines.has(e)), path, code }];
      }),
    );
  }

  all(): Candidate[] {
    const out: Candidate[] = [];
    for (const source of this.sources) {
      for (const e of source.entries()) {
        const c = this.load(source, e.key);
        if (c !== undefined) out.push(c);
      }
    }
    return dedupe(out);
  }
}

/** Docker's containers also appear in containerd namespace `moby` under the same ID: keep Docker's view. */
function dedupe(candidates: Candidate[]): Candidate[] {
  const dockerIds = new Set(candidates.filter((c) => c.engine === 'docker').map((c) => c.id));
  const mirrored = (c: Candidate): boolean =>
    c.engine === 'containerd' &&
    dockerIds.has(c.id) &&
    (c.namespace === 'plugins.moby' || c.namespace?.startsWith('moby') === true);
  return candidates.filter((c) => !mirrored(c));
}

function label(c: Candidate): string {
  const ns = c.namespace === undefined ? '' : `${c.namespace}/`;
  const name = c.names[0] === undefined ? '' : ` (${c.names[0]})`;
  return `${c.engine} ${ns}${c.id.length > 20 ? c.id.slice(0, 12) : c.id}${name}`;
}

function matches(parsed: Extract<ParsedRef, { kind: 'plain' }>, c: Candidate): boolean {
  if (parsed.engine !== undefined && c.engine !== parsed.engine) return false;
  return parsed.namespace === undefined || c.namespace === parsed.namespace;
}

/** Docker's rules across every engine: exact ID, then exact name, then unique ID prefix; stopped containers count. */
function findPlain(scan: Scan, parsed: Extract<ParsedRef, { kind: 'plain' }>, ref: string): Candidate {
  const pick = (found: Candidate[], level: string): Candidate | undefined => {
    const unique = dedupe(found.filter((c) => matches(parsed, c)));
    if (unique.length === 1) return unique[0];
    if (unique.length > 1) {
      const candidates = unique.map(label);
      throw new CgfreezeError(
        'ERR_AMBIGUOUS_REF',
        `${JSON.stringify(ref)} matches ${unique.length} containers by ${level}: ${candidates.join(', ')}`,
        {
          target: ref,
          candidates,
        },
      );
    }
    return undefined;
  };
  const value = parsed.value;
  const collect = (keysOf: (s: Source) => string[]): Candidate[] => {
    const out: Candidate[] = [];
    for (const s of scan.sources) {
      for (const key of keysOf(s)) {
        const c = scan.load(s, key);
        if (c !== undefined) out.push(c);
      }
    }
    return out;
  };
  const byId = pick(
    collect((s) =>
      s
        .entries()
        .filter((e) => e.id === value)
        .map((e) => e.key),
    ),
    'ID',
  );
  if (byId !== undefined) return byId;
  const byName = pick(
    collect((s) => s.byName(value)),
    'name',
  );
  if (byName !== undefined) return byName;
  const byPrefix = pick(
    collect((s) =>
      s
        .entries()
        .filter((e) => e.id.startsWith(value))
        .map((e) => e.key),
    ),
    'ID prefix',
  );
  if (byPrefix !== undefined) return byPrefix;
  const where =
    parsed.engine === undefined
      ? ''
      : ` in ${parsed.engine}${parsed.namespace === undefined ? '' : ` namespace ${parsed.namespace}`}`;
  throw new CgfreezeError('ERR_CONTAINER_NOT_FOUND', `no such container${where}: ${value}`, { target: ref });
}

function toResolved(c: Candidate, located: LocatedCgroup, ref: string): ResolvedContainer {
  const r: ResolvedContainer = {
    kind: 'container',
    ref,
    engine: c.engine,
    id: c.id,
    initPid: c.pid,
    cgroupDir: located.cgroupDir,
    freezeFile: located.freezeFile,
    cgroupVersion: located.cgroupVersion,
    cgroupIdentity: located.identity,
    labels: c.labels,
    pausedByEngine: c.pausedByEngine,
  };
  if (c.names[0] !== undefined) r.name = c.names[0];
  if (c.health !== undefined) r.health = c.health;
  if (c.k8s !== undefined) {
    const { type: _type, sandboxId: _sandbox, ...k8s } = c.k8s;
    r.k8s = k8s;
  }
  return r;
}

/** A pod's sandbox is never a target of its own: its cgroup is the pod's, shared with every member. */
function sandboxRefusal(c: Candidate, ref: string): CgfreezeError {
  const pod = `${c.k8s?.namespace ?? '?'}/${c.k8s?.pod ?? '?'}`;
  return new CgfreezeError(
    'ERR_INVALID_ARG',
    `${label(c)} is the sandbox of pod ${pod}; freeze the pod ("${pod}") or one of its containers`,
    { target: ref },
  );
}

function resolveCandidate(scan: Scan, c: Candidate, ref: string): Found {
  if (c.k8s?.type === 'sandbox') throw sandboxRefusal(c, ref);
  const located = locate(scan.host, c);
  return {
    resolved: toResolved(c, located, ref),
    located,
    ...(c.stateFile === undefined ? {} : { stateFile: c.stateFile }),
  };
}

/** Is the candidate's init process alive (cheap: one stat read)? */
function alive(scan: Scan, c: Candidate): boolean {
  return c.running && c.pid > 0 && c.error === undefined && scan.host.startTime(c.pid) !== undefined;
}

function findK8s(scan: Scan, parsed: Exclude<ParsedRef, { kind: 'plain' }>, ref: string): Found {
  const inPod = scan
    .all()
    .filter((c) => c.k8s !== undefined && c.k8s.namespace === parsed.namespace && c.k8s.pod === parsed.pod);
  if (parsed.kind === 'k8s-container') {
    const named = inPod.filter((c) => c.k8s?.type === 'container' && c.k8s.container === parsed.container);
    if (named.length === 0) {
      const others = inPod.filter((c) => c.k8s?.type === 'container').map((c) => c.k8s?.container ?? '?');
      const hint =
        inPod.length === 0
          ? 'no such pod'
          : `the pod has ${others.length === 0 ? 'no containers' : `containers ${[...new Set(others)].join(', ')}`}`;
      throw new CgfreezeError('ERR_CONTAINER_NOT_FOUND', `no such container: ${ref} (${hint})`, { target: ref });
    }
    // Restarts leave earlier attempts (stale bundles, dead pids) behind: take the live one.
    const live = named.filter((c) => alive(scan, c));
    if (live.length > 1) {
      const candidates = live.map(label);
      throw new CgfreezeError(
        'ERR_AMBIGUOUS_REF',
        `${ref} matches ${live.length} running containers: ${candidates.join(', ')}`,
        { target: ref, candidates },
      );
    }
    return resolveCandidate(scan, live[0] ?? (named[0] as Candidate), ref);
  }
  const members = inPod.filter((c) => alive(scan, c));
  if (members.length === 0) {
    if (inPod.length === 0) throw new CgfreezeError('ERR_CONTAINER_NOT_FOUND', `no such pod: ${ref}`, { target: ref });
    throw new CgfreezeError('ERR_CONTAINER_NOT_RUNNING', `pod ${ref} has no running container or sandbox`, {
      target: ref,
    });
  }
  const uids = new Set(members.map((c) => c.k8s?.podUid ?? ''));
  if (uids.size > 1) {
    const candidates = [...uids];
    throw new CgfreezeError(
      'ERR_AMBIGUOUS_REF',
      `${ref} matches ${uids.size} running pods (UIDs ${candidates.join(', ')})`,
      { target: ref, candidates },
    );
  }
  const located = members.map((candidate) => ({ candidate, located: locate(scan.host, candidate) }));
  const podUid = members[0]?.k8s?.podUid;
  const pod = locatePod(scan.host, located, podUid === '' ? undefined : podUid, ref);
  // members is not empty (checked above), so neither is located.
  const anchor = located.find((m) => m.candidate.k8s?.type === 'sandbox') ?? located[0];
  if (anchor === undefined) throw new CgfreezeError('ERR_INTERNAL', `pod ${ref}: no member to anchor it`);
  const c = anchor.candidate;
  const resolved: ResolvedContainer = {
    kind: 'pod',
    ref,
    engine: c.engine,
    id: c.k8s?.type === 'sandbox' ? c.id : (c.k8s?.sandboxId ?? podUid ?? c.id),
    initPid: c.pid,
    cgroupDir: pod.cgroupDir,
    freezeFile: pod.freezeFile,
    cgroupVersion: pod.cgroupVersion,
    cgroupIdentity: pod.identity,
    labels: c.labels,
    pausedByEngine: false,
    k8s: { namespace: parsed.namespace, pod: parsed.pod, ...(podUid === undefined ? {} : { podUid }) },
  };
  return { resolved, located: { ...pod, startTime: anchor.located.startTime } };
}

// ---- cache ----------------------------------------------------------------

const cache = new ResolveCache();

/** Forgets every cached resolution and closes the files the cache holds. */
export function clearResolveCache(): void {
  cache.clear();
}

function resolveFresh(ref: string, opts: ResolveOptions): { found: Found; host: Host } {
  const parsed = parseReference(ref);
  const scan = new Scan(opts);
  const found = scan.host.scanning(() =>
    parsed.kind === 'plain' ? resolveCandidate(scan, findPlain(scan, parsed, ref), ref) : findK8s(scan, parsed, ref),
  );
  return { found, host: scan.host };
}

/**
 * Resolves `ref` for one use, from the cache when it still holds: a cached resolution is checked only
 * as far as that use needs (see {@link ResolutionUse}). `forget()` drops it, for a caller that found it
 * stale (its cgroup was recreated since).
 */
export function resolveForUse(
  ref: string,
  opts: ResolveOptions,
  use: ResolutionUse,
): { resolved: ResolvedContainer; forget(): void } {
  const scope = opts.cache === false ? undefined : cache.scope(opts);
  if (scope !== undefined) {
    const entry = cache.get(scope, ref);
    if (entry !== undefined) {
      if (entry.validFor(use)) return entry;
      entry.forget();
    }
  }
  const { found, host } = resolveFresh(ref, opts);
  const entry = scope === undefined ? undefined : cache.remember(scope, ref, found, host);
  return entry ?? { resolved: found.resolved, forget: () => undefined };
}

/** Every container found on disk, with its labels, its cgroup when running, and its freezer state. */
export function listSync(opts: ListOptions = {}): ListedContainer[] {
  const { filter, ...resolveOpts } = opts;
  const matcher = compileFilter(filter);
  const scan = new Scan(resolveOpts);
  const out: ListedContainer[] = [];
  for (const c of scan.host.scanning(() => scan.all())) {
    if (!matcher.before(c.engine, c.labels)) continue;
    const item: ListedContainer = {
      engine: c.engine,
      id: c.id,
      labels: c.labels,
      running: false,
      pausedByEngine: c.pausedByEngine,
    };
    if (c.names[0] !== undefined) item.name = c.names[0];
    if (c.k8s !== undefined) {
      const { sandboxId: _s, ...k8s } = c.k8s;
      item.k8s = k8s;
    }
    try {
      const located = locate(scan.host, c);
      item.running = true;
      // A sandbox is listed, but is no target of its own (see sandboxRefusal).
      if (c.k8s?.type !== 'sandbox') item.resolved = toResolved(c, located, c.names[0] ?? c.id);
      item.cgroupDir = located.cgroupDir;
      item.cgroupVersion = located.cgroupVersion;
      const mount = located.cgroupVersion === 'v1' ? scan.host.v1Freezer : scan.host.cgroup2;
      if (mount !== undefined) {
        try {
          item.freezer = readFreezerFiles(
            scan.host.path(located.cgroupDir),
            located.cgroupVersion === 'v1' ? 1 : 2,
            scan.host.path(mount.mountPoint),
          ).state;
        } catch {
          // The cgroup vanished between the two reads; the container is exiting.
        }
      }
      Object.assign(item, usageAt(scan.host, located.cgroupDir, located.cgroupVersion, located.hierarchyPath, c.pid));
    } catch (err) {
      if (!(err instanceof CgfreezeError)) throw err;
      item.error = err;
    }
    if (!matcher.after(item)) continue;
    out.push(item);
  }
  return out;
}

/** Engine state this process may not read: `path` could not be opened (`code`), so those engines' containers are missing from a list. */
export interface UnreadableState {
  engines: Engine[];
  path: string;
  code: string;
}

/** The engines' container listings that this process may not read (without root, the rootful engines' state). */
export function unreadableEngineState(opts: ResolveOptions = {}): UnreadableState[] {
  return new Scan(opts).unreadable();
}

function usageAt(host: Host, dir: string, version: 'v1' | 'v2', hierarchyPath: string, pid: number): ResourceUsage {
  const procCgroup = pid > 0 ? host.procCgroup(pid) : undefined;
  return readResourceUsage(
    { dir, version: version === 'v1' ? 1 : 2, hierarchyPath, ...(procCgroup === undefined ? {} : { procCgroup }) },
    host.mounts,
    host.root === '/' ? '' : host.root,
  );
}

/**
 * Memory use and limit and CPU time of a resolved target's cgroup. A container is placed in the other
 * hierarchies by its init process, a cgroup given by path by the first task it holds.
 */
export function usageOf(resolved: Resolved, opts: ResolveOptions): ResourceUsage {
  const host = new Host(opts.hostRoot, opts.mountinfo);
  const mount = resolved.cgroupVersion === 'v1' ? host.v1Freezer : host.cgroup2;
  if (mount === undefined) return {};
  const pid = resolved.kind === 'cgroup' ? host.firstTask(resolved.cgroupDir) : resolved.initPid;
  return usageAt(host, resolved.cgroupDir, resolved.cgroupVersion, dirToHierarchyPath(mount, resolved.cgroupDir), pid);
}
