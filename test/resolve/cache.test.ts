// The cache's cheap checks against the real kernel: a held /proc file of a
// real process, and a state file rewritten by rename as Docker does it.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CachedResolution, type Found } from '../../src/resolve/cache.js';
import { Host } from '../../src/resolve/host.js';

function startTime(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
}

function writeByRename(path: string, text: string): void {
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
}

describe('CachedResolution on the real kernel', () => {
  let dir: string;
  let child: ChildProcess;
  let found: Found;
  const host = new Host(undefined, undefined);

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'cgfreeze-cache-'));
    child = spawn('sleep', ['1000'], { stdio: 'ignore' });
    const pid = child.pid as number;
    const state = join(dir, 'config.v2.json');
    writeByRename(state, '{"State":{"Paused":false}}');
    const st = statSync(state, { bigint: true });
    found = {
      resolved: {
        kind: 'container',
        ref: 'x',
        engine: 'docker',
        id: 'x',
        initPid: pid,
        cgroupDir: dir,
        freezeFile: `${dir}/f`,
        cgroupVersion: 'v2',
        cgroupIdentity: `${statSync(dir).dev}:${statSync(dir).ino}`,
        labels: {},
        pausedByEngine: false,
      },
      located: {
        hierarchyPath: '/x',
        cgroupDir: dir,
        freezeFile: `${dir}/f`,
        cgroupVersion: 'v2',
        startTime: startTime(pid),
        identity: `${statSync(dir).dev}:${statSync(dir).ino}`,
      },
      stateFile: {
        path: state,
        stamp: {
          ino: Number(st.ino),
          size: Number(st.size),
          mtimeSec: Number(st.mtimeNs / 1_000_000_000n),
          mtimeNsec: Number(st.mtimeNs % 1_000_000_000n),
        },
      },
    };
  });

  afterEach(async () => {
    child.kill('SIGKILL');
    await exited(child);
    rmSync(dir, { recursive: true, force: true });
  });

  it('holds while nothing changed', () => {
    const entry = CachedResolution.open(found, host);
    expect(entry).toBeDefined();
    expect(entry?.valid()).toBe(true);
    expect(entry?.validFor('freeze')).toBe(true);
    expect(entry?.validFor('thaw')).toBe(true);
    entry?.close();
  });

  it('is refused when the start time does not match the process now at that pid', () => {
    const entry = CachedResolution.open(
      { ...found, located: { ...found.located, startTime: found.located.startTime - 1 } },
      host,
    );
    expect(entry).toBeUndefined();
  });

  it('fails for a freeze once the init process has exited; a thaw does not need it', async () => {
    const entry = CachedResolution.open(found, host);
    child.kill('SIGKILL');
    await exited(child);
    expect(entry?.validFor('freeze')).toBe(false);
    expect(entry?.valid()).toBe(false);
    expect(entry?.validFor('thaw')).toBe(true);
    entry?.close();
  });

  it('fails for a thaw once the state file was rewritten (a docker pause)', () => {
    const entry = CachedResolution.open(found, host);
    writeByRename(found.stateFile?.path as string, '{"State":{"Paused":true}}');
    expect(entry?.validFor('thaw')).toBe(false);
    expect(entry?.valid()).toBe(false);
    expect(entry?.validFor('freeze')).toBe(true);
    entry?.close();
  });

  it('fails the full check once the directory it resolved to is recreated', () => {
    const entry = CachedResolution.open(found, host);
    const moved = `${dir}.old`;
    renameSync(dir, moved);
    try {
      writeFileSync(dir, '');
      expect(entry?.valid()).toBe(false);
    } finally {
      rmSync(dir, { force: true });
      renameSync(moved, dir);
    }
    entry?.close();
  });
});
