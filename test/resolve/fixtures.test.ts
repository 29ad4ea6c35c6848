import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CgfreezeError } from '../../src/errors.js';
import { clearResolveCache, listSync, resolveSync } from '../../src/index.js';
import type { FakeHost } from '../fixtures/hosts/fake-host.js';
import { LAYOUTS } from '../fixtures/hosts/layouts.js';

for (const layout of LAYOUTS) {
  describe(`fixture host ${layout.name}: ${layout.about}`, () => {
    let host: FakeHost;
    beforeAll(() => {
      host = layout.build();
    });
    afterAll(() => host.remove());

    for (const [ref, want] of layout.cases) {
      const label = 'error' in want ? want.error : JSON.stringify(want).slice(0, 60);
      it(`${JSON.stringify(ref)} → ${label}`, () => {
        clearResolveCache();
        const run = () => resolveSync(ref, { ...layout.opts, hostRoot: host.root });
        if ('error' in want) {
          let caught: unknown;
          try {
            run();
          } catch (err) {
            caught = err;
          }
          expect(caught).toBeInstanceOf(CgfreezeError);
          expect((caught as CgfreezeError).code, (caught as Error).message).toBe(want.error);
        } else {
          expect(run()).toMatchObject(want);
        }
      });
    }

    it('lists every container with no crash, each resolved or with an error', () => {
      const all = listSync({ ...layout.opts, hostRoot: host.root });
      expect(all.length).toBeGreaterThan(0);
      for (const c of all) {
        expect(c.running ? c.cgroupDir : c.error).toBeDefined();
        if (c.cgroupDir !== undefined) expect(c.freezer).toBe(c.pausedByEngine ? 'frozen' : 'thawed');
      }
    });
  });
}
