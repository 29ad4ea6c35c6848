/**
 * npx vite-node scripts/bench/until-exit.ts [-- rounds]   (needs the built dist/: npm run build:ts)
 *
 * How soon a freeze made with `untilExit` is thawed after its owner is killed: an owner process (node on
 * dist/) freezes a scratch cgroup holding a busy task, then gets SIGKILL; the time runs from the kill to the
 * task's next step. Owners alternate between the sync and the Promise API; v1 and v2 each `rounds` times.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { startWorkload } from '../workload/index.js';
import { percentile } from '../../src/percentile.js';
import { hierarchyRoot } from './workload.js';

const DIST = join(__dirname, '..', '..', 'dist');
const OWNER = `
const { freeze, freezeSync } = require(${JSON.stringify(join(DIST, 'index.js'))});
const [dir, api] = process.argv.slice(1);
(async () => {
  if (api === 'sync') freezeSync(dir, { untilExit: true });
  else await freeze(dir, { untilExit: true });
  process.stdout.write('frozen\\n');
  setInterval(() => undefined, 1000);
})();`;

async function killToProgressMs(dir: string, api: 'sync' | 'promise', counter: () => bigint): Promise<number> {
  const owner = spawn(process.execPath, ['-e', OWNER, dir, api], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    owner.stdout.once('data', () => resolve());
    owner.once('exit', (code) => reject(new Error(`owner exited (${String(code)}) before freezing`)));
  });
  const before = counter();
  await new Promise((r) => setTimeout(r, 20));
  if (counter() !== before) throw new Error('the owner said frozen, but the task still runs');
  const t0 = performance.now();
  owner.kill('SIGKILL');
  while (counter() === before) await new Promise((r) => setImmediate(r));
  return performance.now() - t0;
}

async function main(): Promise<void> {
  const rounds = Number(process.argv[2] ?? 20);
  for (const mode of ['v1', 'v2'] as const) {
    const dir = join(hierarchyRoot(mode), `cgfb-until-exit-${process.pid}`);
    mkdirSync(dir);
    const task = await startWorkload(dir);
    const samples: number[] = [];
    try {
      for (let i = 0; i < rounds; i++) {
        samples.push(await killToProgressMs(dir, i % 2 === 0 ? 'sync' : 'promise', () => task.counter()));
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      await task.stop();
      rmdirSync(dir);
    }
    samples.sort((a, b) => a - b);
    const ms = (q: number): string => `${percentile(samples, q).toFixed(1)} ms`;
    process.stdout.write(
      `${mode}: kill -9 of the owner → the task runs again: p50 ${ms(50)}, p90 ${ms(90)}, max ${ms(100)} (${rounds} kills)\n`,
    );
  }
}

void main();
