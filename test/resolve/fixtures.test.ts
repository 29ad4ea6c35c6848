import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Resolved, clearResolveCache, listSync, resolveSync } from '../../src/index.js';
import { errorWith } from '../helpers/matchers.js';
import type { FakeHost } from '../fixtures/hosts/fake-host.js';
import { LAYOUTS } from '../fixtures/hosts/layouts.js';

for (const layout of LAYOUTS) {
  describe(`fixture host ${layout.name}: ${layout.about}`, () => {
    let host: FakeHost;
    beforeAll(() => {
      host = layout.build();
    });
    afterAll(() => host?.remove());

    const resolveOn = (ref: string): Resolved => resolveSync(ref, { ...layout.opts, hostRoot: host.root });
    const outcomes = layout.cases.map(([ref, want]) => ({ ref, want }));
    for (const { ref, want } of outcomes.filter(
      (o): o is { ref: string; want: { error: string } } => 'error' in o.want,
    )) {
      it(`${JSON.stringify(ref)} → ${want.error}`, () => {
        clearResolveCache();
        expect(() => resolveOn(ref)).toThrow(errorWith({ name: 'CgfreezeError', code: want.error }));
      });
    }
    for (const { ref, want } of outcomes.filter((o) => !('error' in o.want))) {
      it(`${JSON.stringify(ref)} → ${JSON.stringify(want).slice(0, 60)}`, () => {
        clearResolveCache();
        expect(resolveOn(ref)).toMatchObject(want);
      });
    }

    it('lists every container with no crash, each resolved or with an error', () => {
      const all = listSync({ ...layout.opts, hostRoot: host.root });
      expect(all.length).toBeGreaterThan(0);
      for (const c of all) expect(c.running ? c.cgroupDir : c.error).toBeDefined();
      const resolved = all.filter((c) => c.cgroupDir !== undefined);
      expect(resolved.map((c) => c.freezer)).toEqual(resolved.map((c) => (c.pausedByEngine ? 'frozen' : 'thawed')));
    });
  });
}
