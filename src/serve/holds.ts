import { type FSWatcher, readFileSync, watch } from 'node:fs';

/** Watchers of cgroups no longer held, kept for the next lease on them (a watch costs two syscalls). */
const IDLE_WATCHERS = 64;

/**
 * Whether this sidecar still holds the cgroup v2 freezes of its leases. The kernel signals every change
 * of a cgroup's `cgroup.events` (as inotify modifications); when one shows `cgroup.freeze` back at 0
 * while no operation of ours runs on it, someone else thawed it, and the lease no longer holds it: its
 * end must not undo a freeze that someone may have made since. cgroup v1 signals nothing; there a
 * lease's end only sees whether the cgroup is still frozen.
 */
export class Holds {
  /** By cgroup, least recently held first. */
  private readonly watchers = new Map<string, FSWatcher>();
  private readonly held = new Set<string>();
  private readonly lost = new Set<string>();

  constructor(
    /** Where this process sees the host's files. */
    private readonly hostRoot: string,
    /** Whether an operation of ours runs on this cgroup now (its changes are ours). */
    private readonly busy: (cgroupDir: string) => boolean,
    private readonly log: (line: string) => void,
  ) {}

  /** Starts (or starts again) holding a cgroup this sidecar has just frozen. */
  hold(cgroupDir: string, version: 'v1' | 'v2'): void {
    this.held.add(cgroupDir);
    this.lost.delete(cgroupDir);
    if (version !== 'v2') return;
    const known = this.watchers.get(cgroupDir);
    if (known !== undefined) {
      this.watchers.delete(cgroupDir);
      this.watchers.set(cgroupDir, known);
      return;
    }
    const dir = this.hostRoot + cgroupDir;
    let watcher: FSWatcher;
    try {
      watcher = watch(`${dir}/cgroup.events`, { persistent: false }, () => this.changed(cgroupDir, dir));
    } catch (err) {
      this.log(`cgfreeze serve: cannot watch ${dir}/cgroup.events: ${(err as Error).message}`);
      return;
    }
    // Removed with its cgroup, or out of inotify watches: a lease's end then has its own check left.
    watcher.on('error', () => this.unwatch(cgroupDir));
    this.watchers.set(cgroupDir, watcher);
  }

  /** Someone else thawed it since this sidecar froze it. */
  lostHold(cgroupDir: string): boolean {
    return this.lost.has(cgroupDir);
  }

  /** The lease is gone. */
  release(cgroupDir: string): void {
    this.held.delete(cgroupDir);
    this.lost.delete(cgroupDir);
    let idle = this.watchers.size - this.held.size;
    for (const dir of this.watchers.keys()) {
      if (idle <= IDLE_WATCHERS) return;
      if (this.held.has(dir)) continue;
      this.unwatch(dir);
      idle--;
    }
  }

  close(): void {
    for (const dir of [...this.watchers.keys()]) this.unwatch(dir);
    this.held.clear();
    this.lost.clear();
  }

  private unwatch(cgroupDir: string): void {
    this.watchers.get(cgroupDir)?.close();
    this.watchers.delete(cgroupDir);
  }

  private changed(cgroupDir: string, dir: string): void {
    if (!this.held.has(cgroupDir) || this.busy(cgroupDir)) return;
    let requested: string;
    try {
      requested = readFileSync(`${dir}/cgroup.freeze`, 'utf8').trim();
    } catch {
      return; // Removed: its lease ends with the cgroup.
    }
    if (requested === '0') this.lost.add(cgroupDir);
  }
}
