import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CgfreezeError, freeze, freezeSync, thaw } from '../../src/index.js';
import { UNTOUCHED, kernelView } from '../helpers/kernel.js';
import { type Scratch, createScratch } from '../helpers/scratch.js';

let scratch: Scratch;
let tmp: string;
beforeAll(() => {
  scratch = createScratch();
  tmp = mkdtempSync(join(tmpdir(), 'cgfreeze-bad-'));
});
afterAll(async () => {
  rmSync(tmp, { recursive: true, force: true });
  await scratch.cleanup();
});

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CgfreezeError);
    return (err as CgfreezeError).code;
  }
  return undefined;
}

describe('targets that are not freezable cgroups', () => {
  it('a nonexistent path is ENOENT with the path attached', () => {
    const dir = `${scratch.root(2)}/missing`;
    let caught: unknown;
    try {
      freezeSync(dir);
    } catch (err) {
      caught = err;
    }
    expect(caught).toMatchObject({
      code: 'ENOENT',
      errno: 2,
      syscall: expect.stringMatching(/^\w+$/) as string,
      target: dir,
    });
    expect((caught as CgfreezeError).path).toContain('/missing');
  });

  it('a regular file inside a cgroup is not a cgroup', () => {
    expect(codeOf(() => freezeSync(`${scratch.root(1)}/freezer.state`))).toBe('ERR_NOT_A_CGROUP');
    expect(codeOf(() => freezeSync(`${scratch.root(2)}/cgroup.events`))).toBe('ERR_NOT_A_CGROUP');
  });

  it('paths outside any cgroup mount are refused', () => {
    writeFileSync(join(tmp, 'file'), 'x');
    expect(codeOf(() => freezeSync(join(tmp, 'file')))).toBe('ERR_NOT_A_CGROUP');
    expect(codeOf(() => freezeSync('/etc/passwd'))).toBe('ERR_NOT_A_CGROUP');
    expect(codeOf(() => freezeSync('/sys/fs/cgroupx/y'))).toBe('ERR_NOT_A_CGROUP');
  });

  it('`..` tricks are refused, even ones that would land in a cgroup', () => {
    expect(codeOf(() => freezeSync('/sys/fs/cgroup/freezer/../../../etc'))).toBe('ERR_NOT_A_CGROUP');
    expect(codeOf(() => freezeSync(`${scratch.root(1)}/../${scratch.name}`))).toBe('ERR_NOT_A_CGROUP');
  });

  it('symbolic links to a cgroup are refused', () => {
    const link = join(tmp, 'link-to-cgroup');
    symlinkSync(scratch.make(2), link);
    expect(codeOf(() => freezeSync(`${link}/x`))).toBe('ERR_NOT_A_CGROUP');
    expect(codeOf(() => freezeSync(link))).toBe('ERR_NOT_A_CGROUP');
  });

  it('the root cgroup of each hierarchy is refused', () => {
    expect(codeOf(() => freezeSync('/sys/fs/cgroup/freezer'))).toBe('ERR_ROOT_CGROUP');
    expect(codeOf(() => freezeSync('/sys/fs/cgroup/unified/'))).toBe('ERR_ROOT_CGROUP');
  });

  it('a v1 hierarchy without the freezer controller is refused', () => {
    expect(codeOf(() => freezeSync('/sys/fs/cgroup/memory/anything'))).toBe('ERR_FREEZER_UNAVAILABLE');
  });

  it('bad arguments and options are ERR_INVALID_ARG', async () => {
    for (const bad of [undefined, null, 42, '', {}, { cgroup: 'relative' }]) {
      expect(codeOf(() => freezeSync(bad as never))).toBe('ERR_INVALID_ARG');
    }
    expect(codeOf(() => freezeSync(scratch.root(2), { timeoutMs: -1 }))).toBe('ERR_INVALID_ARG');
    expect(codeOf(() => freezeSync(scratch.root(2), { timeout: 5 } as never))).toBe('ERR_INVALID_ARG');
    expect(codeOf(() => freezeSync(scratch.root(2), { signal: AbortSignal.timeout(5) } as never))).toBe(
      'ERR_INVALID_ARG',
    );
    expect(codeOf(() => freezeSync([]))).toBe('ERR_INVALID_ARG');
    expect(codeOf(() => freezeSync(scratch.root(2), { atomic: true } as never))).toBe('ERR_INVALID_ARG');
    await expect(freeze(scratch.root(2), { signal: 'no' as never })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
    await expect(thaw(scratch.root(2), { hostRoot: 'relative' })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
  });

  it('nothing was left frozen by any of the refusals', () => {
    for (const v of [1, 2] as const) expect(kernelView(scratch.root(v))).toEqual(UNTOUCHED);
  });
});

describe('cgroups that hold the caller', () => {
  // A child node process does the freezing, so the test runner never sits in a cgroup it freezes.
  const script = (body: string): string => `
    const fs = require('node:fs');
    const { freezeSync } = require(${JSON.stringify(join(__dirname, '../../dist/index.js'))});
    ${body}`;
  const run = (body: string): string => execFileSync(process.execPath, ['-e', script(body)], { encoding: 'utf8' });

  it.each([1, 2] as const)('v%i: our own cgroup is ERR_SELF_FREEZE, and nothing is written', (v) => {
    const dir = scratch.make(v);
    const out = run(`
      fs.writeFileSync(${JSON.stringify(dir)} + '/cgroup.procs', '0');
      try { freezeSync(${JSON.stringify(dir)}); console.log('froze'); } catch (e) { console.log(e.code, e.message); }
      fs.writeFileSync(${JSON.stringify(v === 1 ? '/sys/fs/cgroup/freezer' : '/sys/fs/cgroup/unified')} + '/cgroup.procs', '0');`);
    expect(out).toMatch(/^ERR_SELF_FREEZE .*this process is in it/);
    expect(kernelView(dir)).toEqual(UNTOUCHED);
  });

  it.each([1, 2] as const)('v%i: a parent of our cgroup, and the cgroup of an ancestor process, are refused', (v) => {
    const parent = scratch.make(v);
    const child = scratch.make(v, `${parent.slice(scratch.root(v).length + 1)}/inner`);
    const root = v === 1 ? '/sys/fs/cgroup/freezer' : '/sys/fs/cgroup/unified';
    // The middle process sits in `child`; its own child moves back to the root and tries to freeze `parent`.
    const out = run(`
      fs.writeFileSync(${JSON.stringify(child)} + '/cgroup.procs', '0');
      const { execFileSync } = require('node:child_process');
      const inner = ${JSON.stringify(
        script(`
        fs.writeFileSync('${root}/cgroup.procs', '0');
        try { freezeSync('${parent}'); console.log('froze'); } catch (e) { console.log(e.code, e.message); }`),
      )};
      process.stdout.write(execFileSync(process.execPath, ['-e', inner], { encoding: 'utf8' }));
      fs.writeFileSync('${root}/cgroup.procs', '0');`);
    expect(out).toMatch(/^ERR_SELF_FREEZE .*an ancestor of this process/);
    expect(kernelView(parent)).toEqual(UNTOUCHED);
  });
});
