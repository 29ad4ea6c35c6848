import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { BenchReport } from '../../scripts/bench/report.js';

// `npm run bench -- --quick` on the kernel parts (the container labs are the
// CI bench step's job): it must finish, write every output and clean up.
const out = mkdtempSync(join(tmpdir(), 'cgfb-quick-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('npm run bench -- --quick', () => {
  it('finishes and writes the tables, every sample and the plots', () => {
    const root = join(__dirname, '..', '..');
    const r = spawnSync(
      'npm',
      ['run', 'bench', '--', '--quick', '--only', 'scratch,stuck', '--tasks', '1,10', '--out', out],
      {
        cwd: root,
        encoding: 'utf8',
        timeout: 400_000,
      },
    );
    expect(r.stderr).not.toMatch(/bench failed/);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('resume ÷ C');
    expect(readdirSync(out).sort()).toEqual(['freeze.svg', 'headline.svg', 'results.json', 'results.md', 'resume.svg']);
    const report = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as BenchReport;
    expect(report.errors).toEqual([]);
    // v1 and v2 at 1 and 10 tasks, plus the v1 keepWarm cases.
    expect(report.cases.map((c) => c.id).sort()).toEqual(
      [
        'scratch-v1-1',
        'scratch-v1-1-warm',
        'scratch-v1-10',
        'scratch-v1-10-warm',
        'scratch-v2-1',
        'scratch-v2-10',
      ].sort(),
    );
    for (const c of report.cases) {
      for (const m of c.methods) {
        expect(m.samples.length).toBe(m.cycles);
        expect(m.cycles).toBeGreaterThanOrEqual(40);
        // Every keepWarm sample ran beside the frozen keepWarm cgroup; other cases claim nothing.
        expect(m.ranAs.warmSamples).toBe(c.warm ? m.cycles : undefined);
      }
    }
    expect(r.stdout).not.toContain('RUN FAILED');
    expect(report.stuck.length).toBeGreaterThan(0);
    for (const s of report.stuck) {
      expect(s.code).toBe('ERR_FREEZE_TIMEOUT');
      expect(s.thawedAfter).toBe(true);
    }
    expect(readFileSync(join(out, 'resume.svg'), 'utf8')).toContain('<path');
    expect(report.machine['kernel']).toBeTypeOf('string');
    // Nothing of the run is left behind (other tests may hold their own cgfb-<pid> meanwhile).
    const pid = report.options['pid'];
    expect(pid).toBeTypeOf('number');
    for (const root of ['/sys/fs/cgroup/freezer', '/sys/fs/cgroup/unified', '/dev/shm']) {
      expect(existsSync(join(root, `cgfb-${String(pid)}`))).toBe(false);
    }
    const keepWarmDir = '/sys/fs/cgroup/freezer/cgfreeze-keepwarm';
    const keepWarmLeft = existsSync(keepWarmDir) ? readdirSync(keepWarmDir) : [];
    expect(keepWarmLeft.filter((n) => n.startsWith(`${String(pid)}-`))).toEqual([]);
  }, 420_000);
});
