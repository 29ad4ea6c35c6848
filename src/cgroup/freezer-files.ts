import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { CgfreezeError } from '../errors.js';

export type FreezerState = 'thawed' | 'freezing' | 'frozen';

/**
 * The one parser of the freezer's files. The native handle returns their text as read; node:fs
 * readers (state(), list()) read the same files; both come here.
 */

/** freezer.state (v1): THAWED, FREEZING or FROZEN. */
export function parseV1State(text: string, path: string): FreezerState {
  switch (text.trim()) {
    case 'THAWED':
      return 'thawed';
    case 'FREEZING':
      return 'freezing';
    case 'FROZEN':
      return 'frozen';
    default:
      throw unexpected(text, path);
  }
}

/** cgroup.events (v2): whether its `frozen` key is 1. */
export function parseEventsFrozen(text: string, path: string): boolean {
  // `frozen` is one of a handful of `key value` lines; a search beats splitting on every re-read.
  const line = text.startsWith('frozen ') ? 0 : text.indexOf('\nfrozen ') + 1;
  const value = line > 0 || text.startsWith('frozen ') ? text.charAt(line + 'frozen '.length) : '';
  if (value === '1') return true;
  if (value === '0') return false;
  throw unexpected(text, path);
}

/** A 0/1 flag file: freezer.self_freezing, freezer.parent_freezing, cgroup.freeze. */
export function parseFlag(text: string, path: string): boolean {
  const value = text.trim();
  if (value === '1') return true;
  if (value === '0') return false;
  throw unexpected(text, path);
}

function unexpected(text: string, path: string): CgfreezeError {
  return new CgfreezeError('ERR_KERNEL_FORMAT', `unexpected content in ${path}: ${JSON.stringify(text.slice(0, 80))}`, {
    path,
  });
}

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

/** Combines v2 intent (cgroup.freeze) and effect (cgroup.events `frozen`). */
export function v2State(self: boolean, frozen: boolean): FreezerState {
  if (frozen) return 'frozen';
  return self ? 'freezing' : 'thawed';
}

function readFlag(path: string): boolean {
  return parseFlag(readFileSync(path, 'utf8'), path);
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

/** The nearest frozen ancestor: v1 by self_freezing, v2 by cgroup.freeze (v2 has no parent_freezing). */
export function frozenAncestor(dir: string, version: 1 | 2, mountPoint: string): string | undefined {
  return nearestAncestorWith(dir, mountPoint, version === 1 ? 'freezer.self_freezing' : 'cgroup.freeze');
}

/**
 * Reads a cgroup's freezer files with node:fs. `mountPoint` bounds the
 * ancestor walk on v2. Throws the fs error (ENOENT, ENODEV, EACCES) as is.
 */
export function readFreezerFiles(dir: string, version: 1 | 2, mountPoint: string): FreezerFiles {
  if (version === 1) {
    const stateFile = `${dir}/freezer.state`;
    return {
      version: 'v1',
      state: parseV1State(readFileSync(stateFile, 'utf8'), stateFile),
      self: readFlag(`${dir}/freezer.self_freezing`),
      byAncestor: readFlag(`${dir}/freezer.parent_freezing`),
      freezeFile: stateFile,
    };
  }
  const self = readFlag(`${dir}/cgroup.freeze`);
  const events = `${dir}/cgroup.events`;
  const frozen = parseEventsFrozen(readFileSync(events, 'utf8'), events);
  return {
    version: 'v2',
    state: v2State(self, frozen),
    self,
    byAncestor: frozen && frozenAncestor(dir, 2, mountPoint) !== undefined,
    freezeFile: `${dir}/cgroup.freeze`,
  };
}
