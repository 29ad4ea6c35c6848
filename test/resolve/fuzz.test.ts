import { posix } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CgfreezeError } from '../../src/errors.js';
import { isUnder } from '../../src/cgroup/mountinfo.js';
import { listSync, resolveSync } from '../../src/index.js';
import { parseReference } from '../../src/resolve/index.js';
import { FakeHost, dockerContainer, hexId, storageContainer, writeIndex } from '../fixtures/hosts/fake-host.js';

const TOKEN = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const INVALID_ARG = { name: 'CgfreezeError', code: 'ERR_INVALID_ARG' };

/** Strings built from the characters that matter to the parser and to paths. */
const structured = fc
  .array(
    fc.constantFrom(
      'a',
      'Z',
      '0',
      'f',
      '/',
      '.',
      '..',
      '-',
      '_',
      ':',
      '//',
      '\0',
      ' ',
      'é',
      'docker://',
      'k8s://',
      'containerd://',
      '\n',
    ),
    { maxLength: 12 },
  )
  .map((parts) => parts.join(''));

describe('fuzz: the reference parser', () => {
  it('returns only path-free tokens or throws ERR_INVALID_ARG, for any string', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 900 }), structured), (ref) => {
        let tokens: string[] = [];
        let refused: unknown;
        try {
          const parsed = parseReference(ref);
          tokens =
            parsed.kind === 'plain'
              ? [parsed.value, ...(parsed.namespace === undefined ? [] : [parsed.namespace])]
              : Object.values(parsed).filter((v) => v !== parsed.kind);
        } catch (err) {
          refused = err;
        }
        // A refusal, if any, is the typed bad-input error; what is accepted holds no path.
        expect(refused ?? INVALID_ARG).toMatchObject(INVALID_ARG);
        for (const t of tokens) {
          expect(t).toMatch(TOKEN);
          expect(t).not.toBe('..');
        }
      }),
      { numRuns: 5000 },
    );
  });
});

/** JSON-ish values that look like engine state, with paths that try to climb out. */
const pathish = fc
  .array(fc.constantFrom('', '.', '..', 'sys', 'fs', 'cgroup', 'unified', 'freezer', 'docker', 'etc', 'proc', 'x'), {
    maxLength: 8,
  })
  .map((p) => p.join('/'));
const scalar = fc.oneof(
  fc.string({ maxLength: 20 }),
  pathish,
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
);
const jsonish = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    scalar,
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(
      fc.constantFrom(
        'ID',
        'Name',
        'State',
        'Pid',
        'Running',
        'Paused',
        'cgroup_paths',
        '',
        'freezer',
        'init_process_pid',
        'init_process_start',
        'pid',
        'cgroup-path',
        'annotations',
        'id',
        'names',
        '__proto__',
        'constructor',
      ),
      tie('value'),
      { maxKeys: 6 },
    ),
  ),
})).value;

describe('fuzz: state-file readers on a fake host', () => {
  let h: FakeHost;
  const ID = hexId('f0f0', 1);
  const PM = hexId('f1f1', 2);
  const cfg = () => `/var/lib/docker/containers/${ID}/config.v2.json`;
  const state = () => `/var/run/docker/runtime-runc/moby/${ID}/state.json`;
  beforeAll(() => {
    h = new FakeHost('hybrid');
    dockerContainer(h, { id: ID, name: 'fuzzed', pid: 4242 });
    const index: Array<{ id: string; names: string[] }> = [];
    storageContainer(
      h,
      { id: PM, names: ['pfuzz'], manager: 'libpod', pid: 4343, scope: `/machine.slice/libpod-${PM}.scope` },
      index,
    );
    writeIndex(h, index);
  });
  afterAll(() => h.remove());

  /** Resolution either fails with a CgfreezeError or lands on a real, normalized directory inside the freezer mount. */
  function check(ref: string): void {
    try {
      const r = resolveSync(ref, { hostRoot: h.root, cache: false });
      expect(posix.normalize(r.cgroupDir)).toBe(r.cgroupDir);
      expect(r.cgroupDir.split('/')).not.toContain('..');
      expect(isUnder(r.cgroupDir, '/sys/fs/cgroup/freezer') && r.cgroupDir !== '/sys/fs/cgroup/freezer').toBe(true);
    } catch (err) {
      if (!(err instanceof CgfreezeError)) throw err;
    }
  }

  it.each(['config', 'state', 'crun', 'index', 'pidfile', 'procCgroup'])(
    '%s: 250 hostile versions, no crash, no hang, no path outside the mount',
    async (kind) => {
      const genFile = fc.oneof(
        jsonish.map((v) => JSON.stringify(v) ?? ''),
        fc.string({ unit: 'binary', maxLength: 200 }),
        fc.constantFrom('', '{', '[]', 'null', '{"ID":', '4242', '-1', '99999999999999999999', '0x10'),
      );
      await fc.assert(
        fc.asyncProperty(genFile, jsonish, async (text, value) => {
          // Yield so the worker keeps talking to the runner during a long synchronous run.
          await new Promise((r) => setImmediate(r));
          const writes: Record<string, () => void> = {
            config: () => h.file(cfg(), text),
            state: () =>
              h.json(state(), {
                init_process_pid: 4242,
                init_process_start: 42420,
                cgroup_paths: isObj(value)
                  ? value
                  : { freezer: `/sys/fs/cgroup/freezer/${typeof value === 'string' ? value : text}` },
              }),
            crun: () => h.file(`/run/crun/${PM}/status`, text),
            index: () => h.file('/var/lib/containers/storage/overlay-containers/containers.json', text),
            pidfile: () => h.file(`/run/containers/storage/overlay-containers/${PM}/userdata/pidfile`, text),
            procCgroup: () =>
              h.file('/proc/4242/cgroup', `6:freezer:/${typeof value === 'string' ? value : text}\n0::/\n`),
          };
          writes[kind]?.();
          check('fuzzed');
          check(ID.slice(0, 6));
          check('pfuzz');
          check(PM);
          const listed = listSync({ hostRoot: h.root });
          expect(listed.flatMap((c) => c.cgroupDir?.split('/') ?? [])).not.toContain('..');
          // Restore the healthy files so every case starts from a working host.
          dockerContainer(h, { id: ID, name: 'fuzzed', pid: 4242 });
        }),
        { numRuns: 250 },
      );
    },
    600_000,
  );
});

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
