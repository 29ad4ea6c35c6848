import { describe, expect, it } from 'vitest';
import { METHOD_IDS, UsageError, helpText, parseOptions } from '../../scripts/bench/options.js';

const at = new Date('2026-01-02T03:04:05.678Z');

describe('bench options', () => {
  it('defaults to the full run, and --quick to the CI size', () => {
    expect(parseOptions([], at)).toEqual({
      quick: false,
      cycles: 1000,
      containerCycles: 100,
      tasks: [1, 10, 100, 1000],
      modes: ['v1', 'v2'],
      only: new Set(['scratch', 'containers', 'batch', 'stuck', 'resolve']),
      methods: undefined,
      out: 'bench-results/2026-01-02T03-04-05-678Z',
      labs: ['host', 'v2'],
      batch: [1, 10, 50],
      rounds: 5,
      sidecarCpuProf: undefined,
    });
    expect(parseOptions(['--quick'], at)).toMatchObject({
      quick: true,
      cycles: 40,
      containerCycles: 8,
      tasks: [1, 100],
      batch: [1, 10],
      rounds: 2,
    });
  });

  it('reads lists and numbers, in both --name value and --name=value form', () => {
    expect(
      parseOptions(
        ['--only', 'scratch,stuck', '--tasks=1,100', '--modes', 'v2', '--methods', 'raw-c', '--cycles=7'],
        at,
      ),
    ).toMatchObject({
      only: new Set(['scratch', 'stuck']),
      tasks: [1, 100],
      modes: ['v2'],
      methods: new Set(['raw-c']),
      cycles: 7,
    });
  });

  it('returns nothing for --help, and the help names every option the parser takes', () => {
    expect(parseOptions(['--cycles', '5', '--help'], at)).toBeUndefined();
    const help = helpText();
    const flags = [...help.matchAll(/^ {2}(--[a-z-]+)( [A-Z]+)?/gm)].map((m) => [m[1] ?? '', m[2] !== undefined]);
    expect(flags.map(([flag]) => flag)).toEqual([
      '--quick',
      '--cycles',
      '--container-cycles',
      '--tasks',
      '--modes',
      '--only',
      '--methods',
      '--labs',
      '--batch',
      '--out',
      '--sidecar-cpu-prof',
      '--help',
    ]);
    const sample: Record<string, string> = { '--modes': 'v1', '--only': 'stuck', '--methods': 'raw-c', '--labs': 'v2' };
    for (const [flag, takesValue] of flags) {
      const args = takesValue ? [String(flag), sample[String(flag)] ?? '3'] : [String(flag)];
      expect(() => parseOptions(args, at)).not.toThrow();
    }
    for (const id of METHOD_IDS) expect(help).toContain(id);
  });

  it('refuses what it does not know, with a message that names it', () => {
    const refused = (args: string[]): string => {
      let thrown: unknown;
      try {
        parseOptions(args, at);
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(UsageError);
      return (thrown as UsageError).message;
    };
    expect(refused(['--bogus'])).toMatch(/--bogus/);
    expect(refused(['--cycles', '0'])).toMatch(/--cycles.*"0"/);
    expect(refused(['--cycles', '1e3'])).toMatch(/--cycles/);
    expect(refused(['--tasks', '1,x'])).toMatch(/--tasks.*"x"/);
    expect(refused(['--modes', 'v3'])).toMatch(/--modes: unknown "v3"/);
    expect(refused(['--only', 'scratch,sidecars'])).toMatch(/--only: unknown "sidecars"/);
    expect(refused(['--methods', 'dockerd'])).toMatch(/--methods: unknown "dockerd"/);
    expect(refused(['--labs', ','])).toMatch(/--labs needs at least one value/);
    expect(refused(['--cycles'])).toMatch(/--cycles/);
    expect(refused(['extra'])).toMatch(/extra/);
  });
});
