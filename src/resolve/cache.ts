import { type BigIntStats, closeSync, constants, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { type FileStamp, type Host, sameStamp, stampOf } from './host.js';
import type { LocatedCgroup } from './locate.js';
import { RESOLVE_OPTION_KEYS, type ResolvedContainer, type ResolveOptions } from './types.js';

/** One resolution: the public result, and what revalidates it. */
export interface Found {
  resolved: ResolvedContainer;
  located: LocatedCgroup;
  /** The engine's per-container state file that records a pause (Docker's config.v2.json), as read. */
  stateFile?: { path: string; stamp: FileStamp };
}

/**
 * How the caller will use a resolution, which decides what a cached one must prove again: the
 * freezer's handle checks the cgroup itself (its dev:ino guard, ENODEV once removed), so a freeze
 * re-checks only the init process and a thaw only the engine's pause record; 'paths' (state, kill,
 * resolve) gets the full check.
 */
export type ResolutionUse = 'freeze' | 'thaw' | 'paths';

const probeBuf = Buffer.allocUnsafe(64);

/**
 * A resolution kept for repeated calls, with open files that revalidate it with one syscall each: a
 * held /proc/<pid>/comm of the init process (a read fails with ESRCH once that process is gone, even
 * if its pid is reused) and the held state file of the engine (Docker rewrites config.v2.json by
 * rename, so the held version's link count drops to 0 on the next write).
 */
export class CachedResolution {
  private closed = false;
  readonly resolved: ResolvedContainer;
  /** Set by the cache that keeps this entry. */
  onForget: () => void = () => undefined;

  private constructor(
    readonly found: Found,
    private readonly host: Host,
    private readonly procFd: number,
    private readonly stateFd: number | undefined,
  ) {
    this.resolved = found.resolved;
  }

  /** Opens the files that will revalidate `found`; undefined when they are already stale. */
  static open(found: Found, host: Host): CachedResolution | undefined {
    let procFd: number;
    try {
      procFd = openSync(host.path(`/proc/${found.resolved.initPid}/comm`), 'r');
    } catch {
      return undefined;
    }
    let stateFd: number | undefined;
    try {
      if (found.stateFile !== undefined) {
        stateFd = host.openState(found.stateFile.path, constants.O_RDONLY | constants.O_NONBLOCK);
      }
    } catch {
      closeSync(procFd);
      return undefined;
    }
    const entry = new CachedResolution(found, host, procFd, stateFd);
    // The init process still runs after the open, so the file opened is its own, not a reused pid's;
    // and the state file held is the very version parsed.
    if (host.startTime(found.resolved.initPid) !== found.located.startTime || !entry.stateUnchanged()) {
      entry.close();
      return undefined;
    }
    return entry;
  }

  /**
   * The full check: the cgroup directory is the same one (dev:ino), the init process is the same one,
   * and the engine's state file is unchanged (so a `docker pause` is seen).
   */
  valid(): boolean {
    const dir = statSync(this.host.path(this.resolved.cgroupDir), { throwIfNoEntry: false });
    if (dir === undefined || `${dir.dev}:${dir.ino}` !== this.found.located.identity) return false;
    return this.initAlive() && this.stateUnchanged();
  }

  /** The check for one use (see {@link ResolutionUse}): one syscall on a held file for freeze and thaw. */
  validFor(use: ResolutionUse): boolean {
    if (use === 'freeze') return this.initAlive();
    if (use === 'thaw') return this.stateUnchanged();
    return this.valid();
  }

  private initAlive(): boolean {
    try {
      readSync(this.procFd, probeBuf, 0, probeBuf.length, 0);
      return true;
    } catch {
      return false;
    }
  }

  private stateUnchanged(): boolean {
    const { stateFile } = this.found;
    if (stateFile === undefined || this.stateFd === undefined) return stateFile === undefined;
    let st: BigIntStats;
    try {
      st = fstatSync(this.stateFd, { bigint: true });
    } catch {
      return false;
    }
    return st.nlink > 0n && sameStamp(stampOf(st), stateFile.stamp);
  }

  forget(): void {
    this.onForget();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.procFd);
    if (this.stateFd !== undefined) closeSync(this.stateFd);
  }
}

/** The options that change what a reference resolves to (all but `cache`; timeouts and the like are not resolver options). */
const KEY_OPTIONS = RESOLVE_OPTION_KEYS.filter(
  (k): k is Exclude<(typeof RESOLVE_OPTION_KEYS)[number], 'cache'> => k !== 'cache',
);

/** Bounded: each entry holds one or two file descriptors. */
const CACHE_LIMIT = 256;

/** Resolutions by resolver options, then by reference; bounded, oldest dropped first. */
export class ResolveCache {
  private readonly scopes = new Map<string, Map<string, CachedResolution>>();
  private readonly order = new Set<CachedResolution>();
  /** The option values of the last scope built, and that scope. */
  private readonly lastValues: unknown[] = KEY_OPTIONS.map(() => undefined);
  private lastScope = '';

  /**
   * The part of the key that the options make. Callers pass the same option
   * values call after call: compared by identity, they skip the JSON of a
   * roots array, and the same string is reused, so the lookups hash nothing
   * new. A roots array changed in place keeps its scope; its entries still
   * revalidate.
   */
  scope(opts: ResolveOptions): string {
    let same = true;
    for (let i = 0; i < KEY_OPTIONS.length; i++) {
      if (opts[KEY_OPTIONS[i] as (typeof KEY_OPTIONS)[number]] !== this.lastValues[i]) same = false;
    }
    if (same) return this.lastScope;
    let scope = '';
    KEY_OPTIONS.forEach((name, i) => {
      const value = opts[name];
      this.lastValues[i] = value;
      if (value !== undefined) scope += `\0${name}=${typeof value === 'string' ? value : JSON.stringify(value)}`;
    });
    this.lastScope = scope;
    return scope;
  }

  get(scope: string, ref: string): CachedResolution | undefined {
    return this.scopes.get(scope)?.get(ref);
  }

  /** Keeps `found` for `ref`, unless its process is already gone; returns the entry kept. */
  remember(scope: string, ref: string, found: Found, host: Host): CachedResolution | undefined {
    const old = this.get(scope, ref);
    if (old !== undefined) this.drop(scope, ref, old);
    const entry = CachedResolution.open(found, host);
    if (entry === undefined) return undefined;
    for (const oldest of this.order) {
      if (this.order.size < CACHE_LIMIT) break;
      oldest.forget();
    }
    let refs = this.scopes.get(scope);
    if (refs === undefined) this.scopes.set(scope, (refs = new Map<string, CachedResolution>()));
    refs.set(ref, entry);
    this.order.add(entry);
    entry.onForget = () => this.drop(scope, ref, entry);
    return entry;
  }

  private drop(scope: string, ref: string, entry: CachedResolution): void {
    const refs = this.scopes.get(scope);
    if (refs?.get(ref) === entry) {
      refs.delete(ref);
      if (refs.size === 0) this.scopes.delete(scope);
    }
    this.order.delete(entry);
    entry.close();
  }

  clear(): void {
    for (const entry of [...this.order]) entry.forget();
  }
}
