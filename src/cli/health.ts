import { setTimeout as sleep } from 'node:timers/promises';
import { CgfreezeError } from '../errors.js';
import { type HealthStatus, type ResolveOptions, resolveSync } from '../index.js';
import type { EngineView } from './targets.js';

/** Engines that record a container's health on disk: Docker (`State.Health`), Podman (`healthcheck.log`). */
const RECORDS_HEALTH = new Set(['docker', 'podman']);

/**
 * The engine's health as it persists it after every probe, read afresh (the cache would hand back the
 * health it saw first). undefined: the container has no health check.
 */
function recordedHealth(c: EngineView, ropts: ResolveOptions): HealthStatus | undefined {
  return resolveSync(c.id, { ...ropts, engines: [c.engine], cache: false }).health;
}

/** Why there is nothing to wait for, as a sentence after the container's name. */
export function noHealthCheck(c: EngineView): string {
  if (RECORDS_HEALTH.has(c.engine)) return 'has no health check';
  return c.engine === 'containerd'
    ? 'is a containerd task: containerd has no health checks (Kubernetes probes run in the kubelet)'
    : 'is a CRI-O container: CRI-O has no health checks (Kubernetes probes run in the kubelet)';
}

/**
 * Waits until the engine reports the container healthy, reading its record every 100 ms, the way
 * scripts loop on `docker inspect`. Returns false when there is no health check to wait for.
 */
export async function waitHealthy(
  label: string,
  c: EngineView,
  ropts: ResolveOptions,
  timeoutMs: number,
): Promise<boolean> {
  if (!RECORDS_HEALTH.has(c.engine)) return false;
  const deadline = performance.now() + timeoutMs;
  let status = recordedHealth(c, ropts);
  if (status === undefined) return false;
  while (status !== 'healthy') {
    if (performance.now() >= deadline) {
      throw new CgfreezeError(
        'ERR_HEALTH_TIMEOUT',
        `Container ${label} is still ${status} after ${Math.round(timeoutMs / 1000)}s; raise --timeout or check its health log (${c.engine} inspect)`,
        { target: label },
      );
    }
    await sleep(100);
    status = recordedHealth(c, ropts);
  }
  return true;
}
