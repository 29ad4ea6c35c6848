import { CgfreezeError } from '../../errors.js';
import {
  type Candidate,
  type Entry,
  healthOf,
  type Source,
  type SourceTrust,
  k8sFromAnnotations,
} from '../candidate.js';
import { isRecord, str, stringMap } from '../../json.js';
import type { Host } from '../host.js';
import type { Discovered, HealthStatus, StorageRoots } from '../types.js';

/** CRI-O's annotations. */
const CRIO_KEYS = {
  type: 'io.kubernetes.cri-o.ContainerType',
  namespace: 'io.kubernetes.pod.namespace',
  pod: 'io.kubernetes.pod.name',
  container: 'io.kubernetes.container.name',
  podUid: 'io.kubernetes.pod.uid',
  sandboxId: 'io.kubernetes.cri-o.SandboxID',
};

const STORAGE_ID = /^[0-9a-f]{64}$/;
const DEFAULT_RUNTIME_ROOTS = ['/run/runc', '/run/crun'];

/** `graphroot` and `runroot` of a storage.conf, undefined where it sets none. */
function storageConf(host: Host, path: string): { graphRoot?: string; runRoot?: string } {
  let conf: string | undefined;
  try {
    conf = host.readState(path);
  } catch {
    conf = undefined;
  }
  if (conf === undefined) return {};
  const graphRoot = /^\s*graphroot\s*=\s*"([^"]+)"/m.exec(conf)?.[1];
  const runRoot = /^\s*runroot\s*=\s*"([^"]+)"/m.exec(conf)?.[1];
  return { ...(graphRoot === undefined ? {} : { graphRoot }), ...(runRoot === undefined ? {} : { runRoot }) };
}

/**
 * containers/storage instances: the rootful one (/etc/containers/storage.conf
 * or the defaults), and rootless Podman's for each user with
 * /run/user/<uid>/containers (~/.config/containers/storage.conf or
 * ~/.local/share/containers/storage, with crun/runc state in /run/user/<uid>).
 */
export function defaultStorageRoots(host: Host): Array<Discovered<StorageRoots>> {
  const rootful = storageConf(host, '/etc/containers/storage.conf');
  const roots: Array<Discovered<StorageRoots>> = [
    {
      graphRoot: rootful.graphRoot ?? '/var/lib/containers/storage',
      runRoot: rootful.runRoot ?? '/run/containers/storage',
    },
  ];
  for (const { uid, home } of host.rootlessUsers('containers')) {
    const conf = storageConf(host, `${home}/.config/containers/storage.conf`);
    roots.push({
      graphRoot: conf.graphRoot ?? `${home}/.local/share/containers/storage`,
      runRoot: conf.runRoot ?? `/run/user/${uid}/containers`,
      runtimeRoots: [`/run/user/${uid}/crun`, `/run/user/${uid}/runc`],
      rootlessUid: Number(uid),
    });
  }
  return roots;
}

/**
 * Podman and CRI-O containers of one containers/storage instance, told apart
 * by the `io.container.manager` annotation (`libpod` / `cri-o`). Entries
 * without a `userdata/config.json` (buildah working containers) are skipped.
 */
export class StorageSource implements Source {
  readonly label: string;
  readonly engines = ['podman', 'cri-o'] as const;
  readonly trust: SourceTrust;
  private readonly graphRoot: string;
  private readonly runRoot: string;
  private readonly runtimeRoots: string[];
  private cachedEntries: Entry[] | undefined;
  private names = new Map<string, string[]>();

  constructor(
    private readonly host: Host,
    roots: Discovered<StorageRoots>,
  ) {
    this.graphRoot = host.resolveDir(roots.graphRoot);
    this.runRoot = host.resolveDir(roots.runRoot);
    this.runtimeRoots = (roots.runtimeRoots ?? DEFAULT_RUNTIME_ROOTS).map((r) => host.resolveDir(r));
    const dirs = [this.graphRoot, this.runRoot, ...this.runtimeRoots];
    for (const dir of dirs) host.addStateRoot(dir);
    this.trust = host.trustOf(dirs, roots.rootlessUid);
    this.label = `storage:${roots.graphRoot}`;
  }

