import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { CgfreezeError } from '../errors.js';

export type FreezerState = 'thawed' | 'freezing' | 'frozen';

/** The freezer's view of one cgroup, read with plain file reads (no addon). */
export interface FreezerFiles {
  version: 'v1' | 'v2';
  /** Effective state: frozen by itself or by an ancestor. */
  state: FreezerState;
  /** This cgroup itself asked to be frozen (v1 self_freezing, v2 cgroup.freeze). */
  self: boolean;
  /** An ancestor keeps it frozen (v1 parent_freezing, v2 an ancestor's cgroup.freeze). */
  byAncestor: boolean;
  /** The file a freeze writes: freezer.state (v1) or cgroup.freeze (v2). */
  freezeFile: string;
}

/** Parses freezer.state text (v1). */
export function parseV1State(text: string): FreezerState | undefined {
  switch (text.trim()) {
    case 'THAWED':
      return 'thawed';
    case 'FREEZING':
      return 'freezing';
    case 'FROZEN':
      return 'frozen';
    default:
      return undefined;
  }
}

/** Parses a `key value` file such as cgroup.events into a map. */
export function parseKeyValue(text: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const line of text.split('\n')) {
    const space = line.indexOf(' ');
    if (space > 0) map.set(line.slice(0, space), line.slice(space + 1).trim());
  }
  return map;
}

/** Combines v2 intent (cgroup.freeze) and effect (cgroup.events `frozen`). */
export function v2State(self: boolean, frozen: boolean): FreezerState {
  if (frozen) return 'frozen';
  return self ? 'freezing' : 'thawed';
}

function readFlag(path: string): boolean {
  return readFileSync(path, 'utf8').trim() === '1';
}

/** The nearest ancestor of `dir` (below `stopAt`, the mount point) whose `flagFile` reads 1. */
function nearestAncestorWith(dir: string, stopAt: string, flagFile: string): string | undefined {
  for (
    let parent = dirname(dir);
    parent.length > stopAt.length && parent.startsWith(stopAt);
    parent = dirname(parent)
  ) {
    try {
      if (readFlag(`${parent}/${flagFile}`)) return parent;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** The nearest v2 ancestor whose cgroup.freeze is 1 (v2 has no parent_freezing file). */
export function frozenV2Ancestor(dir: string, stopAt: string): string | undefined {
  return nearestAncestorWith(dir, stopAt, 'cgroup.freeze');
}

/** The nearest v1 ancestor with self_freezing 1. */
export function frozenV1Ancestor(dir: string, stopAt: string): string | undefined {
  return nearestAncestorWith(dir, stopAt, 'freezer.self_freezing');
}

/**
 * Reads a cgroup's freezer files with node:fs. `mountPoint` bounds the
 * ancestor walk on v2. Throws the fs error (ENOENT, ENODEV, EACCES) as is.
 */
export function readFreezerFiles(dir: string, version: 1 | 2, mountPoint: string): FreezerFiles {
  if (version === 1) {
    const text = readFileSync(`${dir}/freezer.state`, 'utf8');
    const state = parseV1State(text);
    if (state === undefined) {
      throw new CgfreezeError('EPROTO', `unexpected freezer.state ${JSON.stringify(text)}`, {
        path: `${dir}/freezer.state`,
      });
    }
    return {
      version: 'v1',
      state,
      self: readFlag(`${dir}/freezer.self_freezing`),
      byAncestor: readFlag(`${dir}/freezer.parent_freezing`),
      freezeFile: `${dir}/freezer.state`,
    };
  }
  const self = readFlag(`${dir}/cgroup.freeze`);
  const frozen = parseKeyValue(readFileSync(`${dir}/cgroup.events`, 'utf8')).get('frozen') === '1';
  return {
    version: 'v2',
    state: v2State(self, frozen),
    self,
    byAncestor: frozen && frozenV2Ancestor(dir, mountPoint) !== undefined,
    freezeFile: `${dir}/cgroup.freeze`,
  };
}
