import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { BenchReport } from '../../scripts/bench/report.js';
import { KEEP_WARM_DIR } from '../../src/freezer/keep-warm.js';

// The bench on the real kernel, with its keepWarm cgroup thawed behind its
// back: the keepWarm case then runs cold, and the run must fail instead of
// judging its ratios.
const root = join(__dirname, '..', '..');
const out = mkdtempSync(join(tmpdir(), 'cgfb-labelled-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

const keepWarmParent = join('/sys/fs/cgroup/freezer', KEEP_WARM_DIR);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Thaws the keepWarm cgroup of process `pid` (and no other) whenever it has been frozen for 10 ms. */
async function thawKeepWarmOf(pid: number, running: () => boolean): Promise<number> {
  let thawed = 0;
  while (running()) {
    const names = existsSync(keepWarmParent) ? readdirSync(keepWarmParent) : [];
    for (const name of names.filter((n) => n.startsWith(`${pid}-`))) {
      const state = join(keepWarmParent, name, 'freezer.state');
      try {
        if (readFileSync(state, 'utf8').trim() !== 'FROZEN') continue;
        // Not at once: keepWarm() checks that its cgroup froze right after freezing it.
        await sleep(10);
        writeFileSync(state, 'THAWED');
        thawed++;
      } catch {
        // Released and removed meanwhile.
      }
    }
    await sleep(1);
  }
  return thawed;
}

describe('npm run bench, when its keepWarm cgroup is thawed by someone else', () => {
  it('reports the keepWarm comparisons as a failed run and exits 1', async () => {
    const bench = spawn(
      join(root, 'node_modules', '.bin', 'vite-node'),
      ['scripts/bench/main.ts', '--only', 'scratch', '--modes', 'v1', '--tasks', '1', '--cycles', '30', '--out', out],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    bench.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    bench.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    let running = true;
    const exited = new Promise<number | null>((resolve) =>
      bench.once('exit', (code) => {
        running = false;
        resolve(code);
      }),
    );
    const thawed = await thawKeepWarmOf(bench.pid ?? -1, () => running);
    const code = await exited;

    expect(thawed).toBeGreaterThan(0);
    expect(stderr).toContain('bench: RUN FAILED');
    expect(code).toBe(1);
    const report = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as BenchReport;
    expect(report.errors).toEqual([]);
    const warm = report.cases.find((c) => c.id === 'scratch-v1-1-warm');
    expect(warm?.methods.map((m) => m.id)).toEqual(['raw-c', 'node-naive', 'cgfreeze-sync', 'cgfreeze-promise']);
    for (const m of warm?.methods ?? []) expect(m.ranAs.warmSamples).toBeLessThan(m.cycles);
    expect(stdout).toMatch(/sync resume p50 ÷ raw C +v1 · 1 task · keepWarm .* RUN FAILED: not as labelled/);
    expect(stdout).toMatch(/raw C loop \+ keepWarm in "v1 · 1 task · keepWarm": \d+ of \d+ samples ran without/);
    // The cold case ran as labelled and is judged as usual.
    expect(stdout).toMatch(
      /sync resume p50 ÷ raw C +v1 · 1 task +\S+ +≤ 1\.25× +(yes|NO)( \(load-bound: see Load\))?$/m,
    );
  }, 300_000);
});
