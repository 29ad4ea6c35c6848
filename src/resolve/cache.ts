import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { posix } from 'node:path';
import { loadNative } from '../native.js';
import { type FileStamp, type Host, sameStamp, stampOf } from './host.js';
import type { LocatedCgroup } from './locate.js';
import { RESOLVE_OPTION_KEYS, type Resolved, type ResolveOptions } from './types.js';

/** A reference as the freezer uses it: where its cgroup is, and how to forget it once it proves stale. */
export interface FreezerTarget {
  readonly resolved: Resolved;
  /** `dev:ino` of the cgroup directory; the freezer's open handle must match it. */
  readonly identity: string;
  forget(): void;
}

/** One resolution: the public result, and what revalidates it. */
export interface Found {
  resolved: Resolved;
  located: LocatedCgroup;
  /** The engine's per-container state file that records a pause (Docker's config.v2.json), as read. */
  stateFile?: { path: string; stamp: FileStamp };
}

const probeBuf = Buffer.allocUnsafe(64);
const probeOut = new Float64Array(4);

/**
 * A resolution kept for repeated calls, with open files that revalidate it
 * cheaply: a held /proc/<pid>/comm of the init process (reads fail with ESRCH
 * once that process is gone, even if its pid is reused) and the held
 * directory of the engine's state file.
 */
export class CachedResolution implements FreezerTarget {
  private closed = false;
  readonly resolved: Resolved;
  readonly identity: string;
  /** The state file's name in the held directory. */
  private readonly stateName: string | undefined;
  /** Set by the cache that keeps this entry. */
  onForget: () => void = () => undefined;

  private constructor(
    readonly found: Found,
    private readonly host: Host,
    private readonly procFd: number,
    private readonly stateDirFd: number | undefined,
  ) {
    this.resolved = found.resolved;
    this.identity = found.located.identity;
    this.stateName = found.stateFile === undefined ? undefined : posix.basename(found.stateFile.path);
  }

  /** Opens the files that will revalidate `found`; undefined when the process is already gone. */
  static open(found: Found, host: Host): CachedResolution | undefined {
    let procFd: number;
    try {
      procFd = openSync(host.path(`/proc/${found.resolved.initPid}/comm`), 'r');
    } catch {
      return undefined;
    }
    let stateDirFd: number | undefined;
    try {
      if (found.stateFile !== undefined) stateDirFd = openSync(host.path(posix.dirname(found.stateFile.path)), 'r');
    } catch {
      closeSync(procFd);
      return undefined;
    }
    const entry = new CachedResolution(found, host, procFd, stateDirFd);
    // The init process still runs after the open, so the file opened is its own, not a reused pid's.
    if (host.startTime(found.resolved.initPid) !== found.located.startTime) {
      entry.close();
      return undefined;
    }
    return entry;
  }

  /**
   * The full check behind resolveSync, through paths (no addon needed): the
   * cgroup directory is the same one (dev:ino), the init process is the same one,
   * and the engine's state file is unchanged (so a `docker pause` is seen).
   */
  valid(): boolean {
    const { found } = this;
    const dir = statSync(this.host.path(found.resolved.cgroupDir), { throwIfNoEntry: false });
    if (dir === undefined || `${dir.dev}:${dir.ino}` !== found.located.identity) return false;
    try {
      readSync(this.procFd, probeBuf, 0, probeBuf.length, 0);
    } catch {
      return false;
    }
    if (found.stateFile === undefined) return true;
    const st = statSync(this.host.path(found.stateFile.path), { bigint: true, throwIfNoEntry: false });
    return st !== undefined && sameStamp(stampOf(st), found.stateFile.stamp);
  }

  /**
   * The freezer's check, one syscall on held files. A freeze needs the init
   * process alive; a thaw needs the engine not to have paused the container
   * since. Neither re-checks the cgroup: the freezer's own handle is bound to
   * its inode, compared with {@link LocatedCgroup.identity}, and fails with
   * ENODEV once the cgroup is removed.
   */
  validFor(frozen: boolean): boolean {
    const native = loadNative();
    if (frozen) {
      try {
        native.readProbe(this.procFd);
        return true;
      } catch {
        return false;
      }
    }
    const { stateFile } = this.found;
    if (stateFile === undefined) return true;
    if (this.stateDirFd === undefined || this.stateName === undefined) return false;
    try {
      if (!native.statAt(this.stateDirFd, this.stateName, probeOut)) return false;
    } catch {
      return false;
    }
    const { stamp } = stateFile;
    return (
      probeOut[0] === stamp.ino &&
      probeOut[1] === stamp.mtimeSec &&
      probeOut[2] === stamp.mtimeNsec &&
      probeOut[3] === stamp.size
    );
  }

  forget(): void {
    this.onForget();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.procFd);
    if (this.stateDirFd !== undefined) closeSync(this.stateDirFd);
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
    if (refs === undefined) this.scopes.set(scope, (refs = new Map()));
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
