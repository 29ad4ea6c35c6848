// vitest globalSetup: the real-engine labs (scripts/lab) for the whole run. Installs the engines on a
// fresh machine, brings both labs up (fast no-op when they are up), and takes a lease on each; teardown
// releases it and the last holder brings the lab down, unless CGFREEZE_KEEP_LAB=1. Leases let
// concurrent runs (several worktrees) share one lab without tearing it down under each other.
import { execFile } from 'node:child_process';
import { join } from 'node:path';

// Not imported from helpers/lab.ts: that module imports vitest, which a globalSetup must not.
type LabMode = 'host' | 'v2';
const LAB_MODES: LabMode[] = ['host', 'v2'];
const LAB_SCRIPT = join(__dirname, '..', 'scripts', 'lab', 'lab.sh');
const INSTALL_SCRIPT = join(__dirname, '..', 'scripts', 'lab', 'install.sh');

function bash(args: string[], timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = execFile('bash', args, { timeout: timeoutMs }, (err) => (err ? reject(err) : resolve()));
    child.stderr?.pipe(process.stderr);
  });
}

function labCommand(cmd: 'lease' | 'release', mode: LabMode): Promise<void> {
  return bash([LAB_SCRIPT, cmd, mode, String(process.pid)], 15 * 60_000);
}

export async function setup(): Promise<void> {
  const t = Date.now();
  await bash([INSTALL_SCRIPT], 15 * 60_000);
  await Promise.all(LAB_MODES.map((mode) => labCommand('lease', mode)));
  console.error(`[cgfl] labs ${LAB_MODES.join(', ')} ready in ${Date.now() - t} ms`);
}

export async function teardown(): Promise<void> {
  const results = await Promise.allSettled(LAB_MODES.map((mode) => labCommand('release', mode)));
  const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed.length > 0)
    throw new AggregateError(
      failed.map((f) => f.reason as unknown),
      'lab teardown failed',
    );
}
