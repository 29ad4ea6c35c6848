import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { CgfreezeError } from '../errors.js';
import type { ResolveOptions } from '../resolve/index.js';
import type { EngineView } from './targets.js';

export type HealthStatus = 'starting' | 'healthy' | 'unhealthy';

/** Docker data roots to look in: the ones given, else daemon.json's data-root and the default. */
function dockerDataRoots(ropts: ResolveOptions): string[] {
  if (ropts.docker !== undefined) return ropts.docker.map((d) => d.dataRoot);
  const roots = ['/var/lib/docker'];
  try {
    const conf = JSON.parse(readFileSync(`${ropts.hostRoot ?? ''}/etc/docker/daemon.json`, 'utf8')) as { 'data-root'?: unknown };
    if (typeof conf['data-root'] === 'string') roots.unshift(conf['data-root']);
  } catch {
    // No daemon.json (the common case) or unreadable: the default root.
  }
  return roots;
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
  throw new CgfreezeError('ERR_STATE_FILE', `cannot read docker's state of ${c.name ?? c.id}; pass --docker-root if the daemon uses another data root`);
}

/**
 * Waits until docker reports the container healthy, reading its state file
 * every 100 ms, the way scripts loop on `docker inspect`. Returns false when
 * there is no health check to wait for.
 */
export async function waitHealthy(label: string, c: EngineView, ropts: ResolveOptions, timeoutMs: number): Promise<boolean> {
  if (c.engine !== 'docker') return false;
  const deadline = performance.now() + timeoutMs;
  let status = dockerHealth(c, ropts);
  if (status === undefined) return false;
  while (status !== 'healthy') {
    if (performance.now() >= deadline) {
      throw new CgfreezeError('ERR_HEALTH_TIMEOUT', `Container ${label} is still ${status} after ${Math.round(timeoutMs / 1000)}s; raise --timeout or check its health log (docker inspect)`, {
        target: label,
      });
    }
    await sleep(100);
    status = dockerHealth(c, ropts);
  }
  return true;
}
