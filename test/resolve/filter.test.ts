import { describe, expect, it } from 'vitest';
import { listSync, parseContainerFilter, parseSize, type ListedContainer } from '../../src/index.js';
import { compileFilter } from '../../src/resolve/filter.js';
import { errorWith } from '../helpers/matchers.js';

// The one filter grammar: docker-style --filter text, and the typed filter list() matches.
describe('parseContainerFilter', () => {
  it('reads label, status and memory conditions; each kind collects every entry', () => {
    expect(
      parseContainerFilter([
        'label=tier',
        'label=x=a=b',
        'status=paused',
        'status=running',
        'memory<80%',
        'memory > 1g',
      ]),
    ).toEqual({
      label: ['tier', 'x=a=b'],
      status: ['paused', 'running'],
      memory: [
        { op: '<', percent: 80 },
        { op: '>', bytes: 2 ** 30 },
      ],
    });
    expect(parseContainerFilter([])).toEqual({});
  });

  it.each([
    ['4096', 4096],
    ['4096B', 4096],
    ['512k', 512 * 1024],
    ['512KiB', 512 * 1024],
    ['512MiB', 512 * 2 ** 20],
    ['512mb', 512 * 2 ** 20],
    ['1.5GiB', 1.5 * 2 ** 30],
    ['2t', 2 * 2 ** 40],
  ])('size %s is %d bytes (binary units, as docker --memory)', (text, bytes) => expect(parseSize(text)).toBe(bytes));

  it.each(['', 'MiB', '-1', '1.5.5g', '12 34', '5x', '5ib', '1e3', `${'9'.repeat(40)}`])('size %j is refused', (text) =>
    expect(parseSize(text)).toBeUndefined(),
  );

  it.each([
    ['name=web', /unsupported filter "name=web"; use label=KEY/],
    ['label=', /unsupported filter "label="/],
    ['status=exited', /unsupported status in filter "status=exited"; use status=running or status=paused/],
    ['memory<=80%', /memory compares with < or >/],
    ['memory=80%', /unsupported filter "memory=80%"/],
    ['memory<180%', /use a percentage from 0% to 100%/],
    ['memory<lots', /invalid memory size in filter "memory<lots"/],
  ] as Array<[string, RegExp]>)('%s is refused with ERR_INVALID_ARG', (text, message) => {
    expect(() => parseContainerFilter([text])).toThrow(errorWith({ code: 'ERR_INVALID_ARG' }));
    expect(() => parseContainerFilter([text])).toThrow(message);
  });
});

function container(over: Partial<ListedContainer>): ListedContainer {
  return { engine: 'docker', id: 'x', labels: {}, running: true, pausedByEngine: false, freezer: 'thawed', ...over };
}

describe('matching', () => {
  const mem = (usageBytes: number, limitBytes: number | null): Partial<ListedContainer> => ({
    memory: { usageBytes, limitBytes },
  });

  it('a share of the limit never matches a container without a limit or without a memory reading', () => {
    const below80 = compileFilter({ memory: { op: '<', percent: 80 } });
    expect(below80.after(container(mem(50, 100)))).toBe(true);
    expect(below80.after(container(mem(90, 100)))).toBe(false);
    expect(below80.after(container(mem(50, null)))).toBe(false);
    expect(below80.after(container({}))).toBe(false);
    const above80 = compileFilter({ memory: { op: '>', percent: 80 } });
    expect(above80.after(container(mem(50, null)))).toBe(false);
  });

  it('memory conditions all hold (a range); sizes compare the use', () => {
    const range = compileFilter({
      memory: [
        { op: '>', bytes: 100 },
        { op: '<', bytes: 200 },
      ],
    });
    expect([50, 150, 250].map((u) => range.after(container(mem(u, null))))).toEqual([false, true, false]);
  });

  it('status: paused is frozen or freezing (by anyone) or paused by the engine; several statuses are any of them', () => {
    const paused = compileFilter({ status: 'paused' });
    expect(paused.after(container({ freezer: 'frozen' }))).toBe(true);
    expect(paused.after(container({ freezer: 'freezing' }))).toBe(true);
    expect(paused.after(container({ pausedByEngine: true }))).toBe(true);
    expect(paused.after(container({}))).toBe(false);
    expect(paused.after(container({ running: false }))).toBe(false);
    const either = compileFilter({ status: ['paused', 'running'] });
    expect(either.after(container({}))).toBe(true);
    expect(either.after(container({ running: false }))).toBe(false);
  });

  it('label and engine decide before the cgroup is read; every key must match', () => {
    const f = compileFilter({ label: ['a', 'b=2'], engine: 'docker', status: 'running' });
    expect(f.before('docker', { a: '', b: '2' })).toBe(true);
    expect(f.before('docker', { a: '' })).toBe(false);
    expect(f.before('podman', { a: '', b: '2' })).toBe(false);
  });

  it.each([
    [{ status: 'exited' }, /filter.status takes 'running' or 'paused'/],
    [{ memory: { op: '<=', percent: 80 } }, /a memory filter is/],
    [{ memory: { op: '<', percent: 120 } }, /a memory filter is/],
    [{ memory: { op: '<', bytes: 1, percent: 1 } }, /a memory filter is/],
    [{ label: [3] }, /filter.label takes strings/],
    ['status=paused', /filter must be an object/],
  ] as Array<[unknown, RegExp]>)('list() refuses the typed filter %j with ERR_INVALID_ARG', (filter, message) => {
    const call = (): unknown => listSync({ filter: filter as never, engines: [] });
    expect(call).toThrow(errorWith({ code: 'ERR_INVALID_ARG' }));
    expect(call).toThrow(message);
  });
});
