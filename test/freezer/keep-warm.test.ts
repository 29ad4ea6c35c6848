import { execFileSync, spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freeze, freezeSync, keepWarm, thawSync } from '../../src/index.js';
import { FREEZER_V1_MOUNT, createScratch } from '../helpers/scratch.js';

/** Where keepWarm() keeps its cgroups, as the README documents it. */
const parent = join(FREEZER_V1_MOUNT, 'cgfreeze-keepwarm');
const child = join(__dirname, 'fixtures', 'keep-warm-child.ts');
/** The built package (dist/ is built by the kernel tier's global setup), for a child in another mount namespace. */
const DIST = join(__dirname, '..', '..', 'dist', 'index.js');
const viteNode = join(__dirname, '..', '..', 'node_modules', '.bin', 'vite-node');
const created: string[] = [];

const state = (dir: string): string => readFileSync(join(dir, 'freezer.state'), 'utf8').trim();

/** Runs the child; resolves with the cgroup it printed and a way to kill it. */
function startChild(mode: 'exit' | 'hang'): Promise<{ dir: string; exited: Promise<void>; kill: () => void }> {
  return new Promise((resolve, reject) => {
    const p = spawn(viteNode, [child, mode], { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise<void>((r) => p.once('exit', () => r()));
    let out = '';
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) {
        const dir = out.trim();
        created.push(dir);
        resolve({ dir, exited, kill: () => p.kill('SIGKILL') });
      }
    });
    p.once('error', reject);
    p.once('exit', (code) => {
      if (!out.includes('\n')) reject(new Error(`child exited ${String(code)} before printing its cgroup`));
    });
  });
}

afterAll(() => {
  // Nothing may stay frozen, whatever happened above.
  for (const dir of created) {
    if (existsSync(dir)) {
      writeFileSync(join(dir, 'freezer.state'), 'THAWED');
      rmdirSync(dir);
    }
  }
});

describe('keepWarm', () => {
  // First in this file: nothing here has called keepWarm() yet.
  it('is never on by default: freezes and thaws of v1 cgroups hold no keepWarm cgroup', async () => {
    const scratch = createScratch();
    try {
      const dir = scratch.make(1);
      freezeSync(dir);
      await freeze(dir);
      thawSync(dir);
      const held = existsSync(parent) ? readdirSync(parent) : [];
      expect(held.filter((n) => n.startsWith(`${process.pid}-`))).toEqual([]);
    } finally {
      await scratch.cleanup();
    }
  });

  it('holds nothing on a host without a v1 freezer (cgroup2 only)', () => {
    // A private mount namespace without the v1 freezer mount: cgroup2's freezer needs no warming.
    const script = `const { keepWarm } = require(${JSON.stringify(DIST)});
      const h = keepWarm(); process.stdout.write(JSON.stringify({ cgroupDir: h.cgroupDir ?? null, held: h.held }));
      h.release();`;
    const out = execFileSync(
      'unshare',
      ['--mount', 'sh', '-c', `umount ${FREEZER_V1_MOUNT} && exec "$0" -e "$1"`, process.execPath, script],
      { encoding: 'utf8' },
    );
    expect(JSON.parse(out)).toEqual({ cgroupDir: null, held: false });
  });

  it('holds one frozen empty cgroup per process, shared by handles, removed with the last release', () => {
    const a = keepWarm();
    const b = keepWarm();
    const dir = a.cgroupDir;
    if (dir === undefined) throw new Error('keepWarm found no v1 freezer');
    created.push(dir);
    expect(b.cgroupDir).toBe(dir);
    expect(dir.startsWith(parent + '/')).toBe(true);
    expect(basename(dir)).toMatch(new RegExp(`^${process.pid}-\\d+$`));
    expect(state(dir)).toBe('FROZEN');
    expect(readFileSync(join(dir, 'cgroup.procs'), 'utf8')).toBe('');

    a.release();
    a.release(); // idempotent: must not drop b's reference
    expect(a.held).toBe(false);
    expect(b.held).toBe(true);
    expect(state(dir)).toBe('FROZEN');

    b.release();
    expect(existsSync(dir)).toBe(false);
  });

  it('removes its cgroup when the process exits', async () => {
    const c = await startChild('exit');
    await c.exited;
    expect(existsSync(c.dir)).toBe(false);
  });

  it('adopts the frozen cgroup a killed process left behind, and removes other stale ones', async () => {
    const c = await startChild('hang');
    // A second leftover with a dead owner: pid 1 with a start time it never had, random so that
    // parallel runs never share it. Made before the kill, so the window in which another process's
    // keepWarm() could adopt the child's cgroup first is only the kill itself.
    const extra = join(parent, `1-${randomInt(1_000_000_000, 2_000_000_000)}`);
    mkdirSync(extra);
    created.push(extra);
    writeFileSync(join(extra, 'freezer.state'), 'FROZEN');
    const leftovers = [statSync(c.dir).ino, statSync(extra).ino];
    c.kill();
    await c.exited;
    expect(state(c.dir)).toBe('FROZEN');

    const h = keepWarm();
    const dir = h.cgroupDir;
    if (dir === undefined) throw new Error('keepWarm found no v1 freezer');
    created.push(dir);
    // Adopted, not made anew: one leftover renamed to this process's name, still frozen; the other removed.
    expect(leftovers).toContain(statSync(dir).ino);
    expect(existsSync(c.dir)).toBe(false);
    expect(existsSync(extra)).toBe(false);
    expect(state(dir)).toBe('FROZEN');
    const mine = readdirSync(parent).filter((n) => n.startsWith(`${process.pid}-`));
    expect(mine).toEqual([basename(dir)]);
    h.release();
    expect(existsSync(dir)).toBe(false);
  });
});
