/**
 * The stuck-freeze case: one task blocked in a FUSE request that is never
 * answered cannot be frozen. A freeze with a deadline must reject at the
 * deadline (not much later), roll back to thawed, and burn little CPU while
 * it waits.
 */
import { mkdirSync, readFileSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { freeze, freezeSync } from '../../src/index.js';
import { CgfreezeError } from '../../src/errors.js';
import { progress } from './harness.js';
import type { Options } from './options.js';
import type { StuckRun } from './report.js';
import { startStuckTask } from '../workload/index.js';
import { type Mode, forceThaw, runParent } from './workload.js';

function cpuNs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) * 1000;
}

function isThawed(dir: string, mode: Mode): boolean {
  if (mode === 'v1') return readFileSync(join(dir, 'freezer.state'), 'utf8').trim() === 'THAWED';
  const events = readFileSync(join(dir, 'cgroup.events'), 'utf8');
  return readFileSync(join(dir, 'cgroup.freeze'), 'utf8').trim() === '0' && /^frozen 0$/m.test(events);
}

async function waitFor(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function runMode(mode: Mode, opts: Options): Promise<StuckRun[]> {
  const deadlineMs = opts.quick ? 200 : 1000;
  const repeats = opts.quick ? 2 : 5;
  const dir = join(runParent(mode), 'stuck');
  mkdirSync(dir);
  const runs: StuckRun[] = [];
  try {
    // The tests' own unfreezable task: blocked on a FUSE request that is never answered.
    const stuck = await startStuckTask(dir);
    try {
      const methods: Array<[string, () => Promise<void> | void]> = [
        [`cgfreeze freezeSync (${mode})`, () => void freezeSync(dir, { timeoutMs: deadlineMs })],
        [`cgfreeze freeze, Promise (${mode})`, async () => void (await freeze(dir, { timeoutMs: deadlineMs }))],
      ];
      for (const [label, call] of methods) {
        for (let i = 0; i < repeats; i++) {
          progress.set(`stuck freeze · ${label} · ${i + 1}/${repeats}`);
          const c0 = cpuNs();
          const t0 = process.hrtime.bigint();
          let code = 'resolved';
          let rolledBack = false;
          try {
            await call();
          } catch (err) {
            code = err instanceof CgfreezeError ? err.code : String(err);
            rolledBack = err instanceof CgfreezeError && err.rolledBack === true;
          }
          const elapsedNs = Number(process.hrtime.bigint() - t0);
          const cpu = cpuNs() - c0;
          const thawedAfter = isThawed(dir, mode);
          if (!thawedAfter) forceThaw(dir, mode);
          runs.push({ method: label, deadlineMs, elapsedNs, cpuNs: cpu, code, rolledBack, thawedAfter });
        }
      }
    } finally {
      forceThaw(dir, mode);
      await stuck.stop();
    }
    await waitFor(`${dir} to empty`, () => readFileSync(join(dir, 'cgroup.procs'), 'utf8').trim() === '', 10_000);
  } finally {
    rmdirSync(dir);
  }
  return runs;
}

export async function runStuck(opts: Options): Promise<StuckRun[]> {
  const runs: StuckRun[] = [];
  for (const mode of opts.modes) runs.push(...(await runMode(mode, opts)));
  return runs;
}
