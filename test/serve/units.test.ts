import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { statusFor } from '../../src/serve/http.js';
import { LeaseStore, parseLeaseFile } from '../../src/serve/leases.js';
import { Metrics } from '../../src/serve/metrics.js';
import { type Caller, allows, globMatch, mayAct, parsePolicy } from '../../src/serve/policy.js';
import { REPO, removeTemp, tempDir } from './helpers.js';
import { errorWith } from '../helpers/matchers.js';

const alice: Caller = { via: 'unix', uid: 1000, gid: 100, groups: [], pid: 42 };
const tcp: Caller = { via: 'tcp', address: '127.0.0.1:5000' };

describe('policy', () => {
  const policy = parsePolicy({
    rules: [
      {
        callers: { uids: [1000] },
        actions: ['pause', 'unpause'],
        targets: { names: ['web-*'], labels: { tier: 'batch', team: '*' } },
      },
      { callers: { gids: [200], tcp: true }, actions: ['status', 'list'] },
    ],
  });

  it('grants only what a rule names: caller, action and target together', () => {
    const web = { cgroupDir: '/sys/fs/cgroup/freezer/docker/abc', name: 'web-1', labels: { tier: 'batch', team: 'a' } };
    expect(allows(policy, alice, 'pause', web)).toBe(true);
    expect(allows(policy, alice, 'status', web)).toBe(false);
    expect(allows(policy, alice, 'pause', { ...web, name: 'db-1' })).toBe(false);
    expect(allows(policy, alice, 'pause', { ...web, labels: { tier: 'batch' } })).toBe(false);
    expect(allows(policy, alice, 'pause', { ...web, labels: { tier: 'web', team: 'a' } })).toBe(false);
    expect(allows(policy, { ...alice, uid: 1001 }, 'pause', web)).toBe(false);
    expect(allows(policy, { ...alice, uid: 1001, gid: 200 }, 'status', web)).toBe(true);
    // A supplementary group counts as the primary one does.
    expect(allows(policy, { ...alice, uid: 1001, groups: [7, 200] }, 'status', web)).toBe(true);
    expect(allows(policy, { ...alice, uid: 1001, groups: [7] }, 'status', web)).toBe(false);
    expect(allows(policy, tcp, 'list', web)).toBe(true);
    expect(mayAct(policy, tcp, 'pause')).toBe(false);
  });

  it('rejects typos instead of guessing', () => {
    expect(() => parsePolicy({ rules: [{ callers: { uid: [1] } }] })).toThrow(/unknown key "uid"/);
    expect(() => parsePolicy({ rules: [{ callers: {}, actions: ['freeze'] }] })).toThrow(/unknown action/);
    expect(() => parsePolicy({ rules: [{ actions: ['pause'] }] })).toThrow(/callers/);
    expect(() => parsePolicy({ rule: [] })).toThrow(/rules/);
    expect(() => parsePolicy({ rules: [{ callers: { uids: [-1] } }] })).toThrow(/non-negative/);
  });

  it('matches globs literally apart from * and ?', () => {
    expect(globMatch('web-*', 'web-1')).toBe(true);
    expect(globMatch('web-?', 'web-12')).toBe(false);
    expect(globMatch('a.b', 'axb')).toBe(false);
    expect(globMatch('*', '')).toBe(true);
    expect(globMatch('a*b*c', 'a-b-b-c')).toBe(true);
    expect(globMatch('a*b*c', 'a-b-b-')).toBe(false);
    expect(globMatch('/sys/fs/cgroup/freezer/docker/*', '/sys/fs/cgroup/freezer/docker/abc')).toBe(true);
  });

  it('matches a pathological glob without backtracking through every split', () => {
    // A backtracking regex takes exponential time here; this matcher at most pattern × value steps.
    const started = performance.now();
    expect(globMatch('*a'.repeat(30) + 'X', 'a'.repeat(5000))).toBe(false);
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('matches labels as docker filters do: {k: "*"} is any value, {k: v} that value', () => {
    const labelled = parsePolicy({ rules: [{ callers: { uids: [1000] }, targets: { labels: { a: '*', b: 'x=y' } } }] });
    const subject = (labels: Record<string, string>) => ({ cgroupDir: '/sys/fs/cgroup/unified/x', labels });
    expect(allows(labelled, alice, 'pause', subject({ a: '', b: 'x=y' }))).toBe(true);
    expect(allows(labelled, alice, 'pause', subject({ b: 'x=y' }))).toBe(false);
    expect(allows(labelled, alice, 'pause', subject({ a: '1', b: 'x' }))).toBe(false);
  });
});

describe('lease store', () => {
  const tmp = tempDir();
  afterAll(() => removeTemp(tmp));

  it('persists by rename, reloads, and leaves no temporary files', async () => {
    const file = join(tmp, 'sub', 'leases.json');
    const store = new LeaseStore(file, () => undefined);
    expect(store.load()).toEqual([]);
    const record = {
      cgroupDir: '/sys/fs/cgroup/freezer/x',
      target: 'x',
      expiresAt: null,
      owner: 'uid:0',
      createdAt: 1,
    };
    await Promise.all([
      store.put(record, true),
      store.put({ ...record, cgroupDir: '/sys/fs/cgroup/freezer/y' }, false),
      store.delete('/nope', true),
    ]);
    await store.delete('/sys/fs/cgroup/freezer/y', false);
    await store.persist();
    store.close();
    expect(readdirSync(dirname(file))).toEqual(['leases.json']);
    const again = new LeaseStore(file, () => undefined);
    expect(again.load()).toEqual([record]);
  });

  it('calls the expiry callback for due leases and refuses a damaged file', async () => {
    const due: string[] = [];
    const store = new LeaseStore(undefined, (r) => due.push(r.cgroupDir));
    await store.put({ cgroupDir: '/a', target: 'a', expiresAt: Date.now() + 30, owner: 'uid:0', createdAt: 0 }, true);
    await store.put({ cgroupDir: '/b', target: 'b', expiresAt: null, owner: 'uid:0', createdAt: 0 }, true);
    await new Promise((r) => setTimeout(r, 300));
    expect(due).toEqual(['/a']);
    store.close();
    const bad = join(tmp, 'bad.json');
    writeFileSync(bad, '{"version":1,"leases":[{"cgroupDir":"relative"}]}');
    expect(() => new LeaseStore(bad, () => undefined).load()).toThrow(errorWith({ code: 'ERR_STATE_FILE' }));
    expect(() => parseLeaseFile('not json', bad)).toThrow(errorWith({ code: 'ERR_STATE_FILE' }));
  });
});

describe('wire helpers', () => {
  it('maps codes to HTTP statuses', () => {
    expect([
      statusFor('ERR_POLICY_DENIED'),
      statusFor('ERR_CONTAINER_NOT_FOUND'),
      statusFor('ERR_FREEZE_TIMEOUT'),
      statusFor('EIO'),
    ]).toEqual([403, 404, 504, 500]);
  });

  it('renders cumulative histogram buckets and escapes label values', () => {
    const m = new Metrics();
    m.observeFreeze(0.03);
    m.observeFreeze(3);
    m.error('ERR_"odd"');
    const text = m.render({ frozen: 2, leases: 1, inflight: 0, startTimeSeconds: 1 });
    expect(text).toMatch(/^cgfreeze_freeze_duration_seconds_bucket\{le="0.00005"\} 1$/m);
    expect(text).toMatch(/^cgfreeze_freeze_duration_seconds_bucket\{le="0.005"\} 2$/m);
    expect(text).toMatch(/^cgfreeze_freeze_duration_seconds_count 2$/m);
    expect(text).toContain('cgfreeze_errors_total{code="ERR_\\"odd\\""} 1');
    expect(text).toMatch(/^cgfreeze_frozen_targets 2$/m);
  });
});

describe('cgfreeze/client', () => {
  it('imports nothing that loads the native addon', () => {
    // Walk the client's relative imports; none may reach native.ts or the bindings package.
    const seen = new Set<string>();
    const packages: string[] = [];
    const visit = (file: string): void => {
      if (seen.has(file)) return;
      seen.add(file);
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/^(?:import|export)\s(?!type\b)[^;]*?from\s+'([^']+)'/gm)) {
        const spec = m[1] as string;
        if (spec.startsWith('.')) visit(resolve(dirname(file), spec.replace(/\.js$/, '.ts')));
        else packages.push(spec);
      }
    };
    visit(join(REPO, 'src/client/index.ts'));
    // Node's own modules only: no `bindings`, no other package.
    expect(packages.filter((spec) => !spec.startsWith('node:'))).toEqual([]);
    expect([...seen].some((f) => f.endsWith('native.ts'))).toBe(false);
    expect(seen.has(join(REPO, 'src/errors.ts'))).toBe(true);
  });
});
