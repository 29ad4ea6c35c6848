import { describe, expect, it } from 'vitest';
import { cdfPoints, formatNs, formatRatio, summarize } from '../../scripts/bench/stats.js';

describe('summarize', () => {
  it('sorts a copy and reports p50/p90/p99/max/mean', () => {
    const input = [5, 1, 4, 2, 3, 10, 9, 8, 7, 6];
    const s = summarize(input);
    expect(s).toEqual({ n: 10, p50: 5, p90: 9, p99: 10, max: 10, mean: 5.5 });
    expect(input[0]).toBe(5);
  });

  it('keeps a long tail in p99 and max', () => {
    const xs = [...Array.from({ length: 98 }, () => 100), 5000, 90_000];
    const s = summarize(xs);
    expect(s.p50).toBe(100);
    expect(s.p99).toBe(5000);
    expect(s.max).toBe(90_000);
  });
});

describe('cdfPoints', () => {
  it('steps once per distinct value and ends at 1', () => {
    expect(cdfPoints([3, 1, 2, 2])).toEqual([
      [1, 0.25],
      [2, 0.75],
      [3, 1],
    ]);
  });
});

describe('formatting', () => {
  it('picks a unit by magnitude', () => {
    expect(formatNs(850)).toBe('850 ns');
    expect(formatNs(12_345)).toBe('12.3 µs');
    expect(formatNs(4_560_000)).toBe('4.56 ms');
    expect(formatNs(250_000_000)).toBe('250 ms');
    expect(formatNs(1_200_000_000)).toBe('1.20 s');
  });

  it('prints ratios with sensible precision and a dash when undefined', () => {
    expect(formatRatio(1.071)).toBe('1.07×');
    expect(formatRatio(52.4)).toBe('52.4×');
    expect(formatRatio(1830.2)).toBe('1830×');
    expect(formatRatio(Number.NaN)).toBe('—');
  });
});
