import { describe, expect, it } from 'vitest';
import { CgfreezeError, ERROR_CODES, errnoName, fromSystemError } from '../../src/errors.js';

describe('CgfreezeError', () => {
  it('is a real Error subclass with a stable code and a stack', () => {
    const err = new CgfreezeError('ERR_FREEZE_TIMEOUT', 'took too long', { path: '/x', rolledBack: true });
    expect(err).toBeInstanceOf(Error);
    expect(err).toBeInstanceOf(CgfreezeError);
    expect(err.name).toBe('CgfreezeError');
    expect(err.code).toBe('ERR_FREEZE_TIMEOUT');
    expect(err.path).toBe('/x');
    expect(err.rolledBack).toBe(true);
    expect(err.stack).toContain('took too long');
    expect('errno' in err).toBe(false);
  });

  it('keeps errno, syscall and path of a native error and names the code', () => {
    const native = Object.assign(new Error('openat /x/freezer.state: Permission denied'), {
      errno: 13,
      syscall: 'openat',
      path: '/x/freezer.state',
    });
    const err = fromSystemError(native, 'web');
    expect(err).toMatchObject({
      code: 'EACCES',
      errno: 13,
      syscall: 'openat',
      path: '/x/freezer.state',
      target: 'web',
    });
    expect(err.cause).toBe(native);
  });

  it('maps ENODEV (a removed cgroup) to ERR_CGROUP_GONE, from native and from node:fs errors', () => {
    const fsError = Object.assign(new Error('ENODEV'), { errno: -19, code: 'ENODEV', syscall: 'read', path: '/x' });
    expect(fromSystemError(fsError).code).toBe('ERR_CGROUP_GONE');
    expect(fromSystemError(fsError).errno).toBe(19);
  });

  it('reports a non-errno throw as a bug (ERR_INTERNAL), never as bad input', () => {
    for (const thrown of [new Error('undefined is not a function'), new TypeError('x'), 'a string', undefined]) {
      const err = fromSystemError(thrown, 'web');
      expect(err.code).toBe('ERR_INTERNAL');
      expect(err.message).toMatch(/internal error in cgfreeze/);
      expect(err.cause).toBe(thrown);
    }
  });

  it('keeps the cgfreeze code of a native finding that is not a failed call', () => {
    const finding = Object.assign(new Error('not on a cgroup filesystem: /tmp'), {
      code: 'ERR_NOT_A_CGROUP',
      path: '/tmp',
    });
    expect(fromSystemError(finding)).toMatchObject({ code: 'ERR_NOT_A_CGROUP', path: '/tmp' });
    expect(fromSystemError(finding).errno).toBeUndefined();
    // A code we do not own (node's own ERR_ codes) is not trusted as ours.
    const foreign = Object.assign(new Error('x'), { code: 'ERR_SOMETHING_ELSE' });
    expect(fromSystemError(foreign).code).toBe('ERR_INTERNAL');
  });

  it('names errnos and lists unique codes', () => {
    expect(errnoName(2)).toBe('ENOENT');
    expect(errnoName(-13)).toBe('EACCES');
    expect(errnoName(4095)).toBe('ERR_SYSTEM');
    expect(new Set(ERROR_CODES).size).toBe(ERROR_CODES.length);
  });
});
