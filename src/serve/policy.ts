import { readFileSync } from 'node:fs';
import { CgfreezeError } from '../errors.js';

export type Action = 'pause' | 'unpause' | 'status' | 'list';
export const ACTIONS: readonly Action[] = ['pause', 'unpause', 'status', 'list'];

/** Who is asking: the kernel's peer credentials on the unix socket, or a TCP client that showed the token. */
export type Caller =
  { transport: 'unix'; uid: number; gid: number; pid: number } | { transport: 'tcp'; address: string };

/** What a rule matches a target on (a resolved container, or a bare cgroup given by path). */
export interface PolicySubject {
  cgroupDir: string;
  name?: string;
  labels: Record<string, string>;
  engine?: string;
}

/**
 * One grant. Each given field narrows it (AND); a list matches if any entry
 * does (OR). A request is allowed when some rule matches caller, action and target.
 */
export interface PolicyRule {
  /** Peer uids and gids (primary gid from SO_PEERCRED); `tcp: true` for token-holding TCP clients. */
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
  };
}

export interface Policy {
  rules: PolicyRule[];
}

/** Without a policy file only root may use the sidecar. */
export const DEFAULT_POLICY: Policy = { rules: [{ callers: { uids: [0] } }] };

export function describeCaller(caller: Caller): string {
  return caller.transport === 'unix'
    ? `uid=${caller.uid} gid=${caller.gid} pid=${caller.pid}`
    : `tcp ${caller.address}`;
}

/** Compiles `*` / `?` globs; everything else is literal. */
export function globToRegExp(glob: string): RegExp {
  const body = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${body}$`, 's');
}

export function globMatch(glob: string, value: string): boolean {
  return globToRegExp(glob).test(value);
}

function callerMatches(rule: PolicyRule, caller: Caller): boolean {
  const { uids, gids, tcp } = rule.callers;
  if (caller.transport === 'tcp') return tcp === true;
  return (uids?.includes(caller.uid) ?? false) || (gids?.includes(caller.gid) ?? false);
}

function targetMatches(rule: PolicyRule, subject: PolicySubject): boolean {
  const t = rule.targets;
  if (t === undefined) return true;
  if (t.names !== undefined && !(subject.name !== undefined && t.names.some((g) => globMatch(g, subject.name ?? '')))) {
    return false;
  }
  if (t.cgroups !== undefined && !t.cgroups.some((g) => globMatch(g, subject.cgroupDir))) return false;
  if (t.engines !== undefined && !(subject.engine !== undefined && t.engines.includes(subject.engine))) return false;
  if (t.labels !== undefined) {
    for (const [key, want] of Object.entries(t.labels)) {
      const have = subject.labels[key];
      if (have === undefined || (want !== '*' && have !== want)) return false;
    }
  }
  return true;
}

/** May `caller` do `action` at all (on some target)? Used to filter lists and to fail fast. */
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

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function onlyKeys(obj: Record<string, unknown>, keys: string[], where: string): void {
  for (const key of Object.keys(obj)) if (!keys.includes(key)) fail(where, `unknown key ${JSON.stringify(key)}`);
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
    if (raw.targets !== undefined) {
      const t = raw.targets;
      if (!isRecord(t)) fail(`${where}.targets`, 'must be an object');
      onlyKeys(t, ['names', 'labels', 'cgroups', 'engines'], `${where}.targets`);
      const names = stringList(t.names, `${where}.targets.names`);
      const cgroups = stringList(t.cgroups, `${where}.targets.cgroups`);
      const engines = stringList(t.engines, `${where}.targets.engines`);
      let labels: Record<string, string> | undefined;
      if (t.labels !== undefined) {
        if (!isRecord(t.labels) || !Object.values(t.labels).every((v) => typeof v === 'string')) {
          fail(`${where}.targets.labels`, 'must be an object of strings');
        }
        labels = t.labels as Record<string, string>;
      }
      rule.targets = {
        ...(names ? { names } : {}),
        ...(cgroups ? { cgroups } : {}),
        ...(engines ? { engines } : {}),
        ...(labels ? { labels } : {}),
      };
    }
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
