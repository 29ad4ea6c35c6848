import { describe, expect, it } from 'vitest';
import { cdfPoints, formatNs, formatRatio, percentile, summarize } from '../../scripts/bench/stats.js';

describe('percentile (nearest rank)', () => {
  const oneToHundred = Array.from({ length: 100 }, (_, i) => i + 1);

  it('returns the sample at rank ceil(p/100 * n)', () => {
    expect(percentile(oneToHundred, 50)).toBe(50);
    expect(percentile(oneToHundred, 90)).toBe(90);
    expect(percentile(oneToHundred, 99)).toBe(99);
    expect(percentile(oneToHundred, 100)).toBe(100);
    expect(percentile(oneToHundred, 0.5)).toBe(1);
  });

  it('never interpolates between samples', () => {
    expect(percentile([10, 20], 50)).toBe(10);
    expect(percentile([10, 20, 30, 40], 50)).toBe(20);
    expect(percentile([10, 20, 30, 40], 51)).toBe(30);
  });

  it('gives the single sample for every p', () => {
    expect(percentile([7], 1)).toBe(7);
    expect(percentile([7], 99)).toBe(7);
  });

  it('puts p99 of 1000 samples on the 990th', () => {
    const xs = Array.from({ length: 1000 }, (_, i) => i);
    expect(percentile(xs, 99)).toBe(989);
  });

  it('rejects empty input and p outside (0, 100]', () => {
    expect(() => percentile([], 50)).toThrow(RangeError);
    expect(() => percentile([1], 0)).toThrow(RangeError);
    expect(() => percentile([1], 101)).toThrow(RangeError);
    expect(() => percentile([1], Number.NaN)).toThrow(RangeError);
  });
});

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
