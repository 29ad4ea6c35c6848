// What a TypeScript user gets from `using` and `await using`: tsc type-checks a scope against the built
// declarations (dist/index.d.ts) and compiles it for ES2022, below the syntax, into helpers that need only
// Symbol.dispose and Symbol.asyncDispose; plain node runs the result.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Scratch, createScratch } from '../helpers/scratch.js';

const ROOT = join(__dirname, '..', '..');
let scratch: Scratch;
let tmp: string;
beforeAll(() => {
  scratch = createScratch();
  tmp = mkdtempSync(join(tmpdir(), 'cgfreeze-using-'));
});
afterAll(async () => {
  rmSync(tmp, { recursive: true, force: true });
  await scratch.cleanup();
});

const SCOPES = `
import { readFileSync } from 'node:fs';
import { freeze, freezeSync, type FrozenResult } from ${JSON.stringify(join(ROOT, 'dist', 'index.js'))};

const dirs = process.argv.slice(2);
const self = (dir: string): string => readFileSync(dir + '/cgroup.freeze', 'utf8').trim();

async function main(): Promise<void> {
  {
    using frozen: FrozenResult = freezeSync(dirs[0]!);
    console.log('sync scope', frozen.state, self(dirs[0]!));
  }
  console.log('after sync scope', self(dirs[0]!));
  {
    await using group = await freeze(dirs, { atomic: true });
    console.log('group scope', group.ok, dirs.map(self).join(''));
  }
  console.log('after group scope', dirs.map(self).join(''));
}
void main();
`;

it('tsc compiles `using` scopes for ES2022 and node runs them: each thaws at its end', () => {
  const dirs = [scratch.make(2), scratch.make(2)];
  writeFileSync(join(tmp, 'scopes.ts'), SCOPES);
  writeFileSync(
    join(tmp, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        module: 'nodenext',
        moduleResolution: 'nodenext',
        lib: ['ES2023'],
        types: ['node'],
        typeRoots: [join(ROOT, 'node_modules', '@types')],
        strict: true,
        skipLibCheck: true,
        outDir: 'out',
      },
      files: ['scopes.ts'],
    }),
  );
  execFileSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', tmp]);
  const compiled = readFileSync(join(tmp, 'out', 'scopes.js'), 'utf8');
  expect(compiled).toContain('__addDisposableResource');
  expect(compiled).not.toMatch(/\busing (frozen|group)\b/);
  const output = execFileSync(process.execPath, [join(tmp, 'out', 'scopes.js'), ...dirs], { encoding: 'utf8' });
  expect(output.trim().split('\n')).toEqual([
    'sync scope frozen 1',
    'after sync scope 0',
    'group scope true 11',
    'after group scope 00',
  ]);
});
