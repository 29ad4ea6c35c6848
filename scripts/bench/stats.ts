/** Latency statistics for the benchmark. All values are nanoseconds. */
import { percentile } from '../../src/percentile.js';

export interface Summary {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

export function summarize(samples: readonly number[]): Summary {
  if (samples.length === 0) throw new RangeError('summary of no samples');
  const sorted = [...samples].sort((a, b) => a - b);
  let sum = 0;
  for (const s of sorted) sum += s;
  return {
    n: sorted.length,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1] as number,
    mean: sum / sorted.length,
  };
}

/** Points of the empirical CDF: (value, fraction of samples ≤ value), ascending. */
export function cdfPoints(samples: readonly number[]): Array<[number, number]> {
  const sorted = [...samples].sort((a, b) => a - b);
  const points: Array<[number, number]> = [];
  for (let i = 0; i < sorted.length; i++) {
    // Only the last of equal values carries the step.
    if (i + 1 < sorted.length && sorted[i + 1] === sorted[i]) continue;
    points.push([sorted[i] as number, (i + 1) / sorted.length]);
  }
  return points;
}

/** Human duration from nanoseconds: 850 ns, 12.3 µs, 4.56 ms, 1.20 s. */
export function formatNs(ns: number): string {
  if (!Number.isFinite(ns)) return '—';
  if (ns < 1e3) return `${Math.round(ns)} ns`;
  if (ns < 1e6) return `${trim(ns / 1e3)} µs`;
  if (ns < 1e9) return `${trim(ns / 1e6)} ms`;
  return `${trim(ns / 1e9)} s`;
}

function trim(v: number): string {
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
}

/** A ratio as shown in the tables: 1.07×, 52×, 1830×. */
export function formatRatio(r: number): string {
  if (!Number.isFinite(r) || r <= 0) return '—';
  return r >= 100 ? `${r.toFixed(0)}×` : r >= 10 ? `${r.toFixed(1)}×` : `${r.toFixed(2)}×`;
}
