import { setTimeout as sleep } from 'node:timers/promises';
import { CgfreezeError } from '../errors.js';
import { type HealthStatus, type ResolveOptions, resolveSync } from '../index.js';
import type { EngineView } from './targets.js';

/**
 * Docker's health as it persists it after every probe, read afresh (the cache would hand back the
 * health it saw first). undefined: the container has no health check.
 */
function dockerHealth(c: EngineView, ropts: ResolveOptions): HealthStatus | undefined {
  return resolveSync(c.id, { ...ropts, engines: ['docker'], cache: false }).health;
}

/**
 * Waits until docker reports the container healthy, reading its state file
 * every 100 ms, the way scripts loop on `docker inspect`. Returns false when
 * there is no health check to wait for.
 */
export async function waitHealthy(
  label: string,
  c: EngineView,
  ropts: ResolveOptions,
  timeoutMs: number,
): Promise<boolean> {
  if (c.engine !== 'docker') return false;
  const deadline = performance.now() + timeoutMs;
  let status = dockerHealth(c, ropts);
  if (status === undefined) return false;
  while (status !== 'healthy') {
    if (performance.now() >= deadline) {
      throw new CgfreezeError(
        'ERR_HEALTH_TIMEOUT',
        `Container ${label} is still ${status} after ${Math.round(timeoutMs / 1000)}s; raise --timeout or check its health log (docker inspect)`,
        {
          target: label,
        },
      );
    }
    await sleep(100);
    status = dockerHealth(c, ropts);
  }
  return true;
}
