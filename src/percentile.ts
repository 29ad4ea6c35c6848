/**
 * Percentiles as cgfreeze reports them (the demo, `npm run bench`): nearest
 * rank. The p-th percentile of n ascending samples is the sample at rank
 * ceil(p/100 × n), counting from 1: the smallest sample with at least p% of
 * the samples at or below it. Every figure is a latency that really happened
 * (no interpolation between two cycles); p50 of 10 samples is the 5th, p99 of
 * 1000 is the 990th.
 */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) throw new RangeError('percentile of no samples');
  if (!(p > 0 && p <= 100)) throw new RangeError(`percentile must be in (0, 100], got ${p}`);
  // p × n first: (p / 100) × n rounds up past whole ranks (0.07 × 100 = 7.000000000000001).
  const rank = Math.ceil((p * sorted.length) / 100);
  return sorted[Math.min(rank, sorted.length) - 1] as number;
}
