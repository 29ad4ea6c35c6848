import { CgfreezeError } from '../../errors.js';
import { type Candidate, type Entry, type Source, type SourceTrust, k8sFromAnnotations } from '../candidate.js';

/** containerd's CRI plugin annotations. */
const CRI_KEYS = {
  type: 'io.kubernetes.cri.container-type',
  namespace: 'io.kubernetes.cri.sandbox-namespace',
  pod: 'io.kubernetes.cri.sandbox-name',
  container: 'io.kubernetes.cri.container-name',
  podUid: 'io.kubernetes.cri.sandbox-uid',
  sandboxId: 'io.kubernetes.cri.sandbox-id',
};
import { isRecord, str, stringMap } from '../../json.js';
import type { Host } from '../host.js';
import type { ContainerdRoots } from '../types.js';

const TASKS = 'io.containerd.runtime.v2.task';
const NAME_OK = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/** containerd instances that exist on the host: the default, k3s/RKE2, microk8s, and dockerd-managed ones. */
export function defaultContainerdRoots(host: Host, dockerExecRoots: string[]): ContainerdRoots[] {
  const known: ContainerdRoots[] = [
    { state: '/run/containerd', criRoot: '/var/lib/containerd/io.containerd.grpc.v1.cri' },
    { state: '/run/k3s/containerd', criRoot: '/var/lib/rancher/k3s/agent/containerd/io.containerd.grpc.v1.cri' },
    {
      state: '/var/snap/microk8s/common/run/containerd',
      criRoot: '/var/snap/microk8s/common/var/lib/containerd/io.containerd.grpc.v1.cri',
    },
    ...dockerExecRoots.map((execRoot) => ({ state: `${execRoot}/containerd/daemon` })),
  ];
  return known.filter((r) => host.isDir(host.resolveDir(`${r.state}/${TASKS}`)));
}

/**
 * Tasks of one containerd (every namespace): `<state>/io.containerd.runtime.v2.task/<ns>/<id>/`.
 * Docker's own namespace (`moby`) shows the same IDs as Docker; the matcher merges them.
 */
export class ContainerdSource implements Source {
  readonly label: string;
  readonly engines = ['containerd'] as const;
  readonly trust: SourceTrust;
  private readonly tasksDir: string;
  private readonly criContainers: string | undefined;
  private readonly runtimeRoots: string[];
  private cachedEntries: Entry[] | undefined;

  constructor(
    private readonly host: Host,
    roots: ContainerdRoots,
  ) {
    const state = host.resolveDir(roots.state);
    const criRoot = roots.criRoot === undefined ? undefined : host.resolveDir(roots.criRoot);
    this.tasksDir = `${state}/${TASKS}`;
    this.criContainers = criRoot === undefined ? undefined : `${criRoot}/containers`;
    this.runtimeRoots = (roots.runtimeRoots ?? ['/run/containerd/runc']).map((r) => host.resolveDir(r));
    const dirs = [state, ...(criRoot === undefined ? [] : [criRoot]), ...this.runtimeRoots];
    for (const dir of dirs) host.addStateRoot(dir);
    this.trust = host.trustOf(dirs);
    this.label = `containerd:${roots.state}`;
  }

  entries(): Entry[] {
    if (this.cachedEntries !== undefined) return this.cachedEntries;
    const entries: Entry[] = [];
    const seen = new Set<string>();
    for (const ns of this.host.subdirs(this.tasksDir)) {
      if (!NAME_OK.test(ns)) continue;
      for (const id of this.host.subdirs(`${this.tasksDir}/${ns}`)) {
        if (!NAME_OK.test(id)) continue;
        entries.push({ id, key: `${ns}/${id}` });
        seen.add(`${ns}/${id}`);
      }
    }
    // Exited Kubernetes attempts keep only the CRI plugin's status file.
    if (this.criContainers !== undefined) {
      for (const id of this.host.subdirs(this.criContainers)) {
        if (NAME_OK.test(id) && !seen.has(`k8s.io/${id}`)) entries.push({ id, key: `k8s.io/${id}` });
      }
    }
    this.cachedEntries = entries;
    return entries;
  }

  listingDirs(): string[] {
    return [this.tasksDir, ...(this.criContainers === undefined ? [] : [this.criContainers])];
  }

  /** containerd has no names besides IDs; Kubernetes names are matched separately. */
  byName(): string[] {
    return [];
  }

  load(key: string): Candidate | undefined {
    const slash = key.indexOf('/');
    const ns = key.slice(0, slash);
    const id = key.slice(slash + 1);
    const bundle = `${this.tasksDir}/${ns}/${id}`;
    const base: Candidate = {
      engine: 'containerd',
      instance: `${this.label} namespace ${ns}`,
      id,
      namespace: ns,
      names: [],
      labels: {},
      running: false,
      pausedByEngine: false,
      pid: 0,
      runtimeDirs: this.runtimeRoots.map((r) => `${r}/${ns}/${id}`),
    };
    if (!this.host.isDir(bundle)) {
      return this.criContainers !== undefined && this.host.isDir(`${this.criContainers}/${id}`) ? base : undefined;
    }
    try {
      const spec = this.host.readJson(`${bundle}/config.json`);
      const annotations = isRecord(spec) ? stringMap(spec['annotations']) : {};
      const options = this.host.readJson(`${bundle}/options.json`);
      const runcRoot = isRecord(options) ? str(options['root']) : undefined;
      // Named by containerd's own state: a root of runtime state like the configured ones.
      if (runcRoot !== undefined && runcRoot.startsWith('/')) this.host.addStateRoot(this.host.resolveDir(runcRoot));
      const pid = this.host.readPid(`${bundle}/init.pid`);
      const candidate: Candidate = {
        ...base,
        labels: annotations,
        running: pid > 0,
        pid,
        // The bundle's own runtime root first; the configured ones after it, for a reader that sees
        // only those (a sidecar mounts the default root, whatever path the shim was given).
        runtimeDirs:
          runcRoot !== undefined && runcRoot.startsWith('/')
            ? [...new Set([`${this.host.resolveDir(runcRoot)}/${ns}/${id}`, ...base.runtimeDirs])]
            : base.runtimeDirs,
      };
      const k8s = k8sFromAnnotations(annotations, CRI_KEYS);
      if (k8s !== undefined) candidate.k8s = k8s;
      return candidate;
    } catch (err) {
      if (!(err instanceof CgfreezeError)) throw err;
      return { ...base, running: true, error: err };
    }
  }
}
