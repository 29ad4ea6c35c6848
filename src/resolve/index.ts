import { CgfreezeError } from '../errors.js';
import { readFreezerFiles } from '../cgroup/freezer-files.js';
import type { Candidate, Source } from './candidate.js';
import { ContainerdSource, defaultContainerdRoots } from './engines/containerd.js';
import { DockerSource, defaultDockerRoots } from './engines/docker.js';
import { StorageSource, defaultStorageRoots } from './engines/storage.js';
import { type Found, type FreezerTarget, ResolveCache } from './cache.js';
import { Host } from './host.js';
import { type LocatedCgroup, locate, locatePod } from './locate.js';
import { type ParsedRef, describeRef, parseReference } from './reference.js';
import {
  ENGINES,
  type Engine,
  type ListedContainer,
  type ListOptions,
  type Resolved,
  type ResolveOptions,
} from './types.js';

export { RESOLVE_OPTION_KEYS } from './types.js';
export type {
  ContainerdRoots,
  DockerRoots,
  Engine,
  K8sIdentity,
  ListedContainer,
  ListOptions,
  Resolved,
  ResolveOptions,
  StorageRoots,
} from './types.js';
export { parseReference, type ParsedRef } from './reference.js';
export type { FreezerTarget } from './cache.js';

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
      this.loaded.set(k, c !== undefined && this.engines.has(c.engine) ? c : undefined);
    }
    return this.loaded.get(k);
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

function toResolved(c: Candidate, located: LocatedCgroup): Resolved {
  const r: Resolved = {
    kind: 'container',
    engine: c.engine,
    id: c.id,
    initPid: c.pid,
    cgroupDir: located.cgroupDir,
    freezeFile: located.freezeFile,
    cgroupVersion: located.cgroupVersion,
    pausedByEngine: c.pausedByEngine,
  };
  if (c.names[0] !== undefined) r.name = c.names[0];
  if (c.k8s !== undefined) {
    const { type: _type, sandboxId: _sandbox, ...k8s } = c.k8s;
    r.k8s = k8s;
  }
  return r;
}

function resolveCandidate(scan: Scan, c: Candidate, ref: string): Found {
  if (c.k8s?.type === 'sandbox') {
    throw new CgfreezeError(
      'ERR_INVALID_ARG',
      `${label(c)} is the sandbox of pod ${c.k8s.namespace}/${c.k8s.pod}; freeze the pod ("${c.k8s.namespace}/${c.k8s.pod}") or one of its containers`,
      { target: ref },
    );
  }
  const located = locate(scan.host, c);
  return {
    resolved: toResolved(c, located),
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
  const anchor = located.find((m) => m.candidate.k8s?.type === 'sandbox') ?? (located[0] as (typeof located)[number]);
  const c = anchor.candidate;
  const resolved: Resolved = {
    kind: 'pod',
    engine: c.engine,
    id: c.k8s?.type === 'sandbox' ? c.id : (c.k8s?.sandboxId ?? podUid ?? c.id),
    initPid: c.pid,
    cgroupDir: pod.cgroupDir,
    freezeFile: pod.freezeFile,
    cgroupVersion: pod.cgroupVersion,
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
  const found =
    parsed.kind === 'plain' ? resolveCandidate(scan, findPlain(scan, parsed, ref), ref) : findK8s(scan, parsed, ref);
  return { found, host: scan.host };
}

/**
 * The freezer's resolution of `ref`. A cached one is checked only as far as
 * the operation needs, one syscall on held files (see
 * {@link CachedResolution.validFor}); the freezer checks the cgroup itself
 * through its handle and calls forget() when that fails.
 */
export function resolveForFreezer(ref: string, opts: ResolveOptions, frozen: boolean): FreezerTarget {
  const scope = opts.cache === false ? undefined : cache.scope(opts);
  if (scope !== undefined) {
    const entry = cache.get(scope, ref);
    if (entry !== undefined) {
      if (entry.validFor(frozen)) return entry;
      entry.forget();
    }
  }
  const { found, host } = resolveFresh(ref, opts);
  const entry = scope === undefined ? undefined : cache.remember(scope, ref, found, host);
  return entry ?? { resolved: found.resolved, identity: found.located.identity, forget: () => undefined };
}

// ---- public API -----------------------------------------------------------

/**
 * Resolves a container reference to its cgroup by reading the engines'
 * on-disk state (never a daemon). Throws CgfreezeError: ERR_INVALID_ARG,
 * ERR_CONTAINER_NOT_FOUND, ERR_AMBIGUOUS_REF, ERR_CONTAINER_NOT_RUNNING,
 * ERR_NO_DEDICATED_CGROUP, ERR_CGROUP_MISMATCH, ERR_STATE_FILE.
 */
export function resolveSync(ref: string, opts: ResolveOptions = {}): Resolved {
  if (opts.cache === false) return { ...resolveFresh(ref, opts).found.resolved };
  const scope = cache.scope(opts);
  const hit = cache.get(scope, ref);
  if (hit !== undefined) {
    if (hit.valid()) return { ...hit.resolved };
    hit.forget();
  }
  const { found, host } = resolveFresh(ref, opts);
  cache.remember(scope, ref, found, host);
  return { ...found.resolved };
}

export async function resolve(ref: string, opts: ResolveOptions = {}): Promise<Resolved> {
  return resolveSync(ref, opts);
}

function labelMatches(labels: Record<string, string>, want: string): boolean {
  const eq = want.indexOf('=');
  if (eq < 0) return Object.prototype.hasOwnProperty.call(labels, want);
  const k = want.slice(0, eq);
  return Object.prototype.hasOwnProperty.call(labels, k) && labels[k] === want.slice(eq + 1);
}

/** Every container found on disk, with its labels, its cgroup when running, and its freezer state. */
export function listSync(opts: ListOptions = {}): ListedContainer[] {
  const { filter, ...resolveOpts } = opts;
  const scan = new Scan(resolveOpts);
  const wanted = filter?.label === undefined ? [] : Array.isArray(filter.label) ? filter.label : [filter.label];
  const out: ListedContainer[] = [];
  for (const c of scan.all()) {
    if (filter?.engine !== undefined && c.engine !== filter.engine) continue;
    if (!wanted.every((w) => labelMatches(c.labels, w))) continue;
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
    } catch (err) {
      if (!(err instanceof CgfreezeError)) throw err;
      item.error = err;
    }
    if (filter?.running !== undefined && item.running !== filter.running) continue;
    out.push(item);
  }
  return out;
}

export async function list(opts: ListOptions = {}): Promise<ListedContainer[]> {
  return listSync(opts);
}

export { describeRef };
