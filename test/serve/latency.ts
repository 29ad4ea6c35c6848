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

async function measure(pause: () => Promise<unknown>, resume: () => Promise<unknown>): Promise<Record<string, { median: number; p99: number }>> {
  const p: number[] = [];
  const r: number[] = [];
  for (let i = 0; i < n + 10; i++) {
    let t = performance.now();
    await pause();
    const pt = performance.now() - t;
    t = performance.now();
    await resume();
    const rt = performance.now() - t;
    // The first cycles warm connections and handles.
    if (i >= 10) {
      p.push(pt);
      r.push(rt);
    }
  }
  return { pause: summary(p), resume: summary(r) };
}

const docker = values.docker;
const dockerAgent = new Agent({ keepAlive: true });
function dockerPost(path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: docker, method: 'POST', path, agent: dockerAgent }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 204 ? resolve() : reject(new Error(`docker ${path}: HTTP ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end();
  });
}

async function main(): Promise<void> {
  const out: Record<string, unknown> = { n };
  if (values.cgroup !== undefined) {
    const target = { cgroup: values.cgroup };
    out.direct = await measure(() => freeze(target), () => thaw(target));
  }
  if (values.sidecar !== undefined && values.cgroup !== undefined) {
    const client = new CgfreezeClient({ socketPath: values.sidecar });
    const target = values.cgroup;
    out.sidecar = await measure(() => client.pause(target), () => client.unpause(target));
    client.close();
  }
  if (docker !== undefined && values.container !== undefined) {
    const id = values.container;
    out.dockerEngineApi = await measure(() => dockerPost(`/containers/${id}/pause`), () => dockerPost(`/containers/${id}/unpause`));
    dockerAgent.destroy();
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`${String(err)}\n`);
  process.exitCode = 1;
});
