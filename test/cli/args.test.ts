import { describe, expect, it } from 'vitest';
import { formatMs, labelsFilterStrings, parseFilters } from '../../src/cli/args.js';
import { parseDuration } from '../../src/client/index.js';
import { colorEnabled, formatTable } from '../../src/cli/output.js';
import { errorWith } from '../helpers/matchers.js';

// The one duration grammar: the CLI's --for and --timeout, the sidecar's ttl and its own time options.
describe('parseDuration', () => {
  it.each([
    ['30s', 30_000],
    ['1m30s', 90_000],
    ['250ms', 250],
    ['1.5h', 5_400_000],
    ['10', 10_000],
    ['0.5', 500],
    ['100us', 0.1],
  ])('%s is %d ms', (text, ms) => expect(parseDuration(text)).toBe(ms));
  it.each(['', 's', '10x', '1m 30s', '-5s', 'soon', ' 30s', '1'.repeat(100) + 's', 30])('rejects %j', (text) =>
    expect(parseDuration(text)).toBeUndefined(),
  );
  it.each([
    [250, '250ms'],
    [1500, '1.5s'],
    [90_000, '1m30s'],
    [600_000, '10m'],
  ])('formats %d ms as %s, which parses back', (ms, text) => {
    expect(formatMs(ms)).toBe(text);
    expect(parseDuration(text)).toBe(ms);
  });
});

describe('label filters', () => {
  it('parses label=KEY and label=KEY=VALUE (values may hold =)', () => {
    expect(parseFilters('ls', ['label=tier', 'label=role=web', 'label=x=a=b'])).toEqual([
      { key: 'tier' },
      { key: 'role', value: 'web' },
      { key: 'x', value: 'a=b' },
    ]);
  });
  it('hands the resolver KEY or KEY=VALUE', () => {
    expect(labelsFilterStrings(parseFilters('ls', ['label=tier', 'label=x=a=b']))).toEqual(['tier', 'x=a=b']);
  });
  it('refuses other filters as usage errors', () => {
    expect(() => parseFilters('ls', ['name=web'])).toThrow(errorWith({ code: 'ERR_INVALID_ARG' }));
    expect(() => parseFilters('ls', ['label='])).toThrow(/unsupported filter/);
  });
});

describe('output', () => {
  it('colour follows NO_COLOR, FORCE_COLOR, TERM=dumb and the terminal', () => {
    expect(colorEnabled({ isTTY: true }, {})).toBe(true);
    expect(colorEnabled({ isTTY: false }, {})).toBe(false);
    expect(colorEnabled({ isTTY: true }, { NO_COLOR: '1' })).toBe(false);
    expect(colorEnabled({ isTTY: true }, { NO_COLOR: '' })).toBe(true);
    expect(colorEnabled({ isTTY: true }, { TERM: 'dumb' })).toBe(false);
    expect(colorEnabled({ isTTY: false }, { FORCE_COLOR: '1' })).toBe(true);
    expect(colorEnabled({ isTTY: false }, { FORCE_COLOR: '0' })).toBe(false);
  });
  it('pads table columns three spaces apart, without trailing blanks', () => {
    expect(
      formatTable(
        ['A', 'LONGER'],
        [
          ['xyz', 'b'],
          ['', ''],
        ],
      ),
    ).toEqual(['A     LONGER', 'xyz   b', '']);
  });
});
