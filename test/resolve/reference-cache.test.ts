import { readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CgfreezeError } from '../../src/errors.js';
import { clearResolveCache, listSync, resolveSync } from '../../src/index.js';
import { parseReference } from '../../src/resolve/index.js';
import { FakeHost, dockerContainer, hexId } from '../fixtures/hosts/fake-host.js';
import { manyDockerHost } from '../fixtures/hosts/many.js';
import { errorWith } from '../helpers/matchers.js';

describe('parseReference', () => {
  it.each([
    ['web', { kind: 'plain', value: 'web' }],
    ['/web', { kind: 'plain', value: 'web' }],
    ['0be00', { kind: 'plain', value: '0be00' }],
    ['docker://web', { kind: 'plain', engine: 'docker', value: 'web' }],
    ['containerd://k8s.io/abc', { kind: 'plain', engine: 'containerd', namespace: 'k8s.io', value: 'abc' }],
    ['cri-o://abc', { kind: 'plain', engine: 'cri-o', value: 'abc' }],
    [
      'shop/web-5d4f8c7b9-x2kqp/nginx',
      { kind: 'k8s-container', namespace: 'shop', pod: 'web-5d4f8c7b9-x2kqp', container: 'nginx' },
    ],
    ['shop/web', { kind: 'k8s-pod', namespace: 'shop', pod: 'web' }],
    ['k8s://shop/web', { kind: 'k8s-pod', namespace: 'shop', pod: 'web' }],
    ['k8s_nginx_web_shop_1234_0', { kind: 'plain', value: 'k8s_nginx_web_shop_1234_0' }],
  ])('%s', (ref, want) => {
    expect(parseReference(ref)).toEqual(want);
  });
  it.each([
    '',
    '//web',
    '..',
    '../x',
    'a/../b',
    'a//b',
    'web\0',
    'a b',
    '-web',
    'x'.repeat(801),
    'a/b/c/d',
    'k8s://x',
    'containerd://a/b/c',
    'wéb',
  ])('rejects %j with ERR_INVALID_ARG', (ref) => {
    expect(() => parseReference(ref)).toThrowError(errorWith({ code: 'ERR_INVALID_ARG' }));
  });
  it('rejects non-strings', () => {
    expect(() => parseReference(42)).toThrow(CgfreezeError);
  });
});

describe('cache: a resolution is reused while cheap checks hold', () => {
  let h: FakeHost;
  const ID = hexId('cace', 1);
  beforeAll(() => {
    h = new FakeHost('hybrid');
    dockerContainer(h, { id: ID, name: 'cached', pid: 9001 });
  });
  afterAll(() => h.remove());

  it('returns the cached entry without re-reading engine state', () => {
    clearResolveCache();
    const first = resolveSync('cached', { hostRoot: h.root });
    // runc's state.json is none of the cache's checks (cgroup inode, init process, Docker's config):
    // broken now, it fails every resolution that reads it, so only the cache can still answer.
    const runtimeState = `${h.root}/var/run/docker/runtime-runc/moby/${ID}/state.json`;
    const healthy = readFileSync(runtimeState);
    writeFileSync(runtimeState, '{"init_process_pid":');
    const stateFileError = errorWith({ code: 'ERR_STATE_FILE' });
    try {
      expect(resolveSync('cached', { hostRoot: h.root })).toEqual(first);
      expect(() => resolveSync('cached', { hostRoot: h.root, cache: false })).toThrowError(stateFileError);
      clearResolveCache();
      expect(() => resolveSync('cached', { hostRoot: h.root })).toThrowError(stateFileError);
    } finally {
      writeFileSync(runtimeState, healthy);
    }
  });

  it('holds files of the host while cached; clearResolveCache() closes them', () => {
    const held = (): string[] =>
      readdirSync('/proc/self/fd')
        .map((fd) => {
          try {
            return readlinkSync(`/proc/self/fd/${fd}`);
          } catch {
            return ''; // closed meanwhile (the readdir's own fd)
          }
        })
        .filter((target) => target.startsWith(`${h.root}/`));
    clearResolveCache();
    expect(held()).toEqual([]);
    resolveSync('cached', { hostRoot: h.root });
    expect(held().length).toBeGreaterThan(0);
    clearResolveCache();
    expect(held()).toEqual([]);
  });

  it('re-resolves when the cgroup directory was recreated (inode) or removed', () => {
    resolveSync('cached', { hostRoot: h.root });
    rmSync(`${h.root}/sys/fs/cgroup/freezer/docker/${ID}`, { recursive: true });
    expect(() => resolveSync('cached', { hostRoot: h.root })).toThrowError(
      errorWith({ code: 'ERR_CONTAINER_NOT_RUNNING' }),
    );
    h.cgroup(`/docker/${ID}`);
    expect(resolveSync('cached', { hostRoot: h.root }).id).toBe(ID);
  });

  it('re-resolves when Docker rewrote config.v2.json (docker pause)', () => {
    expect(resolveSync('cached', { hostRoot: h.root }).pausedByEngine).toBe(false);
    dockerContainer(h, { id: ID, name: 'cached', pid: 9001, paused: true });
    expect(resolveSync('cached', { hostRoot: h.root }).pausedByEngine).toBe(true);
  });
});

describe('1,000 Docker containers on disk', () => {
  let many: ReturnType<typeof manyDockerHost>;
  beforeAll(() => {
    many = manyDockerHost(1000);
  });
  afterAll(() => many.host.remove());

  it('resolves one by name, ID and prefix, and lists all of them', () => {
    const opts = { hostRoot: many.host.root, cache: false };
    expect(resolveSync(many.name, opts).id).toBe(many.id);
    expect(resolveSync(many.id, opts).name).toBe(many.name);
    expect(resolveSync(many.prefix, opts).id).toBe(many.id);
    const all = listSync({ hostRoot: many.host.root, filter: { label: 'idx=500' } });
    expect(all.map((c) => c.name)).toEqual(['cgfr-many-500']);
    expect(listSync({ hostRoot: many.host.root, filter: { running: false } })).toHaveLength(100);
  });
});
