// Teardown when a test process dies with workloads still running: a normal
// exit runs the exit hooks; a SIGKILL leaves it to PR_SET_PDEATHSIG and to the
// stale sweeps of the next run.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isDead, sleep } from '../../scripts/workload/cgroupfs.js';
import { sweepStaleWorkloadFiles } from '../../scripts/workload/index.js';
import { sweepStaleScratch } from '../helpers/scratch.js';

interface Leftover {
  pid: number;
  roots: string[];
  pids: number[];
  files: string[];
}

const repoRoot = join(__dirname, '..', '..');

/** Starts leave-running.ts; resolves with what it made and a promise of its exit. */
function leaveRunning(mode: 'exit' | 'wait'): Promise<{ made: Leftover; exited: Promise<void> }> {
  const child = spawn(
    join(repoRoot, 'node_modules', '.bin', 'vite-node'),
    [join(__dirname, 'leave-running.ts'), mode],
    {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const line = stdout.split('\n').find((l) => l.startsWith('{'));
      if (line !== undefined) resolve({ made: JSON.parse(line) as Leftover, exited });
    });
    void exited.then(() => reject(new Error(`leave-running.ts ${mode} printed nothing: ${stderr}`)));
  });
}

async function until(what: string, check: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

function expectNothingLeft(made: Leftover): void {
  expect(made.pids.filter((pid) => !isDead(pid))).toEqual([]);
  expect([...made.roots, ...made.files].filter((path) => existsSync(path))).toEqual([]);
}

describe('a test process that ends with workloads still running', () => {
  it('cleans everything up in its exit hooks, frozen v1 tasks included', async () => {
    const { made, exited } = await leaveRunning('exit');
    await exited;
    await until('the tasks to die', () => made.pids.every(isDead));
    expectNothingLeft(made);
  });

  it('when SIGKILLed, leaves only what the next run sweeps away', async () => {
    const { made, exited } = await leaveRunning('wait');
    process.kill(made.pid, 'SIGKILL');
    await exited;
    // PR_SET_PDEATHSIG ends the FUSE server (which ends its stuck task) and
    // every worker task except the frozen v1 ones, which cannot die yet.
    await until('the FUSE server to go', () => isDead(made.pids[made.pids.length - 1] as number));
    sweepStaleScratch();
    sweepStaleWorkloadFiles();
    await until('the tasks to die', () => made.pids.every(isDead));
    expectNothingLeft(made);
  });
});
