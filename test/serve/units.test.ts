import {
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CgfreezeError } from '../../src/errors.js';
import { FairSlots } from '../../src/serve/fair-slots.js';
import { statusFor } from '../../src/serve/http.js';
import {
  DamagedLeaseFile,
  type LeaseRecord,
  LeaseStore,
  MAX_LEASE_FILE_BYTES,
  parseLeaseFile,
} from '../../src/serve/leases.js';
import { Metrics } from '../../src/serve/metrics.js';
import { type Caller, allows, globMatch, mayAct, parsePolicy } from '../../src/serve/policy.js';
import { REPO, removeTemp, tempDir } from './helpers.js';

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

  it('matches Kubernetes identity: the namespace by name, the pod and container names by glob', () => {
    const k8s = parsePolicy({
      rules: [
        {
          callers: { uids: [1000] },
          targets: { k8s: { namespaces: ['batch'], pods: ['worker-*'], containers: ['app'] } },
        },
      ],
    });
    const member = (namespace: string, pod: string, container?: string) => ({
      cgroupDir: '/sys/fs/cgroup/unified/kubepods/x',
      labels: {},
      k8s: { namespace, pod, ...(container === undefined ? {} : { container }) },
    });
    expect(allows(k8s, alice, 'pause', member('batch', 'worker-7', 'app'))).toBe(true);
    expect(allows(k8s, alice, 'pause', member('batch', 'worker-7', 'side'))).toBe(false);
    expect(allows(k8s, alice, 'pause', member('batch', 'worker-7'))).toBe(false);
    expect(allows(k8s, alice, 'pause', member('batch', 'web-7', 'app'))).toBe(false);
    expect(allows(k8s, alice, 'pause', member('batch-2', 'worker-7', 'app'))).toBe(false);
    expect(allows(k8s, alice, 'pause', { cgroupDir: '/sys/fs/cgroup/unified/x', labels: {} })).toBe(false);
    expect(() => parsePolicy({ rules: [{ callers: {}, targets: { k8s: { namespace: ['a'] } } }] })).toThrow(
      /rules\[0\]\.targets\.k8s: unknown key "namespace"/,
    );
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
  const record = (dir: string, extra: Partial<LeaseRecord> = {}): LeaseRecord => ({
    cgroupDir: `/sys/fs/cgroup/freezer/${dir}`,
    target: dir,
    expiresAt: null,
    owner: 'uid:0',
    createdAt: 1,
    identity: '35:1234',
    ...extra,
  });
  const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  /** Loads `file` as a start does: the leases it keeps, and the lines it logged. */
  const loadLogged = (file: string): { leases: LeaseRecord[]; logs: string[] } => {
    const logs: string[] = [];
    const leases = new LeaseStore(
      file,
      () => undefined,
      (line) => logs.push(line),
    ).load();
    return { leases, logs };
  };

  it('journals each change before it counts, folds it into a file of one lease per line, 0600 whatever the umask', () => {
    const file = join(tmp, 'sub', 'leases.json');
    // The directory first: a umask that takes the owner's write bit would make it unusable.
    mkdirSync(dirname(file), { mode: 0o700 });
    const old = process.umask(0o277);
    const store = new LeaseStore(file, () => undefined);
    try {
      expect(store.load()).toEqual([]);
      store.put(record('x'));
      store.put(record('y'));
      store.delete('/nope');
      store.delete(record('y').cgroupDir);
    } finally {
      process.umask(old);
    }
    // Each change is on file when put() returns: the journal holds it, a line each.
    expect(readFileSync(`${file}.journal`, 'utf8').split('\n')).toEqual([
      JSON.stringify({ bootId }),
      JSON.stringify({ put: record('x') }),
      JSON.stringify({ put: record('y') }),
      JSON.stringify({ delete: record('y').cgroupDir }),
      '',
    ]);
    // What a crash (kill -9) leaves is read back.
    expect(new LeaseStore(file, () => undefined).load()).toEqual([record('x')]);
    store.close();
    expect(readdirSync(dirname(file)).sort()).toEqual(['leases.json', 'leases.json.journal']);
    for (const name of ['leases.json', 'leases.json.journal'])
      expect(statSync(join(dirname(file), name)).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8').split('\n')).toEqual([
      `{"version":1,"bootId":"${bootId}","leases":[`,
      JSON.stringify(record('x')),
      ']}',
      '',
    ]);
    expect(readFileSync(`${file}.journal`, 'utf8')).toBe(`${JSON.stringify({ bootId })}\n`);
    expect(new LeaseStore(file, () => undefined).load()).toEqual([record('x')]);
  });

  it('never writes through a link, and sets aside a lease file that is one', () => {
    const file = join(tmp, 'linked.json');
    const victim = join(tmp, 'victim');
    writeFileSync(victim, 'not yours\n');
    symlinkSync(victim, file);
    symlinkSync(victim, `${file}.journal`);
    const logs: string[] = [];
    const store = new LeaseStore(
      file,
      () => undefined,
      (line) => logs.push(line),
    );
    expect(store.load()).toEqual([]);
    expect(logs.join('\n')).toMatch(/LEASE FILE DAMAGED: .*ELOOP.*moved it to .*linked\.json\.damaged-/);
    expect(logs.join('\n')).toMatch(/LEASE FILE DAMAGED: .*ELOOP.*moved it to .*linked\.json\.journal\.damaged-/);
    store.put(record('z'));
    store.close();
    expect(readFileSync(victim, 'utf8')).toBe('not yours\n');
    expect(lstatSync(file).isFile()).toBe(true);
    expect(lstatSync(`${file}.journal`).isFile()).toBe(true);
  });

  it('sets a damaged file aside, loudly, and starts with the leases it could still read', () => {
    const file = join(tmp, 'damaged.json');
    const lines = [record('a'), record('b'), record('c')].map((r) => JSON.stringify(r));
    // A torn middle line, as a disk error or a hand edit might leave.
    const text = `{"version":1,"bootId":"${bootId}","leases":[\n${lines[0]},\n${lines[1]?.slice(0, 30)},\n${lines[2]}\n]}\n`;
    writeFileSync(file, text);
    const { leases, logs } = loadLogged(file);
    expect(leases).toEqual([record('a'), record('c')]);
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatch(
      /^cgfreeze serve: LEASE FILE DAMAGED: lease file .* is not valid JSON: .*; moved it to .*\.damaged-.*Starting with the 2 lease\(s\) that could be read/,
    );
    const aside = readdirSync(tmp).filter((n) => n.startsWith('damaged.json.damaged-'));
    expect(aside).toHaveLength(1);
    expect(readFileSync(join(tmp, aside[0] as string), 'utf8')).toBe(text);
    // Written afresh, with what could be read.
    expect(new LeaseStore(file, () => undefined).load()).toEqual([record('a'), record('c')]);
    expect(() => parseLeaseFile('{"version":1,"leases":[{"cgroupDir":"relative"}]}', file)).toThrow(DamagedLeaseFile);
  });

  it('caps the file: a larger one is set aside, a lease that would pass the cap is refused', () => {
    const file = join(tmp, 'huge.json');
    writeFileSync(file, Buffer.alloc(MAX_LEASE_FILE_BYTES + 1, 0x20));
    const huge = loadLogged(file);
    expect(huge.leases).toEqual([]);
    expect(huge.logs.join('')).toMatch(/is 16777217 bytes, more than it may hold/);
    const store = new LeaseStore(undefined, () => undefined);
    const long = 'x'.repeat(4096);
    let i = 0;
    const fill = (): void => {
      for (; i < 10_000; i++) store.put(record(`${i}`, { target: long }));
    };
    let refused: unknown;
    try {
      fill();
    } catch (err) {
      refused = err;
    }
    expect(refused).toMatchObject({ code: 'ERR_BUSY', message: /as many as its lease file takes/ });
    expect(store.size * 4_200).toBeLessThanOrEqual(MAX_LEASE_FILE_BYTES);
  });

  it('drops the leases of an earlier boot, and the temporary files of a crashed run', () => {
    const file = join(tmp, 'rebooted.json');
    writeFileSync(
      file,
      `{"version":1,"bootId":"00000000-0000-0000-0000-000000000000","leases":[\n${JSON.stringify(record('a'))}\n]}\n`,
    );
    writeFileSync(
      `${file}.journal`,
      `{"bootId":"00000000-0000-0000-0000-000000000000"}\n${JSON.stringify({ put: record('b') })}\n`,
    );
    writeFileSync(`${file}.tmp-1234-abcd`, '{');
    const { leases, logs } = loadLogged(file);
    expect(leases).toEqual([]);
    expect(logs.join('')).toMatch(/written before the last reboot; its 2 lease\(s\) ended with that boot/);
    expect(existsSync(`${file}.tmp-1234-abcd`)).toBe(false);
  });

  it('replays a journal whose last line a crash tore, and says so', () => {
    const file = join(tmp, 'torn.json');
    const put = (r: LeaseRecord): string => JSON.stringify({ put: r });
    writeFileSync(
      `${file}.journal`,
      `${JSON.stringify({ bootId })}\n${put(record('a'))}\n${put(record('b')).slice(0, 40)}`,
    );
    const { leases, logs } = loadLogged(file);
    expect(leases).toEqual([record('a')]);
    expect(logs).toEqual([
      `cgfreeze serve: the lease journal ${file}.journal had 1 unreadable line(s); they were skipped`,
    ]);
  });

  it('calls the expiry callback for due leases', async () => {
    const due: string[] = [];
    const store = new LeaseStore(undefined, (r) => due.push(r.cgroupDir));
    store.put(record('a', { expiresAt: Date.now() + 30 }));
    store.put(record('b'));
    await new Promise((r) => setTimeout(r, 300));
    expect(due).toEqual([record('a').cgroupDir]);
    store.close();
  });
});

