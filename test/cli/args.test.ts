import { describe, expect, it } from 'vitest';
import { containerFilterOf, formatMs } from '../../src/cli/args.js';
import { parseDuration } from '../../src/client/index.js';
import { colorEnabled, formatBytes, formatTable } from '../../src/cli/output.js';
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

describe('--filter', () => {
  it('is the library grammar, every --filter in one typed filter', () => {
    expect(
      containerFilterOf('unpause', {
        filter: ['label=auto_resume=true', 'status=paused', 'memory<80%', 'memory>512MiB'],
      }),
    ).toEqual({
      label: ['auto_resume=true'],
      status: ['paused'],
      memory: [
        { op: '<', percent: 80 },
        { op: '>', bytes: 512 * 2 ** 20 },
      ],
    });
    expect(containerFilterOf('ls', {})).toBeUndefined();
  });
  it('turns a filter it cannot read into a usage error naming the command', () => {
    const read = (): unknown => containerFilterOf('ls', { filter: ['name=web'] });
    expect(read).toThrow(errorWith({ code: 'ERR_INVALID_ARG' }));
    expect(read).toThrow(/^unsupported filter "name=web"; .* \(see 'cgfreeze ls --help'\)$/);
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
  it('shows bytes in binary units, as docker stats does', () => {
    expect([0, 1023, 1536, 64 * 2 ** 20, 1.5 * 2 ** 30, 123.4 * 2 ** 20].map(formatBytes)).toEqual([
      '0B',
      '1023B',
      '1.5KiB',
      '64MiB',
      '1.5GiB',
      '123MiB',
    ]);
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
