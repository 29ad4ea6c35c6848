import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from './native.js';

/** The version of the installed cgfreeze package, from its package.json (`unknown` if it has none). */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version?: unknown };
  return typeof pkg.version === 'string' ? pkg.version : 'unknown';
}
