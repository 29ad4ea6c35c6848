import { type Workload, type WorkloadOptions, startWorkload } from '../../scripts/workload/index.js';

/** Runs `fn` with a workload in `dir`, stopped afterwards whatever happens. */
export async function withWorkload<T>(
  dir: string,
  fn: (w: Workload) => Promise<T>,
  options: WorkloadOptions = {},
): Promise<T> {
  const w = await startWorkload(dir, options);
  try {
    return await fn(w);
  } finally {
    await w.stop();
  }
}
