/**
 * The freezes this process holds, so that a scope thaws only what it froze (README "Scoped freeze") and an
 * `untilExit` freeze is thawed by the watchdog should this process die.
 *
 * A hold begins with a freeze's write over a cgroup that was not frozen by its own request: the kernel
 * says so just before the write (v1 freezer.self_freezing, v2 cgroup.freeze), and nothing else in this
 * process can come between that read and the write, both synchronous. It ends with any thaw this process
 * writes to that cgroup (a thaw, a rollback, a kill). Freezes of a held cgroup join its hold; each freeze
 * result is one claim, and giving up the last claim of a hold that is still current is what thaws.
 * Holds are keyed by the cgroup's identity (dev:ino), so a cgroup recreated at the same path is another one.
 */
import { statSync } from 'node:fs';
import type { CgroupEntry } from './handles.js';
import { guardWithWatchdog, releaseFromWatchdog } from './watchdog.js';

class Hold {
  claims = 0;
  ended = false;
  constructor(
    readonly identity: string,
    /** Where it was opened, to tell a removed cgroup when the table is pruned. */
    readonly dir: string,
  ) {}
}

/** One freeze result's share in a hold. */
export class Claim {
  private released = false;

  constructor(private readonly hold: Hold) {}

  /**
   * Gives this claim up; true when it was the last of a hold still current (not thawed by this process
   * since), which the caller then thaws. Only the first call counts.
   */
  release(): boolean {
    const current = !this.released && !this.hold.ended;
    this.released = true;
    if (!current || --this.hold.claims > 0) return false;
    endHold(this.hold);
    return true;
  }
}

/**
 * Holds of removed cgroups (a container removed while paused) are dropped when the table reaches this
 * size, which then doubles past what is left, so a process holding many live ones prunes rarely.
 */
let pruneAt = 1024;
const holds = new Map<string, Hold>();

function endHold(hold: Hold): void {
  hold.ended = true;
  if (holds.get(hold.identity) === hold) holds.delete(hold.identity);
}

/**
 * Just before a freeze's write: the claim this freeze makes, or undefined when the cgroup is frozen by
 * a request that is not this process's (then nothing of it is ours to thaw). With `untilExit` the
 * watchdog holds the cgroup before the write, so no moment exists in which this process could die
 * with the cgroup frozen and unguarded.
 */
export function claimFreeze(entry: CgroupEntry, untilExit: boolean): Claim | undefined {
  const { identity } = entry;
  let hold = holds.get(identity);
  const began = hold === undefined;
  if (hold === undefined) {
    if (entry.readSelf()) return undefined;
    if (holds.size >= pruneAt) pruneRemoved();
    hold = new Hold(identity, entry.location.dir);
    holds.set(identity, hold);
  }
  if (untilExit) {
    try {
      guardWithWatchdog(entry);
    } catch (err) {
      if (began) endHold(hold);
      throw err;
    }
  }
  hold.claims++;
  return new Claim(hold);
}

/** After this process wrote a thaw to a cgroup: whatever it held there is over. */
export function thawWritten(entry: CgroupEntry): void {
  const { identity } = entry;
  const hold = holds.get(identity);
  if (hold !== undefined) endHold(hold);
  releaseFromWatchdog(identity);
}

function pruneRemoved(): void {
  for (const hold of [...holds.values()]) {
    let identity: string | undefined;
    try {
      const st = statSync(hold.dir);
      identity = `${st.dev}:${st.ino}`;
    } catch {
      identity = undefined;
    }
    if (identity !== hold.identity) endHold(hold);
  }
  pruneAt = Math.max(1024, 2 * holds.size);
}