describe('fair slots', () => {
  /** Takes a slot for `caller`; `order` records when each one got it. */
  const take = (slots: FairSlots, caller: string, order: string[], label = caller): Promise<void> => {
    const waiting = slots.acquire(caller);
    if (waiting === undefined) {
      order.push(label);
      return Promise.resolve();
    }
    return waiting.then(() => void order.push(label));
  };

  it('serves waiting callers in turn, first come first served within each', async () => {
    const slots = new FairSlots(1, 1, 10_000);
    const order: string[] = [];
    await take(slots, 'a', order, 'a0');
    // a queues a burst, then b asks once: b's turn comes right after a's first.
    const all = [1, 2, 3].map((i) => take(slots, 'a', order, `a${i}`));
    all.push(take(slots, 'b', order, 'b0'));
    expect(slots.queued).toBe(4);
    for (const caller of ['a', 'a', 'b', 'a', 'a']) {
      slots.release(caller);
      await Promise.resolve();
      await Promise.resolve();
    }
    await Promise.all(all);
    expect(order).toEqual(['a0', 'a1', 'b0', 'a2', 'a3']);
    expect(slots.queued).toBe(0);
  });

  it('holds one caller to its share, and lets another take a free slot at once', () => {
    const slots = new FairSlots(4, 2, 10_000);
    expect(slots.acquire('a')).toBeUndefined();
    expect(slots.acquire('a')).toBeUndefined();
    const third = slots.acquire('a');
    expect(third).toBeInstanceOf(Promise);
    expect(slots.acquire('b')).toBeUndefined();
    slots.drain(new CgfreezeError('ERR_BUSY', 'closing'));
    return expect(third).rejects.toMatchObject({ code: 'ERR_BUSY' });
  });

  it('refuses with ERR_BUSY a request that waited past the bound, and one whose client went away', async () => {
    const slots = new FairSlots(1, 1, 50);
    expect(slots.acquire('a')).toBeUndefined();
    await expect(slots.acquire('b')).rejects.toMatchObject({ code: 'ERR_BUSY', message: /within 50 ms/ });
    const gone = new AbortController();
    const waiting = slots.acquire('c', () => gone.signal);
    gone.abort();
    await expect(waiting).rejects.toMatchObject({ code: 'ECONNRESET' });
    expect(slots.queued).toBe(0);
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
    const text = m.render({ frozen: 2, leases: 1, inflight: 0, queued: 0, startTimeSeconds: 1 });
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
