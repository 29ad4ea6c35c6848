// npm's install hook (package.json "install"), shipped in the package. Compiles the addon only when
// nothing shipped will do: off Linux nothing is built (cgfreeze/client needs no addon); a package with a
// prebuild that loads here installs without a compiler. A source checkout always compiles, as before:
// its dist/ does not exist yet (tsc runs later, in "prepare") and its prebuilds/ may be stale.
// CGFREEZE_BUILD_FROM_SOURCE=1 compiles even when a prebuild loads.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const require = createRequire(import.meta.url);

function log(message) {
  console.error(`cgfreeze: ${message}`);
}

/** Why the shipped prebuild does not load here, or undefined when it does. */
function prebuildProblem() {
  const loader = require(join(root, 'dist', 'addon-loader.js'));
  const target = loader.currentTarget();
  const name = loader.targetName(target);
  const prebuild = loader.addonCandidates(root, target).find((c) => c.kind === 'prebuild');
  if (prebuild === undefined) return `no prebuild ships for ${name}`;
  try {
    prebuild.load();
    log(`using the prebuilt addon for ${name}`);
    return undefined;
  } catch (err) {
    return `the prebuild for ${name} does not load: ${String(err.message).split('\n')[0]}`;
  }
}

/** npm and pnpm put their node-gyp on PATH for install scripts; npm also names it in npm_config_node_gyp. */
function compile() {
  const script = process.env.npm_config_node_gyp;
  const [cmd, args] = script ? [process.execPath, [script, 'rebuild']] : ['node-gyp', ['rebuild']];
  const result = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  return result.status === 0;
}

function main() {
  if (process.platform !== 'linux') {
    log(`the freezer is Linux-only: nothing to build on ${process.platform} (cgfreeze/client works here)`);
    return 0;
  }
  const sourceCheckout = existsSync(join(root, 'src'));
  if (!sourceCheckout && process.env.CGFREEZE_BUILD_FROM_SOURCE !== '1') {
    const problem = prebuildProblem();
    if (problem === undefined) return 0;
    log(`${problem}; compiling it (needs python3, make and g++)`);
  }
  if (compile()) return 0;
  const loader = join(root, 'dist', 'addon-loader.js');
  log(
    `the native addon did not compile. ${existsSync(loader) ? require(loader).BUILD_FROM_SOURCE_REMEDY : 'Install python3, make and g++.'}`,
  );
  return 1;
}

process.exitCode = main();
