import { readFileSync } from 'node:fs';
import type { AuditWho } from '../audit.js';
import { CgfreezeError } from '../errors.js';
import { labelsMatch } from '../index.js';
import { isRecord } from '../json.js';

/**
 * What a rule grants. `unpause-any` lets a caller change a lease another caller holds (renew, shorten or
 * lift it) on top of `pause` or `unpause`; without it only the lease's owner may.
 */
export type Action = 'pause' | 'unpause' | 'status' | 'list' | 'unpause-any';
export const ACTIONS: readonly Action[] = ['pause', 'unpause', 'status', 'list', 'unpause-any'];

/**
 * Who is asking: the kernel's peer credentials on the unix socket (with the supplementary groups), or a
 * TCP client that showed the token. The audit log records it as it is.
 */
export type Caller = Extract<AuditWho, { via: 'unix' | 'tcp' }>;

/** What a rule matches a target on: a resolve() result, or a container from list(). */
export interface PolicySubject {
  cgroupDir: string;
  name?: string;
  labels: Record<string, string>;
  engine?: string;
  /** A Kubernetes pod or pod member: from the CRI annotations the resolver reads. */
  k8s?: { namespace: string; pod: string; container?: string };
}

/**
 * One grant. Each given field narrows it (AND); a list matches if any entry
 * does (OR). A request is allowed when some rule matches caller, action and target.
 */
export interface PolicyRule {
  /**
   * Peer uids and gids (the primary gid or any supplementary group, from SO_PEERCRED and
   * SO_PEERGROUPS); `tcp: true` for token-holding TCP clients.
   */
  callers: { uids?: number[]; gids?: number[]; tcp?: boolean };
  /** Default: every action. */
  actions?: Action[];
  /** Default: every target. */
  targets?: {
    /** Globs (`*`, `?`) on the container name. */
    names?: string[];
    /** Every listed label must be present; a value of `*` accepts any value. */
    labels?: Record<string, string>;
    /** Globs on the cgroup directory, e.g. `/sys/fs/cgroup/freezer/docker/*`. */
    cgroups?: string[];
    engines?: string[];
    /**
     * Kubernetes identity: the pod's namespace (a name), the pod's name and the container's name
     * (globs). Only pods and their containers match; a whole pod has no container name.
     */
    k8s?: { namespaces?: string[]; pods?: string[]; containers?: string[] };
  };
}

export interface Policy {
  rules: PolicyRule[];
}

/** Without a policy file only root may use the sidecar. */
export const DEFAULT_POLICY: Policy = { rules: [{ callers: { uids: [0] } }] };

export function describeCaller(caller: Caller): string {
  return caller.via === 'unix' ? `uid=${caller.uid} gid=${caller.gid} pid=${caller.pid}` : `tcp ${caller.address}`;
}

/**
 * Matches `*` (any run, also empty) and `?` (one character); everything else is literal. It backtracks
 * only to the last `*`, so a hostile pattern costs at most length × length steps, never exponential.
 */
export function globMatch(glob: string, value: string): boolean {
  let g = 0;
  let v = 0;
  let star = -1;
  let resume = 0;
  while (v < value.length) {
    const c = glob[g];
    if (c === '*') {
      star = g++;
      resume = v;
    } else if (c !== undefined && (c === '?' || c === value[v])) {
      g++;
      v++;
    } else if (star >= 0) {
      g = star + 1;
      v = ++resume;
    } else return false;
  }
  while (glob[g] === '*') g++;
  return g === glob.length;
}

function callerMatches(rule: PolicyRule, caller: Caller): boolean {
  const { uids, gids, tcp } = rule.callers;
  if (caller.via === 'tcp') return tcp === true;
  if (uids?.includes(caller.uid) === true) return true;
  return gids !== undefined && (gids.includes(caller.gid) || caller.groups.some((g) => gids.includes(g)));
}

/** A rule's labels as labelsMatch selectors: `{k: '*'}` is `k` (any value), `{k: v}` is `k=v`. */
function labelSelectors(labels: Record<string, string>): string[] {
  return Object.entries(labels).map(([key, value]) => (value === '*' ? key : `${key}=${value}`));
}

function targetMatches(rule: PolicyRule, subject: PolicySubject): boolean {
  const t = rule.targets;
  if (t === undefined) return true;
  const { name, engine } = subject;
  if (t.names !== undefined && (name === undefined || !t.names.some((g) => globMatch(g, name)))) return false;
  if (t.cgroups !== undefined && !t.cgroups.some((g) => globMatch(g, subject.cgroupDir))) return false;
  if (t.engines !== undefined && (engine === undefined || !t.engines.includes(engine))) return false;
  if (t.k8s !== undefined && !k8sMatches(t.k8s, subject.k8s)) return false;
  return t.labels === undefined || labelsMatch(subject.labels, labelSelectors(t.labels));
}

function k8sMatches(rule: NonNullable<NonNullable<PolicyRule['targets']>['k8s']>, k8s: PolicySubject['k8s']): boolean {
  if (k8s === undefined) return false;
  const { namespaces, pods, containers } = rule;
  if (namespaces !== undefined && !namespaces.includes(k8s.namespace)) return false;
  if (pods !== undefined && !pods.some((g) => globMatch(g, k8s.pod))) return false;
  const { container } = k8s;
  return containers === undefined || (container !== undefined && containers.some((g) => globMatch(g, container)));
}

