/**
 * keepWarm (opt-in, never on by default): hold an empty, frozen v1 freezer
 * cgroup while the process runs.
 *
 * Why: since Linux 6.1 the v1 freezer switches a global static key on when
 * the first cgroup starts freezing and off when the last one thaws. Flipping
 * it patches kernel text and costs ~90 µs per freeze and per thaw on a quiet
 * VM (milliseconds on a loaded one). While any cgroup stays frozen the key
 * stays on, and freezing or thawing other cgroups skips that cost.
 * The price: with the key on, every task on the machine takes the slower
 * `freezing()` check path (cheap, but system-wide), and a cgroup directory
 * exists under the freezer mount while we run. cgroup2's freezer does not use
 * the key, so without a v1 freezer mount there is nothing to warm.
 *
 * Layout: `<freezer>/cgfreeze-keepwarm/<pid>-<starttime>`, one per process.
 * It is removed on release and on process exit; a process killed before that
 * leaves it behind, frozen and empty, and the next keepWarm() on the machine
 * adopts it (still frozen, so no key flip) and removes any other stale one.
 */
import { mkdirSync, readdirSync, renameSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import type { FreezerState } from '../cgroup/freezer-files.js';
import { cgroupMounts, freezerV1Mount } from '../cgroup/mountinfo.js';
import { readProcStat } from '../cgroup/proc.js';
import { CgfreezeError, fromSystemError } from '../errors.js';
import { openOnce } from './handles.js';

export const KEEP_WARM_DIR = 'cgfreeze-keepwarm';

export interface KeepWarmHandle {
  /** The frozen empty cgroup this process holds; undefined when there is no v1 freezer to warm. */
  readonly cgroupDir: string | undefined;
  /** False once released. */
  readonly held: boolean;
  /** Drops this reference; the cgroup is thawed and removed when the last one goes. Idempotent. */
  release(): void;
}

interface Holder {
  dir: string;
  refs: number;
}

let holder: Holder | undefined;

/** `<pid>-<starttime>`: pid alone could be reused by an unrelated process. */
function processKey(pid: number | 'self'): string | undefined {
  const stat = readProcStat(pid);
  return stat === undefined ? undefined : `${stat.pid}-${stat.startTime}`;
}

function isStale(name: string): boolean {
  const m = /^(\d+)-(\d+)$/.exec(name);
  if (m === null) return false; // not ours to judge
  return processKey(Number(m[1])) !== name;
}

/** The freezer handle of a keepWarm cgroup, opened for one write and closed. */
function writeState(dir: string, frozen: boolean): FreezerState {
  const entry = openOnce({ label: dir, cgroupDir: dir, openDir: dir });
  try {
    entry.handle.writeState(frozen);
    return entry.readState();
  } finally {
    entry.handle.close();
  }
}

function removeCgroup(dir: string): void {
  try {
    writeState(dir, false);
    rmdirSync(dir);
  } catch (err) {
    const { code } = fromSystemError(err, dir);
    if (code !== 'ENOENT' && code !== 'ERR_CGROUP_GONE') throw err;
  }
}

function acquire(): Holder | undefined {
  const mount = freezerV1Mount(cgroupMounts());
  if (mount === undefined) return undefined;
  const parent = join(mount.mountPoint, KEEP_WARM_DIR);
  const own = processKey('self');
  if (own === undefined)
    throw new CgfreezeError('ERR_FREEZER_UNAVAILABLE', 'keepWarm needs /proc: cannot read /proc/self/stat');
  const dir = join(parent, own);
  try {
    mkdirSync(parent, { recursive: true });
    let have = false;
    for (const name of readdirSync(parent)) {
      const path = join(parent, name);
      if (name === own) {
        have = true;
      } else if (!isStale(name)) {
        continue;
      } else if (!have) {
        // Adopting keeps it frozen: no key flip at all.
        try {
          renameSync(path, dir);
          have = true;
        } catch (err) {
          // Another process adopted it first.
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        }
      } else {
        removeCgroup(path);
      }
    }
    if (!have) mkdirSync(dir);
    // An empty cgroup freezes at once; anything else means someone put tasks in it.
    const state = writeState(dir, true);
    if (state !== 'frozen') {
      removeCgroup(dir);
      throw new CgfreezeError('ERR_FREEZE_TIMEOUT', `keepWarm cgroup ${dir} did not freeze (state ${state})`, {
        path: dir,
      });
    }
  } catch (err) {
    throw fromSystemError(err, dir);
  }
  process.on('exit', releaseAll);
  return { dir, refs: 0 };
}

function releaseAll(): void {
  if (holder === undefined) return;
  const { dir } = holder;
  holder = undefined;
  process.removeListener('exit', releaseAll);
  removeCgroup(dir);
  try {
    rmdirSync(join(dir, '..'));
  } catch {
    // Another process still holds its own cgroup there.
  }
}

/**
 * Keeps the v1 freezer warm until every returned handle is released or the
 * process exits. Calls share one cgroup per process.
 */
export function keepWarm(): KeepWarmHandle {
  holder ??= acquire();
  const current = holder;
  if (current === undefined) {
    return { cgroupDir: undefined, held: false, release: () => undefined };
  }
  current.refs++;
  let held = true;
  return {
    cgroupDir: current.dir,
    get held() {
      return held;
    },
    release() {
      if (!held) return;
      held = false;
      current.refs--;
      if (current.refs === 0 && holder === current) {
        try {
          releaseAll();
        } catch (err) {
          throw fromSystemError(err, current.dir);
        }
      }
    },
  };
}