  entries(): Entry[] {
    if (this.cachedEntries !== undefined) return this.cachedEntries;
    const dir = `${this.graphRoot}/overlay-containers`;
    let index: unknown;
    try {
      index = this.host.readJson(`${dir}/containers.json`);
    } catch {
      // A broken index still leaves the per-container directories to find IDs by.
      index = undefined;
    }
    const ids: string[] = [];
    if (Array.isArray(index)) {
      for (const item of index) {
        if (!isRecord(item)) continue;
        const id = str(item['id']);
        if (id === undefined || !STORAGE_ID.test(id)) continue;
        ids.push(id);
        const names = Array.isArray(item['names'])
          ? item['names'].filter((n): n is string => typeof n === 'string')
          : [];
        this.names.set(id, names);
      }
    } else {
      ids.push(...this.host.subdirs(dir).filter((id) => STORAGE_ID.test(id)));
    }
    this.cachedEntries = ids.filter((id) => this.host.isDir(`${dir}/${id}/userdata`)).map((id) => ({ id, key: id }));
    return this.cachedEntries;
  }

  listingDirs(): string[] {
    return [`${this.graphRoot}/overlay-containers`];
  }

  byName(name: string): string[] {
    const keys: string[] = [];
    for (const { key } of this.entries()) {
      if (this.names.get(key)?.includes(name)) {
        keys.push(key);
        continue;
      }
      // CRI-O's k8s_<container>_<pod>_<ns>_<uid>_<attempt> name lives in the spec annotations.
      if (name.startsWith('k8s_')) {
        const loaded = this.load(key);
        if (loaded?.names.includes(name)) keys.push(key);
      }
    }
    return keys;
  }

  load(id: string): Candidate | undefined {
    const specPath = `${this.graphRoot}/overlay-containers/${id}/userdata/config.json`;
    const base: Candidate = {
      engine: 'podman',
      instance: this.label,
      id,
      names: [...(this.names.get(id) ?? [])],
      labels: {},
      running: false,
      pausedByEngine: false,
      pid: 0,
      runtimeDirs: this.runtimeRoots.map((r) => `${r}/${id}`),
    };
    let spec: unknown;
    try {
      spec = this.host.readJson(specPath);
    } catch (err) {
      if (!(err instanceof CgfreezeError)) throw err;
      return { ...base, running: true, error: err };
    }
    if (!isRecord(spec)) return undefined;
    const annotations = stringMap(spec['annotations']);
    const manager = annotations['io.container.manager'];
    if (manager !== 'libpod' && manager !== 'cri-o') return undefined;
    let pid: number;
    try {
      pid = this.host.readPid(`${this.runRoot}/overlay-containers/${id}/userdata/pidfile`);
    } catch (err) {
      if (!(err instanceof CgfreezeError)) throw err;
      return { ...base, engine: manager === 'libpod' ? 'podman' : 'cri-o', running: true, error: err };
    }
    if (manager === 'libpod') return { ...base, labels: annotations, running: pid > 0, pid, ...this.health(id) };
    return { ...this.crio(base, annotations), running: pid > 0, pid };
  }

  /**
   * Podman's health of a container with a health check: it writes `healthcheck.log` (`{"Status": …}`)
   * next to the container's run directory when it starts and after every probe; no file, no check.
   */
  private health(id: string): { health?: HealthStatus } {
    let log: unknown;
    try {
      log = this.host.readJson(`${this.runRoot}/overlay-containers/${id}/healthcheck.log`, 1024 * 1024);
    } catch {
      // Being rewritten, or broken: health is not known, which --wait-healthy reads as "not yet".
      return { health: 'starting' };
    }
    return healthOf(log);
  }

  private crio(base: Candidate, annotations: Record<string, string>): Candidate {
    const candidate: Candidate = { ...base, engine: 'cri-o', labels: { ...annotations } };
    const rawLabels = annotations['io.kubernetes.cri-o.Labels'];
    if (rawLabels !== undefined) {
      try {
        Object.assign(candidate.labels, stringMap(JSON.parse(rawLabels) as unknown));
      } catch {
        // Labels are informative only; a broken copy does not make the container unusable.
      }
    }
    const crioName = annotations['io.kubernetes.cri-o.Name'];
    if (crioName !== undefined && !candidate.names.includes(crioName)) candidate.names.push(crioName);
    const k8s = k8sFromAnnotations(annotations, CRIO_KEYS);
    if (k8s !== undefined) candidate.k8s = k8s;
    return candidate;
  }
}
