import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { CgfreezeError } from '../errors.js';
import { defaultDockerRoots } from '../resolve/engines/docker.js';
import { Host } from '../resolve/host.js';
import type { ResolveOptions } from '../resolve/index.js';
import type { EngineView } from './targets.js';

export type HealthStatus = 'starting' | 'healthy' | 'unhealthy';

/** Docker data roots to look in: the ones given, else those the resolver finds (running dockerd, daemon.json, defaults). */
function dockerDataRoots(ropts: ResolveOptions): string[] {
  return (ropts.docker ?? defaultDockerRoots(new Host(ropts.hostRoot))).map((d) => d.dataRoot);
}

/**
 * Docker's health as it persists it after every probe (`State.Health` in
 * config.v2.json). undefined: the container has no health check.
 */
export function dockerHealth(c: EngineView, ropts: ResolveOptions): HealthStatus | undefined {
  for (const root of dockerDataRoots(ropts)) {
    let text: string;
    try {
      text = readFileSync(`${ropts.hostRoot ?? ''}${root}/containers/${c.id}/config.v2.json`, 'utf8');
    } catch {
      continue;
    }
    const state = (JSON.parse(text) as { State?: { Health?: { Status?: unknown } | null } }).State;
    const status = state?.Health?.Status;
    return status === 'starting' || status === 'healthy' || status === 'unhealthy' ? status : undefined;
  }
  throw new CgfreezeError(
    'ERR_STATE_FILE',
    `cannot read docker's state of ${c.name ?? c.id}; pass --docker-root if the daemon uses another data root`,
  );
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
