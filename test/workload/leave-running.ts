// Run by workload-exit.test.ts in a separate process (vite-node): sets up
// workloads the way a failing test would leave them, prints what it made as
// one JSON line, then either exits without any cleanup (`exit`) or waits to be
// SIGKILLed (`wait`).
import { freezeCgroup, readFreezerState, sleep } from '../../scripts/workload/cgroupfs.js';
import { startStuckTask, startWorkload } from '../../scripts/workload/index.js';
import { createScratch } from '../helpers/scratch.js';

const mode = process.argv[2];
if (mode !== 'exit' && mode !== 'wait') throw new Error('usage: leave-running.ts exit|wait');

async function main(): Promise<void> {
  const scratch = createScratch();
  const v1 = scratch.make(1);
  const v2 = scratch.make(2);
  const busy = await startWorkload(v1, { tasks: 4 });
  const idle = await startWorkload(v2, { tasks: 4, mode: 'idle' });
  const stuck = await startStuckTask(v2);
  // Frozen v1 tasks ignore SIGKILL until thawed: the teardown must thaw them.
  freezeCgroup(v1);
  while (readFreezerState(v1) !== 'FROZEN') await sleep(1);

  process.stdout.write(
    `${JSON.stringify({
      pid: process.pid,
      roots: [scratch.v1Root, scratch.v2Root],
      pids: [...busy.pids, ...idle.pids, stuck.pid, stuck.serverPid],
      files: [busy.counterFile, idle.counterFile, stuck.mountDir],
    })}\n`,
  );
  if (mode === 'exit') process.exit(0);
}

void main().then(() => setInterval(() => undefined, 1000));
