import { chmodSync, copyFileSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { type IncomingHttpHeaders, request } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { CgfreezeClient } from '../../src/client/index.js';
import { CgfreezeError, assertNotProtected } from '../../src/index.js';
import { type ServeOptions, type Sidecar, startServer } from '../../src/serve/index.js';
import { asUid } from './as-uid.js';
import { ScratchCgroups, auditLines, removeTemp, sleep, tempDir, until } from './helpers.js';
import { kernelFreezerState } from '../helpers/kernel.js';

const NOBODY = 65534;

/** A raw HTTP exchange on the socket (or a TCP port), for what the typed client never sends. */
function raw(
  where: string | number,
  method: string,
  path: string,
  body?: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; text: string; headers: IncomingHttpHeaders }> {
  const endpoint = typeof where === 'string' ? { socketPath: where } : { host: '127.0.0.1', port: where };
  return new Promise((resolve, reject) => {
    const req = request(
      { ...endpoint, method, path, headers: { 'content-type': 'application/json', ...headers } },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text, headers: res.headers }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('cgfreeze serve on a unix socket (real freezer, scratch cgroups)', () => {
  const cg = new ScratchCgroups();
  const tmp = tempDir();
  const socketPath = join(tmp, 's.sock');
  const auditLog = join(tmp, 'audit.log');
  const leaseFile = join(tmp, 'leases.json');
  // /bin/sleep under the name of a host engine, so its comm reads `containerd`.
  const fakeEngine = join(tmp, 'containerd');
  copyFileSync('/bin/sleep', fakeEngine);
  let v1: string;
  let v2: string;
  let other: string;
  let sidecar: Sidecar;
  let client: CgfreezeClient;

  beforeAll(async () => {
    // The uid 65534 client must reach the socket.
    chmodSync(tmp, 0o755);
    v1 = await cg.make(1, 'a');
    v2 = await cg.make(2, 'b');
    other = await cg.make(1, 'nobody-ok');
    sidecar = await startServer({
      socketPath,
      socketMode: 0o666,
      leaseFile,
      audit: { file: auditLog },
      maxConcurrent: 512,
      policy: {
        rules: [
          { callers: { uids: [0] } },
          {
            callers: { uids: [NOBODY] },
            actions: ['pause', 'unpause', 'status'],
            targets: { cgroups: [`/sys/fs/cgroup/freezer/${cg.name}/nobody-*`] },
          },
        ],
      },
    });
    client = new CgfreezeClient({ socketPath });
  });

  afterAll(async () => {
    client?.close();
    await sidecar?.close();
    await cg.cleanup();
    removeTemp(tmp);
  });

  it('pauses and unpauses a v1 and a v2 cgroup through the socket', async () => {
    for (const dir of [v1, v2]) {
      const paused = await client.pause(dir);
      expect(paused).toMatchObject({
        ok: true,
        cgroupDir: dir,
        state: 'frozen',
        lease: { expiresAt: null, owner: 'uid:0' },
      });
      expect(kernelFreezerState(dir)).toBe('frozen');
      const status = await client.status(dir);
      expect(status).toMatchObject({ state: 'frozen', self: true, version: dir === v1 ? 'v1' : 'v2' });
      const resumed = await client.unpause(dir);
      expect(resumed).toMatchObject({ ok: true, state: 'thawed', lease: null });
      expect(kernelFreezerState(dir)).toBe('thawed');
    }
    expect(sidecar.leases()).toEqual([]);
  });

  it('pauses several targets atomically and lists them with filters', async () => {
    const res = await client.pause([v1, v2], { atomic: true });
    expect(res.ok).toBe(true);
    expect([kernelFreezerState(v1), kernelFreezerState(v2)]).toEqual(['frozen', 'frozen']);
    const frozen = await client.list({ state: 'frozen', leased: true });
    expect(frozen.map((i) => i.cgroupDir).sort()).toEqual([v1, v2].sort());
    const named = await client.list({ name: `/sys/fs/cgroup/unified/${cg.name}/*` });
    expect(named.map((i) => i.cgroupDir)).toEqual([v2]);
    const thawed = await client.unpause([v1, v2]);
    expect(thawed.ok).toBe(true);
    expect(await client.list({ leased: true })).toEqual([]);
  });

  it('refuses an atomic request when one target is bad, freezing none', async () => {
    const res = await client.pause([v1, `/sys/fs/cgroup/freezer/${cg.name}/missing`], { atomic: true });
    expect(res.ok).toBe(false);
    expect(res.results.map((r) => (r.ok ? 'ok' : r.error.code))).toEqual(['ERR_ATOMIC_ROLLBACK', 'ENOENT']);
    expect(kernelFreezerState(v1)).toBe('thawed');
    expect(sidecar.leases()).toEqual([]);
  });

  it('refuses a caller of another uid with 403 and audits it with its uid and pid', async () => {
    const res = await asUid(NOBODY, socketPath, '/v1/pause', JSON.stringify({ target: v1 }));
    expect(res.status).toBe(403);
    expect((JSON.parse(res.text) as { error: { code: string } }).error.code).toBe('ERR_POLICY_DENIED');
    expect(kernelFreezerState(v1)).toBe('thawed');
    const denial = auditLines(auditLog).find((l) => l.result === 'denied');
    expect(denial).toMatchObject({
      action: 'pause',
      target: v1,
      result: 'denied',
      error: { code: 'ERR_POLICY_DENIED' },
      who: { via: 'unix', uid: NOBODY, gid: NOBODY },
    });
    expect((denial?.who as { pid: number }).pid).toBeGreaterThan(1);
  });

  it('refuses a request of that uid that also names an allowed target, freezing none of them', async () => {
    const res = await asUid(NOBODY, socketPath, '/v1/pause', JSON.stringify({ targets: [other, v1] }));
    expect(res.status).toBe(403);
    expect((JSON.parse(res.text) as { error: { code: string } }).error.code).toBe('ERR_POLICY_DENIED');
    expect([kernelFreezerState(other), kernelFreezerState(v1)]).toEqual(['thawed', 'thawed']);
  });

  it('lets that uid pause exactly what its rule names', async () => {
    const res = await asUid(NOBODY, socketPath, '/v1/pause', JSON.stringify({ target: other }));
    expect(res.status).toBe(200);
    expect(kernelFreezerState(other)).toBe('frozen');
    expect(sidecar.leases().find((l) => l.cgroupDir === other)?.owner).toBe(`uid:${NOBODY}`);
    const back = await asUid(NOBODY, socketPath, '/v1/unpause', JSON.stringify({ target: other }));
    expect(back.status).toBe(200);
    expect(kernelFreezerState(other)).toBe('thawed');
  });

  it('thaws when a lease expires, and a renewal pushes the expiry out', async () => {
    const first = await client.pause(v2, { ttl: '1s' });
    const firstExpiry = Date.parse(first.lease?.expiresAt ?? '');
    const renewed = await client.pause(v2, { ttl: '3s' });
    expect(Date.parse(renewed.lease?.expiresAt ?? '')).toBeGreaterThan(firstExpiry);
    expect(JSON.parse(readFileSync(leaseFile, 'utf8'))).toMatchObject({ version: 1, leases: [{ cgroupDir: v2 }] });
    await until('the renewed lease to thaw v2', () => kernelFreezerState(v2) === 'thawed');
    // Not before the renewed expiry: the first lease did not thaw it.
    expect(Date.now()).toBeGreaterThanOrEqual(Date.parse(renewed.lease?.expiresAt ?? ''));
    await until('the expiry to be audited', () =>
      auditLines(auditLog).some((l) => l.action === 'unpause' && l.reason === 'expired' && l.target === v2),
    );
    expect(auditLines(auditLog).find((l) => l.reason === 'expired')).toMatchObject({
      who: { via: 'sidecar', pid: process.pid },
      result: 'ok',
      cgroupDir: v2,
      state: 'thawed',
    });
    expect(sidecar.leases()).toEqual([]);
  });

  it('refuses cgroups holding a host engine, PID 1 or the sidecar itself', async () => {
    await expect(client.pause('/sys/fs/cgroup/freezer')).rejects.toMatchObject({ code: 'ERR_ROOT_CGROUP' });
    // A task named like a host engine, one level below the target: a freeze reaches descendants.
    const engineParent = await cg.make(1, 'engine');
    await cg.make(1, 'engine/inner', fakeEngine);
    await expect(client.pause(engineParent)).rejects.toMatchObject({ code: 'ERR_PROTECTED_CGROUP' });
    expect(kernelFreezerState(engineParent)).toBe('thawed');
    // This process (the sidecar runs in the test worker) moved into a scratch v2 cgroup.
    const selfDir = await cg.make(2, 'self');
    const home = readFileSync('/proc/self/cgroup', 'utf8').match(/^0::(.*)$/m)?.[1] ?? '/';
    writeFileSync(`${selfDir}/cgroup.procs`, String(process.pid));
    try {
      // Check the guard directly first: if it ever let this through, the request would freeze the test runner.
      expect(() => assertNotProtected({ cgroupDir: selfDir })).toThrow(/it holds this process/);
      await expect(client.pause(selfDir)).rejects.toMatchObject({ code: 'ERR_PROTECTED_CGROUP' });
    } finally {
      writeFileSync(`/sys/fs/cgroup/unified${home === '/' ? '' : home}/cgroup.procs`, String(process.pid));
    }
    expect(kernelFreezerState(selfDir)).toBe('thawed');
  });

  it('answers bad input with clear 4xx errors', async () => {
    const cases: Array<[string, string, string | undefined, number, string]> = [
      ['POST', '/v1/pause', '{"target":', 400, 'ERR_INVALID_ARG'],
      ['POST', '/v1/pause', '[1,2]', 400, 'ERR_INVALID_ARG'],
      ['POST', '/v1/pause', '{"target":"x","bogus":1}', 400, 'ERR_INVALID_ARG'],
      ['POST', '/v1/pause', `{"target":"${v1}","ttl":"forever"}`, 400, 'ERR_INVALID_ARG'],
      ['POST', '/v1/pause', '{"targets":[]}', 400, 'ERR_INVALID_ARG'],
      ['POST', '/v1/pause', '', 400, 'ERR_INVALID_ARG'],
      ['POST', '/v1/pause', '{"target":"no-such-container"}', 404, 'ERR_CONTAINER_NOT_FOUND'],
      ['GET', '/v1/pause', undefined, 405, 'ERR_INVALID_ARG'],
      ['GET', '/nope', undefined, 404, 'ERR_INVALID_ARG'],
      ['GET', '/v1/status', undefined, 400, 'ERR_INVALID_ARG'],
      ['GET', '/v1/list?state=asleep', undefined, 400, 'ERR_INVALID_ARG'],
    ];
    for (const [method, path, body, status, code] of cases) {
      const res = await raw(socketPath, method, path, body);
      expect({ path, body, status: res.status }).toEqual({ path, body, status });
      const parsed = JSON.parse(res.text) as { error?: { code: string }; results?: Array<{ error: { code: string } }> };
      expect(parsed.error?.code ?? parsed.results?.[0]?.error.code).toBe(code);
    }
  });

  it('answers a request with several targets with the status of its first failure', async () => {
    const missing = `/sys/fs/cgroup/freezer/${cg.name}/missing`;
    for (const [targets, status] of [
      [[v1, missing, '/sys/fs/cgroup/freezer'], 404],
      [[v1, '/sys/fs/cgroup/freezer', missing], 400],
    ] as const) {
      const res = await raw(socketPath, 'POST', '/v1/pause', JSON.stringify({ targets }));
      expect({ targets, status: res.status }).toEqual({ targets, status });
      const body = JSON.parse(res.text) as { results: Array<{ ok: boolean }> };
      expect(body.results.map((r) => r.ok)).toEqual([true, false, false]);
      await client.unpause(v1);
    }
  });

  it('never deadlocks on requests that name the same targets in opposite orders', async () => {
    const clients = Array.from({ length: 4 }, () => new CgfreezeClient({ socketPath }));
    const orders = [
      [v1, v2, other],
      [other, v2, v1],
    ];
    await Promise.all(
      Array.from({ length: 60 }, (_, i) => {
        const c = clients[i % clients.length] as CgfreezeClient;
        const targets = orders[i % 2] as string[];
        return i % 3 === 0 ? c.unpause(targets) : c.pause(targets);
      }),
    );
    for (const c of clients) c.close();
    await client.unpause([v1, v2, other]);
    expect([v1, v2, other].map(kernelFreezerState)).toEqual(['thawed', 'thawed', 'thawed']);
  });

  it('refuses an oversize body with 413 without reading it all', async () => {
    const big = JSON.stringify({ targets: Array.from({ length: 10_000 }, () => v1) });
    const res = await raw(socketPath, 'POST', '/v1/pause', big);
    expect(res.status).toBe(413);
    expect(kernelFreezerState(v1)).toBe('thawed');
  });

  it('maps the client errors to CgfreezeError codes', async () => {
    const err = await client.pause('/sys/fs/cgroup/freezer').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CgfreezeError);
    expect((err as CgfreezeError).code).toBe('ERR_ROOT_CGROUP');
    const gone = new CgfreezeClient({ socketPath: join(tmp, 'absent.sock') });
    await expect(gone.health()).rejects.toMatchObject({ code: 'ENOENT' });
    gone.close();
  });

  it('serves /healthz and Prometheus /metrics', async () => {
    expect(await client.health()).toMatchObject({ ok: true });
    const text = await client.metrics();
    expect(text).toMatch(/^# TYPE cgfreeze_freeze_duration_seconds histogram$/m);
    expect(text).toMatch(/^cgfreeze_operations_total\{operation="pause",result="ok"\} \d+$/m);
    expect(text).toMatch(/^cgfreeze_errors_total\{code="ERR_ROOT_CGROUP"\} \d+$/m);
    const denied = auditLines(auditLog).filter((l) => l.result === 'denied' && l.action === 'pause').length;
    expect(denied).toBeGreaterThan(0);
    expect(text).toContain(`\ncgfreeze_denied_total{action="pause"} ${denied}\n`);
    expect(text).toMatch(/^cgfreeze_frozen_targets 0$/m);
    // Every metric docs/serve.md lists.
    for (const name of [
      'cgfreeze_http_requests_total',
      'cgfreeze_operations_total',
      'cgfreeze_errors_total',
      'cgfreeze_denied_total',
      'cgfreeze_freeze_duration_seconds',
      'cgfreeze_resume_duration_seconds',
      'cgfreeze_frozen_targets',
      'cgfreeze_leases_active',
      'cgfreeze_http_inflight_requests',
      'process_start_time_seconds',
    ])
      expect(text).toMatch(new RegExp(`^# TYPE ${name} `, 'm'));
  });

  it('keeps every target in the state its last request set under hundreds of concurrent requests', async () => {
    const dirs = [v1, v2, other];
    const ops = Array.from({ length: 300 }, (_, i) => ({
      dir: dirs[i % dirs.length] as string,
      pause: Math.random() < 0.5,
    }));
    const clients = Array.from({ length: 8 }, () => new CgfreezeClient({ socketPath }));
    const before = auditLines(auditLog).length;
    await Promise.all(
      ops.map((op, i) => {
        const c = clients[i % clients.length] as CgfreezeClient;
        return op.pause ? c.pause(op.dir) : c.unpause(op.dir);
      }),
    );
    for (const c of clients) c.close();
    const log = auditLines(auditLog)
      .slice(before)
      .filter((l) => l.action === 'pause' || l.action === 'unpause');
    expect(log).toHaveLength(ops.length);
    for (const dir of dirs) {
      const last = log.filter((l) => l.target === dir).at(-1);
      expect(last?.result).toBe('ok');
      expect(kernelFreezerState(dir)).toBe(last?.action === 'pause' ? 'frozen' : 'thawed');
      expect(sidecar.leases().some((l) => l.cgroupDir === dir)).toBe(last?.action === 'pause');
    }
    await client.unpause(dirs);
  });
});

/** A sidecar in a fresh directory other uids can reach, with its socket, lease file and audit log in it. */
class TestSidecar {
  readonly tmp = tempDir();
  readonly socketPath = join(this.tmp, 's.sock');
  readonly auditLog = join(this.tmp, 'audit.log');
  private running: Sidecar | undefined;

  async start(options: ServeOptions = {}): Promise<void> {
    chmodSync(this.tmp, 0o755);
    this.running = await startServer({
      socketPath: this.socketPath,
      leaseFile: join(this.tmp, 'leases.json'),
      audit: { file: this.auditLog },
      ...options,
    });
  }

  get sidecar(): Sidecar {
    if (this.running === undefined) throw new Error('the test sidecar did not start');
    return this.running;
  }

  async stop(): Promise<void> {
    await this.running?.close();
    removeTemp(this.tmp);
  }
}

describe('cgfreeze serve limits', () => {
  const t = new TestSidecar();
  const { socketPath } = t;

  beforeAll(() =>
    t.start({ maxConcurrent: 1, requestTimeoutMs: 1_000, tcp: { port: 0, token: 'cgfs-test-token-0123456789' } }),
  );
  afterAll(() => t.stop());

  it('answers 503 ERR_BUSY past the concurrency limit and 408 to a slow client', async () => {
    // A client that sends headers and half a body, then stalls, holds the only slot.
    const slow = connect(socketPath);
    const slowReply = new Promise<string>((resolve) => {
      let text = '';
      slow.on('data', (d: Buffer) => (text += d.toString()));
      slow.on('close', () => resolve(text));
      slow.on('error', () => resolve(text));
    });
    slow.write(
      'POST /v1/pause HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"tar',
    );
    await sleep(300);
    const busy = await raw(socketPath, 'POST', '/v1/pause', '{"target":"x"}');
    expect(busy.status).toBe(503);
    expect(JSON.parse(busy.text)).toMatchObject({ error: { code: 'ERR_BUSY' } });
    expect(busy.headers['retry-after']).toBe('1');
    expect(await slowReply).toMatch(/^HTTP\/1\.1 408/);
  });

  it('requires the bearer token on TCP', async () => {
    const port = t.sidecar.tcpAddress?.port ?? 0;
    const noToken = new CgfreezeClient({ url: `http://127.0.0.1:${port}` });
    await expect(noToken.list()).rejects.toMatchObject({ code: 'ERR_UNAUTHENTICATED' });
    const wrong = new CgfreezeClient({ url: `http://127.0.0.1:${port}`, token: 'cgfs-wrong-token-0123456789' });
    await expect(wrong.list()).rejects.toMatchObject({ code: 'ERR_UNAUTHENTICATED' });
    // The default policy names no TCP callers: authenticated, yet refused.
    const right = new CgfreezeClient({ url: `http://127.0.0.1:${port}`, token: 'cgfs-test-token-0123456789' });
    await expect(right.list()).rejects.toMatchObject({ code: 'ERR_POLICY_DENIED' });
    expect(await right.health()).toMatchObject({ ok: true });
    for (const c of [noToken, wrong, right]) c.close();
  });

  it('makes its socket mode 660 by default, and refuses a TCP token shorter than 16 characters', async () => {
    expect(statSync(socketPath).mode & 0o777).toBe(0o660);
    await expect(
      startServer({
        socketPath: join(t.tmp, 'short-token.sock'),
        leaseFile: join(t.tmp, 'l3.json'),
        tcp: { port: 0, token: 'x'.repeat(15) },
      }),
    ).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
  });

  it('refuses to start a second sidecar on a live socket', async () => {
    await expect(startServer({ socketPath, leaseFile: join(t.tmp, 'l2.json') })).rejects.toMatchObject({
      code: 'EADDRINUSE',
    });
  });
});

/** Holds a request slot: headers and half a body, then nothing until destroyed. */
function stallingClient(socketPath: string): ReturnType<typeof connect> {
  const slow = connect(socketPath);
  slow.on('error', () => undefined);
  slow.write(
    'POST /v1/pause HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"tar',
  );
  return slow;
}

describe('cgfreeze serve --metrics-listen', () => {
  const cg = new ScratchCgroups();
  const t = new TestSidecar();
  const { socketPath } = t;
  let dir: string;

  beforeAll(async () => {
    dir = await cg.make(2, 'scraped');
    await t.start({ maxConcurrent: 1, requestTimeoutMs: 60_000, metricsListen: { port: 0 } });
  });

  afterAll(async () => {
    await t.stop();
    await cg.cleanup();
  });

  it("serves /metrics and /healthz to anyone, outside the operations' slots, and no action at all", async () => {
    const port = t.sidecar.metricsAddress?.port ?? 0;
    expect(t.sidecar.metricsAddress?.address).toBe('127.0.0.1');
    const slow = stallingClient(socketPath);
    try {
      // The only operation slot is taken: operations on the socket are turned away...
      await sleep(300);
      const busy = await raw(socketPath, 'POST', '/v1/pause', JSON.stringify({ target: dir }));
      expect(busy.status).toBe(503);
      // ...while the scrape and the probes are served, without a token.
      const scrape = await raw(port, 'GET', '/metrics');
      expect(scrape.status).toBe(200);
      expect(scrape.text).toMatch(/^cgfreeze_http_requests_total\{route="\/v1\/pause",status="503"\} 1$/m);
      expect(scrape.text).toMatch(/^cgfreeze_http_inflight_requests 2$/m);
      expect(JSON.parse((await raw(port, 'GET', '/healthz')).text)).toMatchObject({ ok: true });
      expect((await raw(socketPath, 'GET', '/healthz')).status).toBe(200);
    } finally {
      slow.destroy();
    }
    // No action is served there, whoever asks.
    for (const [method, path, body] of [
      ['POST', '/v1/pause', JSON.stringify({ target: dir })],
      ['POST', '/v1/unpause', JSON.stringify({ target: dir })],
      ['GET', `/v1/status?target=${dir}`, undefined],
      ['GET', '/v1/list', undefined],
    ] as const) {
      const res = await raw(port, method, path, body);
      expect({ path, status: res.status }).toEqual({ path, status: 404 });
    }
    expect(kernelFreezerState(dir)).toBe('thawed');
    expect(t.sidecar.leases()).toEqual([]);
  });
});

describe('cgfreeze serve and supplementary groups (SO_PEERGROUPS)', () => {
  const GROUP = 45_678;
  const cg = new ScratchCgroups();
  const t = new TestSidecar();
  const { socketPath, auditLog } = t;
  let dir: string;

  beforeAll(async () => {
    dir = await cg.make(1, 'group-ok');
    // The socket is root's and the group's only; the policy names the group, not the caller's own.
    await t.start({
      socketMode: 0o660,
      socketGroup: GROUP,
      policy: {
        rules: [
          {
            callers: { gids: [GROUP] },
            actions: ['pause', 'unpause'],
            targets: { cgroups: [`/sys/fs/cgroup/freezer/${cg.name}/group-*`] },
          },
        ],
      },
    });
  });

  afterAll(async () => {
    await t.stop();
    await cg.cleanup();
  });

  it("lets a caller in by a supplementary group, as the socket's group permission suggests", async () => {
    const body = JSON.stringify({ target: dir });
    const paused = await asUid(NOBODY, socketPath, '/v1/pause', body, { groups: [GROUP] });
    expect(paused.status).toBe(200);
    expect(kernelFreezerState(dir)).toBe('frozen');
    expect(auditLines(auditLog).at(-1)).toMatchObject({
      who: { via: 'unix', uid: NOBODY, gid: NOBODY, groups: [GROUP] },
      action: 'pause',
      target: dir,
      result: 'ok',
    });
    expect((await asUid(NOBODY, socketPath, '/v1/unpause', body, { groups: [GROUP] })).status).toBe(200);
    expect(kernelFreezerState(dir)).toBe('thawed');
    // Without the group the socket itself is closed to it.
    expect(await asUid(NOBODY, socketPath, '/v1/pause', body)).toEqual({ status: 0, text: 'EACCES' });
    // With the group, still only what the rule names.
    const other = await asUid(
      NOBODY,
      socketPath,
      '/v1/pause',
      JSON.stringify({ target: `/sys/fs/cgroup/freezer/${cg.name}` }),
      { groups: [GROUP] },
    );
    expect(other.status).toBe(403);
    expect(kernelFreezerState(dir)).toBe('thawed');
  });
});

describe('cgfreeze serve and a bug', () => {
  const t = new TestSidecar();
  const { socketPath } = t;

  beforeAll(() =>
    t.start({
      // A fault put in from outside: reading the policy throws a plain TypeError, as a bug of its own would.
      policy: {
        get rules(): never {
          throw new TypeError('an injected bug');
        },
      },
    }),
  );
  afterAll(() => t.stop());

  it('answers 500 ERR_INTERNAL without the details, and logs the stack for the operator', async () => {
    const logged: string[] = [];
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      logged.push(String(chunk));
      return true;
    });
    try {
      const res = await raw(socketPath, 'POST', '/v1/pause', JSON.stringify({ target: '/sys/fs/cgroup/freezer/x/y' }));
      expect(res.status).toBe(500);
      expect(JSON.parse(res.text)).toEqual({
        error: { code: 'ERR_INTERNAL', message: 'internal error in cgfreeze serve (please report it)' },
      });
    } finally {
      spy.mockRestore();
    }
    expect(logged.join('')).toMatch(/^cgfreeze serve: \/v1\/pause: TypeError: an injected bug\n\s+at /m);
  });
});
