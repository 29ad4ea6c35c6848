// The Kubernetes manifests in deploy/ as test input: a pod spec from them becomes the `docker run`
// that a kubelet and its runtime would amount to on a lab "node". Every field is either translated
// or refused, so a manifest change that the translation does not understand fails the test
// instead of being dropped.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { IConfigMap, IContainer, IPodSpec, IProbe, ISecurityContext } from 'kubernetes-models/v1';
import { REPO } from './helpers.js';

/** One document of a manifest file, as `kubectl apply` would read it. */
export interface ManifestDoc {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: unknown;
}

export function loadManifest(file: string): ManifestDoc[] {
  return parseAllDocuments(readFileSync(join(REPO, file), 'utf8')).map((doc) => {
    if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors.map((e) => e.message).join('; ')}`);
    return doc.toJS() as ManifestDoc;
  });
}

export function defined<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`the manifest has no ${what}`);
  return value;
}

export function findDoc<T>(docs: ManifestDoc[], kind: string, name: string): ManifestDoc & T {
  const doc = docs.find((d) => d.kind === kind && d.metadata.name === name);
  if (doc === undefined) throw new Error(`no ${kind} ${name} in the manifest`);
  return doc as ManifestDoc & T;
}

/** The node the pod lands on: where its host paths are and what the runtime gives it. */
export interface LabNode {
  /** Each hostPath of the manifest, as this node has it; a hostPath not listed here fails. */
  hostPaths: Record<string, string>;
  /** The cgroup namespace the runtime gives the pod (containerd/CRI-O: private on cgroup v2 unless privileged). */
  cgroupns: 'host' | 'private';
}

/** What a lab needs beyond a real node (the reason goes at the call site): read-only mounts, arguments. */
export interface LabExtra {
  mounts?: Array<{ source: string; target: string }>;
  args?: string[];
}

export interface PodRun {
  /** Arguments after `docker run`. */
  args: string[];
  readiness?: string[];
  liveness?: string[];
}

const POD_FIELDS_FOR_THE_SCHEDULER = [
  'tolerations',
  'priorityClassName',
  'terminationGracePeriodSeconds',
  'restartPolicy',
  // No service account token and no service environment variables: nothing to add to the run.
  'automountServiceAccountToken',
  'enableServiceLinks',
];

function refuseUnknown(what: string, value: object, known: string[]): void {
  const unknown = Object.keys(value).filter((k) => !known.includes(k));
  if (unknown.length > 0) throw new Error(`${what}: the lab translation does not know ${unknown.join(', ')}`);
}

const UNITS: Record<string, number> = { '': 1, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3 };

function bytes(quantity: string): number {
  const m = /^(\d+)(Ki|Mi|Gi)?$/.exec(quantity);
  const unit = UNITS[m?.[2] ?? ''];
  if (m === null || unit === undefined) throw new Error(`memory quantity ${quantity}: not translated`);
  return Number(m[1]) * unit;
}

/** A memory limit in bytes (resources.limits.memory). */
export function memoryLimit(container: IContainer): number {
  const limit = container.resources?.limits?.['memory'];
  if (typeof limit !== 'string') throw new Error(`container ${container.name} has no memory limit`);
  return bytes(limit);
}

function probeCommand(probe: IProbe | undefined, what: string): string[] | undefined {
  if (probe === undefined) return undefined;
  if (probe.exec?.command === undefined) throw new Error(`${what}: only exec probes are translated`);
  return probe.exec.command;
}

function securityArgs(pod: IPodSpec, c: IContainer): string[] {
  const ps = pod.securityContext ?? {};
  const cs: ISecurityContext = c.securityContext ?? {};
  refuseUnknown('pod securityContext', ps, [
    'supplementalGroups',
    'seccompProfile',
    'runAsUser',
    'runAsGroup',
    'runAsNonRoot',
  ]);
  refuseUnknown(`container ${c.name} securityContext`, cs, [
    'runAsUser',
    'runAsGroup',
    'runAsNonRoot',
    'privileged',
    'allowPrivilegeEscalation',
    'readOnlyRootFilesystem',
    'capabilities',
    'seccompProfile',
  ]);
  const args: string[] = [];
  const uid = cs.runAsUser ?? ps.runAsUser;
  const gid = cs.runAsGroup ?? ps.runAsGroup;
  if ((cs.runAsNonRoot ?? ps.runAsNonRoot) === true && (uid ?? 0) === 0)
    throw new Error(`container ${c.name}: runAsNonRoot with uid 0, the kubelet would not start it`);
  if (uid !== undefined || gid !== undefined) args.push('--user', `${uid ?? 0}:${gid ?? 0}`);
  for (const g of ps.supplementalGroups ?? []) args.push('--group-add', String(g));
  if (cs.privileged === true) args.push('--privileged');
  // What the kubelet does for allowPrivilegeEscalation: false.
  if (cs.allowPrivilegeEscalation === false) args.push('--security-opt', 'no-new-privileges');
  if (cs.readOnlyRootFilesystem === true) args.push('--read-only');
  for (const cap of cs.capabilities?.drop ?? []) args.push('--cap-drop', cap);
  for (const cap of cs.capabilities?.add ?? []) args.push('--cap-add', cap);
  const seccomp = (cs.seccompProfile ?? ps.seccompProfile)?.type;
  // RuntimeDefault is docker's default profile.
  if (seccomp === 'Unconfined') args.push('--security-opt', 'seccomp=unconfined');
  else if (seccomp !== undefined && seccomp !== 'RuntimeDefault') throw new Error(`seccomp ${seccomp}: not translated`);
  return args;
}

function volumeArgs(pod: IPodSpec, c: IContainer, node: LabNode, configMaps: IConfigMap[], scratch: string): string[] {
  const args: string[] = [];
  for (const mount of c.volumeMounts ?? []) {
    refuseUnknown(`volumeMount ${mount.name}`, mount, ['name', 'mountPath', 'readOnly']);
    const volume = pod.volumes?.find((v) => v.name === mount.name);
    if (volume === undefined) throw new Error(`volumeMount ${mount.name} has no volume`);
    refuseUnknown(`volume ${volume.name}`, volume, ['name', 'hostPath', 'configMap']);
    const ro = mount.readOnly === true ? ':ro' : '';
    if (volume.hostPath !== undefined) {
      const { path, type } = volume.hostPath;
      const source = node.hostPaths[path];
      if (source === undefined) throw new Error(`hostPath ${path}: this lab node has no mapping`);
      if (type === 'DirectoryOrCreate') mkdirSync(source, { recursive: true });
      else if (type !== 'Directory') throw new Error(`hostPath type ${String(type)}: not translated`);
      else if (!existsSync(source))
        throw new Error(`hostPath ${path} (${source}) is missing; the kubelet would not start the pod`);
      args.push('-v', `${source}:${mount.mountPath}${ro}`);
    } else if (volume.configMap !== undefined) {
      refuseUnknown(`configMap volume ${volume.name}`, volume.configMap, ['name']);
      const data = configMaps.find((cm) => cm.metadata?.name === volume.configMap?.name)?.data;
      if (data === undefined) throw new Error(`ConfigMap ${String(volume.configMap.name)} is not in the manifest`);
      const dir = join(scratch, `configmap-${volume.name}`);
      mkdirSync(dir, { recursive: true });
      for (const [key, value] of Object.entries(data)) writeFileSync(join(dir, key), value);
      args.push('-v', `${dir}:${mount.mountPath}:ro`);
    } else {
      throw new Error(`volume ${volume.name}: only hostPath and configMap volumes are translated`);
    }
  }
  return args;
}

/** Where `path` inside container `c` is on the lab node: through the hostPath volume mounted over it. */
export function nodePath(pod: IPodSpec, c: IContainer, node: LabNode, path: string): string {
  const mount = (c.volumeMounts ?? [])
    .filter((m) => path === m.mountPath || path.startsWith(`${m.mountPath}/`))
    .sort((a, b) => b.mountPath.length - a.mountPath.length)[0];
  const hostPath = pod.volumes?.find((v) => v.name === mount?.name)?.hostPath?.path;
  const source = hostPath === undefined ? undefined : node.hostPaths[hostPath];
  if (mount === undefined || source === undefined) throw new Error(`${path} is on no hostPath volume of ${c.name}`);
  return source + path.slice(mount.mountPath.length);
}

/**
 * The `docker run` arguments (after `run`) for container `containerName` of a pod spec, with the
 * image the manifest names (the lab builds it under that tag).
 */
export function podRun(
  pod: IPodSpec,
  containerName: string,
  opts: { name: string; node: LabNode; configMaps: IConfigMap[]; scratch: string; extra?: LabExtra },
): PodRun {
  refuseUnknown('pod spec', pod, [
    ...POD_FIELDS_FOR_THE_SCHEDULER,
    'hostPID',
    'securityContext',
    'containers',
    'volumes',
  ]);
  if (pod.containers.length !== 1) throw new Error('only pods of one container are translated');
  const c = pod.containers.find((x) => x.name === containerName);
  if (c === undefined) throw new Error(`no container ${containerName}`);
  refuseUnknown(`container ${c.name}`, c, [
    'name',
    'image',
    'command',
    'args',
    'env',
    // Pods here have no network but loopback (lab containers use --network none); a port is
    // reached from inside the pod's network namespace.
    'ports',
    'securityContext',
    'resources',
    'readinessProbe',
    'livenessProbe',
    'volumeMounts',
  ]);
  if (c.image === undefined) throw new Error(`container ${c.name} has no image`);
  const args = ['--name', opts.name, '--network', 'none', '--cgroupns', opts.node.cgroupns];
  if (pod.hostPID === true) args.push('--pid', 'host');
  args.push(...securityArgs(pod, c));
  refuseUnknown(`container ${c.name} resources`, c.resources ?? {}, ['requests', 'limits']);
  refuseUnknown(`container ${c.name} limits`, c.resources?.limits ?? {}, ['memory']);
  if (c.resources?.limits !== undefined) args.push('--memory', String(memoryLimit(c)));
  for (const e of c.env ?? []) {
    if (e.value === undefined) throw new Error(`env ${e.name}: only plain values are translated`);
    args.push('-e', `${e.name}=${e.value}`);
  }
  args.push(...volumeArgs(pod, c, opts.node, opts.configMaps, opts.scratch));
  for (const m of opts.extra?.mounts ?? []) args.push('-v', `${m.source}:${m.target}:ro`);
  const [entrypoint, ...commandRest] = c.command ?? [];
  if (entrypoint !== undefined) args.push('--entrypoint', entrypoint);
  args.push(c.image, ...commandRest, ...(c.args ?? []), ...(opts.extra?.args ?? []));
  const run: PodRun = { args };
  const readiness = probeCommand(c.readinessProbe, 'readinessProbe');
  const liveness = probeCommand(c.livenessProbe, 'livenessProbe');
  if (readiness !== undefined) run.readiness = readiness;
  if (liveness !== undefined) run.liveness = liveness;
  return run;
}
