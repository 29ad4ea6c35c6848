/**
 * Pause/resume latency of one target three ways, side by side in one run:
 * the direct API (freeze/thaw in this process), the sidecar through its unix
 * socket (cgfreeze/client), and the Docker Engine API (POST /containers/<id>/pause).
 *
 *   vite-node test/serve/latency.ts -- --cgroup DIR --sidecar SOCK [--docker SOCK --container ID] [--n 200]
 *
 * Prints one JSON object with median and p99 in ms per path and operation.
 * Not a test: numbers belong to the issue note, not to assertions.
 */
import { request, Agent } from 'node:http';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { CgfreezeClient } from '../../src/client/index.js';
import { freeze, thaw } from '../../src/index.js';

const { values } = parseArgs({
  options: {
    cgroup: { type: 'string' },
    sidecar: { type: 'string' },
    docker: { type: 'string' },
    container: { type: 'string' },
    n: { type: 'string', default: '200' },
  },
});
const n = Number(values.n);

function summary(samples: number[]): { median: number; p99: number } {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number): number => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
  return { median: Number(at(0.5).toFixed(3)), p99: Number(at(0.99).toFixed(3)) };
}

interface Path {
  name: string;
  pause: () => Promise<unknown>;
  resume: () => Promise<unknown>;
  samples: { pause: number[]; resume: number[] };
  /** Cycles that failed (reported, not timed): dockerd under load sometimes answers "unable to freeze". */
  failures: string[];
}

/** Interleaves the paths cycle by cycle, so a noisy machine hits them all alike. */
async function measure(paths: Path[]): Promise<void> {
  for (let i = 0; i < n + 10; i++) {
    for (const path of paths) {
      let t = performance.now();
      let pt: number;
      let rt: number;
      try {
        await path.pause();
        pt = performance.now() - t;
        t = performance.now();
        await path.resume();
        rt = performance.now() - t;
      } catch (err) {
        path.failures.push(String(err).slice(0, 200));
        await path.resume().catch(() => undefined);
        continue;
      }
      // The first cycles warm connections and handles.
      if (i >= 10) {
        path.samples.pause.push(pt);
        path.samples.resume.push(rt);
      }
    }
  }
}

const docker = values.docker;
const dockerAgent = new Agent({ keepAlive: true });
/**
 * dockerd records a pause when containerd's event arrives, after the API call
 * returned; an unpause right behind it can hear "is not paused". Retried, and
 * the retries count: that is what a caller of the Engine API waits.
 */
async function dockerPost(path: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await dockerPostOnce(path);
      return;
    } catch (err) {
      if (attempt >= 1000 || !/is not paused|is already paused|is paused/.test(String(err))) throw err;
      await new Promise((r) => setTimeout(r, 1));
    }
  }
}

function dockerPostOnce(path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: docker, method: 'POST', path, agent: dockerAgent }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () =>
        res.statusCode === 204 ? resolve() : reject(new Error(`docker ${path}: HTTP ${res.statusCode} ${body}`)),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

async function main(): Promise<void> {
  const paths: Path[] = [];
  const add = (name: string, pause: () => Promise<unknown>, resume: () => Promise<unknown>): void => {
    paths.push({ name, pause, resume, samples: { pause: [], resume: [] }, failures: [] });
  };
  const client = values.sidecar === undefined ? undefined : new CgfreezeClient({ socketPath: values.sidecar });
  if (values.cgroup !== undefined) {
    const cgroup = values.cgroup;
    add(
      'direct',
      () => freeze({ cgroup }),
      () => thaw({ cgroup }),
    );
    if (client !== undefined)
      add(
        'sidecar',
        () => client.pause(cgroup),
        () => client.unpause(cgroup),
      );
  }
  if (docker !== undefined && values.container !== undefined) {
    const id = values.container;
    add(
      'dockerEngineApi',
      () => dockerPost(`/containers/${id}/pause`),
      () => dockerPost(`/containers/${id}/unpause`),
    );
  }
  await measure(paths);
  client?.close();
  dockerAgent.destroy();
  const out: Record<string, unknown> = { n, loadavg: os.loadavg().map((l) => Number(l.toFixed(1))) };
  for (const p of paths) {
    out[p.name] = {
      pause: summary(p.samples.pause),
      resume: summary(p.samples.resume),
      failed: p.failures.length,
      firstFailure: p.failures[0],
    };
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`${String(err)}\n`);
  process.exitCode = 1;
});
