/**
 * The watchdog process of `untilExit` (watchdog.ts starts it): reads guard and release lines from its
 * owner on stdin, and when stdin ends (the owner is gone, however it ended) or it is told to terminate,
 * thaws every cgroup it still guards, through the native handle it opened for it, and exits.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cgroupMounts } from '../cgroup/mountinfo.js';
import { loadNative } from '../native.js';
import { type CgroupEntry, openOnce } from './handles.js';
import { WATCHDOG_TITLE, type WatchdogMessage } from './watchdog.js';

const guarded = new Map<string, CgroupEntry>();

/**
 * To the root of each freezer hierarchy, which can never be frozen: out of every cgroup the owner may
 * freeze, and out of the owner's own, which may be killed as a whole. Not allowed without root (or in a
 * delegated hierarchy): then it stays with its owner, whose cgroups the owner never freezes.
 */
function leaveOwnerCgroups(): void {
  for (const mount of cgroupMounts()) {
    if (mount.version === 1 && !mount.controllers.includes('freezer')) continue;
    try {
      writeFileSync(join(mount.mountPoint, 'cgroup.procs'), String(process.pid));
    } catch {
      // Stays where it is, as explained above.
    }
  }
}

function guard(identity: string, dir: string): void {
  if (guarded.has(identity)) return;
  try {
    const entry = openOnce({ label: dir, cgroupDir: dir, openDir: dir });
    // Another identity: the cgroup the owner froze was removed and its path reused; that one is not ours.
    if (entry.identity === identity) guarded.set(identity, entry);
    else entry.handle.close();
  } catch {
    // Removed before the guard was read: nothing of the owner's is left in it to thaw.
  }
}

function release(identity: string): void {
  guarded.get(identity)?.handle.close();
  guarded.delete(identity);
}

function thawAllAndExit(): never {
  for (const entry of guarded.values()) {
    try {
      entry.handle.writeState(false);
    } catch {
      // Removed meanwhile: nothing left to thaw.
    }
    entry.handle.close();
  }
  process.exit(0);
}

function onLine(line: string): void {
  let message: WatchdogMessage;
  try {
    message = JSON.parse(line) as WatchdogMessage;
  } catch {
    return; // Only watchdog.ts writes here; a line it did not write is no reason to drop every guard.
  }
  if (message.op === 'guard') guard(message.identity, message.dir);
  else release(message.identity);
}

loadNative();
leaveOwnerCgroups();
let pending = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk: string) => {
  const lines = (pending + chunk).split('\n');
  pending = lines.pop() ?? '';
  for (const line of lines) onLine(line);
});
process.stdin.on('end', thawAllAndExit);
process.stdin.on('error', thawAllAndExit);
// A shutdown's SIGTERM: thawing on the way out is the safe side. (SIGINT and SIGHUP need a terminal, which
// a session of its own does not have.)
process.on('SIGTERM', thawAllAndExit);
process.title = WATCHDOG_TITLE;
