import { copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Caller, SidecarService } from '../../src/serve/index.js';
import { ScratchCgroups, auditLines, removeTemp, tempDir, until } from './helpers.js';
import { kernelFreezerState } from '../helpers/kernel.js';

/** Callers as the kernel would report them; the service takes them from the HTTP side without checking. */
const root: Caller = { via: 'unix', uid: 0, gid: 0, groups: [], pid: process.pid };
const SUPPLEMENTARY = 45_678;
const member: Caller = { via: 'unix', uid: 4_242, gid: 4_242, groups: [7, SUPPLEMENTARY], pid: 1 };
const stranger: Caller = { via: 'unix', uid: 4_243, gid: 4_243, groups: [], pid: 1 };

/** The code of what `fn` throws (undefined when it returns). */
function thrownCode(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return (err as { code?: unknown }).code;
  }
  return undefined;
}

/** The service layer alone: policy → resolution → guard → lock → freeze → lease → audit, with no HTTP. */
describe('the sidecar service without HTTP (real freezer, scratch cgroups)', () => {
  const cg = new ScratchCgroups();
  const tmp = tempDir();
  const leaseFile = join(tmp, 'leases.json');
  const auditLog = join(tmp, 'audit.log');
  // /bin/sleep under the name of a host engine, so its comm reads `containerd`.
  const fakeEngine = join(tmp, 'containerd');
  copyFileSync('/bin/sleep', fakeEngine);
  const logs: string[] = [];
  let v1: string;
  let v2: string;
  let service: SidecarService;

  beforeAll(async () => {
    v1 = await cg.make(1, 'a');
    v2 = await cg.make(2, 'b');
    service = await SidecarService.start({
      leaseFile,
      audit: { file: auditLog },
      log: (line) => logs.push(line),
      policy: {
        rules: [
          { callers: { uids: [0] } },
          {
            callers: { gids: [SUPPLEMENTARY] },
            actions: ['pause', 'unpause', 'status'],
            targets: { cgroups: [`/sys/fs/cgroup/unified/${cg.name}/*`] },
          },
        ],
      },
    });
  });

  afterAll(async () => {
    await service?.close({ thaw: true });
    await cg.cleanup();
    removeTemp(tmp);
  });

  it('pauses with a lease written before the freeze, and audits each target in the one schema', async () => {
    const before = Date.now();
    // The TTL speaks the CLI's duration grammar: `1m30s` as `--for 1m30s` does.
    const paused = await service.pause(root, { targets: [v1, v2], ttl: '1m30s' });
    expect(paused.ok).toBe(true);
    expect([kernelFreezerState(v1), kernelFreezerState(v2)]).toEqual(['frozen', 'frozen']);
    for (const r of paused.results) {
      expect(r).toMatchObject({ ok: true, state: 'frozen', lease: { owner: 'uid:0' } });
      const expiresAt = Date.parse((r.ok && r.lease?.expiresAt) || '');
      expect(expiresAt - before).toBeGreaterThanOrEqual(90_000);
      expect(expiresAt - Date.now()).toBeLessThanOrEqual(90_000);
    }
    // A pause with a TTL waits for its lease on disk.
    const onDisk = JSON.parse(readFileSync(leaseFile, 'utf8')) as { leases: Array<{ cgroupDir: string }> };
    expect(onDisk.leases.map((l) => l.cgroupDir).sort()).toEqual([v1, v2].sort());
    const lines = auditLines(auditLog);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toEqual({
      time: expect.any(String) as string,
      who: { via: 'unix', uid: 0, gid: 0, groups: [], pid: process.pid },
      action: 'pause',
      target: v1,
      cgroupDir: v1,
      version: 'v1',
      result: 'ok',
      state: 'frozen',
      latencyMs: expect.any(Number) as number,
      ttl: '1m30s',
    });
    expect(lines[1]).toMatchObject({ target: v2, cgroupDir: v2, version: 'v2', result: 'ok' });

    const thawed = await service.unpause(root, { targets: [v1, v2] });
    expect(thawed.results.map((r) => r.ok && r.state)).toEqual(['thawed', 'thawed']);
    expect([kernelFreezerState(v1), kernelFreezerState(v2)]).toEqual(['thawed', 'thawed']);
    expect(service.leases()).toEqual([]);
  });

  it('matches a rule by a supplementary group, and refuses what the rule does not name', async () => {
    expect(await service.pause(member, { target: v2 })).toMatchObject({
      ok: true,
      results: [{ ok: true, lease: { owner: 'uid:4242' } }],
    });
    expect(kernelFreezerState(v2)).toBe('frozen');
    expect(service.status(member, v2)).toMatchObject({ cgroupDir: v2, state: 'frozen', self: true });
    await service.unpause(member, { target: v2 });
    expect(kernelFreezerState(v2)).toBe('thawed');
    // v1 is outside the rule's cgroups: the whole request is refused, v2 included, and nothing freezes.
    await expect(service.pause(member, { targets: [v2, v1] })).rejects.toMatchObject({
      code: 'ERR_POLICY_DENIED',
      target: v1,
    });
    expect([kernelFreezerState(v1), kernelFreezerState(v2)]).toEqual(['thawed', 'thawed']);
    expect(auditLines(auditLog).at(-1)).toMatchObject({
      who: { via: 'unix', uid: 4242, groups: [7, SUPPLEMENTARY] },
      action: 'pause',
      target: v1,
      result: 'denied',
      error: { code: 'ERR_POLICY_DENIED' },
    });
  });

  it('refuses a caller without a rule for the action before resolving anything', () => {
    // A reference that resolves to nothing: the answer must not tell this caller so.
    expect(thrownCode(() => service.status(stranger, 'cgfs-no-such-container'))).toBe('ERR_POLICY_DENIED');
    expect(thrownCode(() => service.list(stranger, {}))).toBe('ERR_POLICY_DENIED');
    expect(thrownCode(() => service.status(root, 'cgfs-no-such-container'))).toBe('ERR_CONTAINER_NOT_FOUND');
  });

  it('guards what it freezes: a protected process anywhere below refuses the target, and an atomic request', async () => {
    const engine = await cg.make(2, 'engine');
    await cg.make(2, 'engine/inner', fakeEngine);
    const res = await service.pause(root, { targets: [v1, engine], atomic: true });
    expect(res.results.map((r) => (r.ok ? 'ok' : r.error.code))).toEqual([
      'ERR_ATOMIC_ROLLBACK',
      'ERR_PROTECTED_CGROUP',
    ]);
    expect(res.results[1]).toMatchObject({
      error: { message: expect.stringMatching(/containerd \(pid \d+\)/) as string },
    });
    expect([kernelFreezerState(v1), kernelFreezerState(engine)]).toEqual(['thawed', 'thawed']);
    expect(service.leases()).toEqual([]);
  });

  it('checks a body as strictly as the wire does', async () => {
    const cases: Array<[unknown, RegExp]> = [
      [[v1], /JSON object/],
      [{ target: v1, bogus: 1 }, /unknown field "bogus"/],
      [{ target: v1, targets: [v1] }, /either "target" or "targets"/],
      [{ targets: [] }, /empty/],
      [{ target: v1, ttl: '0s' }, /"ttl" must be a positive duration/],
      [{ target: v1, ttl: 30 }, /"ttl" must be a positive duration/],
      [{ target: v1, ttl: '8d' }, /"ttl" must be a positive duration/],
      [{ target: v1, ttl: '200h' }, /"ttl" may be at most/],
      [{ target: v1, timeoutMs: 0 }, /"timeoutMs" must be an integer/],
    ];
    for (const [body, message] of cases) {
      await expect(service.pause(root, body)).rejects.toMatchObject({ code: 'ERR_INVALID_ARG', message });
    }
    expect(kernelFreezerState(v1)).toBe('thawed');
  });

  it('thaws a lease when it runs out, as the sidecar itself, and audits why', async () => {
    const paused = await service.pause(root, { target: v1, ttl: '300ms' });
    expect(paused.ok).toBe(true);
    await until('the expiry to be audited', () => auditLines(auditLog).some((l) => l.reason === 'expired'));
    expect(kernelFreezerState(v1)).toBe('thawed');
    const expiry = auditLines(auditLog).find((l) => l.reason === 'expired');
    expect(expiry).toMatchObject({
      who: { via: 'sidecar', pid: process.pid },
      action: 'unpause',
      target: v1,
      cgroupDir: v1,
      result: 'ok',
      state: 'thawed',
    });
    expect(logs).toEqual([]);
  });
});