/** May `caller` do `action` at all (on some target)? Checked before any target is resolved. */
export function mayAct(policy: Policy, caller: Caller, action: Action): boolean {
  return policy.rules.some((r) => callerMatches(r, caller) && (r.actions?.includes(action) ?? true));
}

export function allows(policy: Policy, caller: Caller, action: Action, subject: PolicySubject): boolean {
  return policy.rules.some(
    (r) => callerMatches(r, caller) && (r.actions?.includes(action) ?? true) && targetMatches(r, subject),
  );
}

function fail(where: string, what: string): never {
  throw new CgfreezeError('ERR_INVALID_ARG', `policy ${where}: ${what}`);
}

function stringList(value: unknown, where: string): string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || !value.every((v): v is string => typeof v === 'string'))
    fail(where, 'must be an array of strings');
  return value;
}

function idList(value: unknown, where: string): number[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || !value.every((v): v is number => Number.isInteger(v) && (v as number) >= 0)) {
    fail(where, 'must be an array of non-negative integers');
  }
  return value;
}

function onlyKeys(obj: Record<string, unknown>, keys: string[], where: string): void {
  for (const key of Object.keys(obj)) if (!keys.includes(key)) fail(where, `unknown key ${JSON.stringify(key)}`);
}

function parseTargets(t: unknown, where: string): NonNullable<PolicyRule['targets']> {
  if (!isRecord(t)) fail(where, 'must be an object');
  onlyKeys(t, ['names', 'labels', 'cgroups', 'engines', 'k8s'], where);
  const names = stringList(t.names, `${where}.names`);
  const cgroups = stringList(t.cgroups, `${where}.cgroups`);
  const engines = stringList(t.engines, `${where}.engines`);
  let k8s: NonNullable<PolicyRule['targets']>['k8s'];
  if (t.k8s !== undefined) {
    if (!isRecord(t.k8s)) fail(`${where}.k8s`, 'must be an object');
    onlyKeys(t.k8s, ['namespaces', 'pods', 'containers'], `${where}.k8s`);
    const [namespaces, pods, containers] = (['namespaces', 'pods', 'containers'] as const).map((key) =>
      stringList((t.k8s as Record<string, unknown>)[key], `${where}.k8s.${key}`),
    );
    k8s = {
      ...(namespaces ? { namespaces } : {}),
      ...(pods ? { pods } : {}),
      ...(containers ? { containers } : {}),
    };
  }
  let labels: Record<string, string> | undefined;
  if (t.labels !== undefined) {
    if (!isRecord(t.labels) || !Object.values(t.labels).every((v) => typeof v === 'string')) {
      fail(`${where}.labels`, 'must be an object of strings');
    }
    labels = t.labels as Record<string, string>;
  }
  return {
    ...(names ? { names } : {}),
    ...(cgroups ? { cgroups } : {}),
    ...(engines ? { engines } : {}),
    ...(labels ? { labels } : {}),
    ...(k8s ? { k8s } : {}),
  };
}

/** Validates a parsed policy document strictly: a typo must not widen or silently narrow access. */
export function parsePolicy(doc: unknown): Policy {
  if (!isRecord(doc) || !Array.isArray(doc.rules)) fail('document', 'must be an object with a "rules" array');
  onlyKeys(doc, ['rules'], 'document');
  const rules = (doc.rules as unknown[]).map((raw, i): PolicyRule => {
    const where = `rules[${i}]`;
    if (!isRecord(raw)) fail(where, 'must be an object');
    onlyKeys(raw, ['callers', 'actions', 'targets'], where);
    if (!isRecord(raw.callers)) fail(`${where}.callers`, 'is required (an object with uids, gids or tcp)');
    onlyKeys(raw.callers, ['uids', 'gids', 'tcp'], `${where}.callers`);
    const uids = idList(raw.callers.uids, `${where}.callers.uids`);
    const gids = idList(raw.callers.gids, `${where}.callers.gids`);
    const tcp = raw.callers.tcp;
    if (tcp !== undefined && typeof tcp !== 'boolean') fail(`${where}.callers.tcp`, 'must be a boolean');
    const rule: PolicyRule = {
      callers: { ...(uids ? { uids } : {}), ...(gids ? { gids } : {}), ...(tcp !== undefined ? { tcp } : {}) },
    };
    const actions = stringList(raw.actions, `${where}.actions`);
    if (actions !== undefined) {
      for (const a of actions)
        if (!(ACTIONS as readonly string[]).includes(a))
          fail(`${where}.actions`, `unknown action ${JSON.stringify(a)}`);
      rule.actions = actions as Action[];
    }
    if (raw.targets !== undefined) rule.targets = parseTargets(raw.targets, `${where}.targets`);
    return rule;
  });
  return { rules };
}

export function loadPolicy(file: string): Policy {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new CgfreezeError('ERR_INVALID_ARG', `cannot read policy ${file}: ${(err as Error).message}`, {
      path: file,
      cause: err,
    });
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new CgfreezeError('ERR_INVALID_ARG', `policy ${file} is not valid JSON: ${(err as Error).message}`, {
      path: file,
      cause: err,
    });
  }
  return parsePolicy(doc);
}
