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

  it('names errnos and lists unique codes', () => {
    expect(errnoName(2)).toBe('ENOENT');
    expect(errnoName(-13)).toBe('EACCES');
    expect(new Set(ERROR_CODES).size).toBe(ERROR_CODES.length);
  });
});
