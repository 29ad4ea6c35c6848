// The CLI as one file: `dist/cli/main.js` (the package's bin) becomes an esbuild bundle of src/cli/main.ts
// and everything it loads, so a `cgfreeze` process reads and compiles one file instead of resolving and
// loading 58 modules (README, "Command line": start-up measured by `npm run bench:cli`). tsc's output
// stays beside it for the library, `cgfreeze/serve` and the sidecar image's `dist/serve/main.js`.
//
// The library's modules expect to sit in dist/ (src/native.ts: the package root is `dirname(__dirname)`),
// so inside the bundle `__dirname` names dist/, not dist/cli/.
import { build } from 'esbuild';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

await build({
  entryPoints: [join(root, 'src', 'cli', 'main.ts')],
  outfile: join(root, 'dist', 'cli', 'main.js'),
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  // CGFREEZE_NO_MINIFY=1 keeps names and lines, for a CPU profile of the CLI.
  minify: process.env.CGFREEZE_NO_MINIFY === undefined,
  legalComments: 'none',
  // Loaded from node_modules at run time, and only to find a locally built addon.
  external: ['bindings'],
  define: { __dirname: '__cgfreezeDist' },
  banner: { js: 'var __cgfreezeDist=require("node:path").dirname(__dirname);' },
  logLevel: 'warning',
});
