// "Resolving one container among 1,000 on disk must take milliseconds": times
// resolveSync against a fake host of 1,000 Docker containers (the resolver's
// own fixture generator), uncached as on a first call and cached as on every
// later one. Reading files is all resolution does, so a fake host is honest.
import { clearResolveCache, resolveSync } from '../../src/index.js';
import { manyDockerHost } from '../../test/fixtures/hosts/many.js';
import { formatNs, summarize } from './stats.js';

const CONTAINERS = 1000;

function time(samples: number, fn: () => void): number[] {
  const ns: number[] = [];
  for (let i = 0; i < samples; i++) {
    const t0 = process.hrtime.bigint();
    fn();
    ns.push(Number(process.hrtime.bigint() - t0));
  }
  return ns;
}

/** One line per way of naming the container, for the report's notes. */
export function runResolve(quick: boolean): string[] {
  const many = manyDockerHost(CONTAINERS);
  const samples = quick ? 5 : 50;
  try {
    const lines: string[] = [];
    for (const [how, ref] of [
      ['full ID', many.id],
      ['name', many.name],
      ['12-character ID prefix', many.prefix],
    ] as const) {
      const uncached = summarize(time(samples, () => resolveSync(ref, { hostRoot: many.host.root, cache: false })));
      clearResolveCache();
      resolveSync(ref, { hostRoot: many.host.root });
      const cached = summarize(time(samples * 10, () => resolveSync(ref, { hostRoot: many.host.root })));
      lines.push(
        `resolve one of ${CONTAINERS} Docker containers on disk by ${how}: uncached p50 ${formatNs(uncached.p50)} ` +
          `(max ${formatNs(uncached.max)}), cached and revalidated p50 ${formatNs(cached.p50)}`,
      );
    }
    return lines;
  } finally {
    clearResolveCache();
    many.host.remove();
  }
}
