/** What the results were measured on: machine, kernel, cgroup layout, versions, load. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, hostname, loadavg, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { cgroup2Mount, cgroupMounts, freezerV1Mount } from '../../src/cgroup/mountinfo.js';

function tryRun(cmd: string, args: readonly string[]): string | undefined {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 }).trim();
  } catch {
    return undefined;
  }
}

function cgroupMode(): string {
  const mounts = cgroupMounts();
  const v1 = freezerV1Mount(mounts);
  const v2 = cgroup2Mount(mounts);
  if (v1 !== undefined && v2 !== undefined)
    return `hybrid (v1 freezer at ${v1.mountPoint}, cgroup2 at ${v2.mountPoint})`;
  if (v1 !== undefined) return `v1 (freezer at ${v1.mountPoint})`;
  if (v2 !== undefined) return `unified (cgroup2 at ${v2.mountPoint})`;
  return 'no freezer';
}

/** `end` adds only what changes during a run (load) so start and end can be compared. */
export function machineInfo(end = false): Record<string, unknown> {
  const load = loadavg().map((l) => Number(l.toFixed(2)));
  if (end) return { loadAtEnd: load };
  const pkg = JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string };
  const osRelease = readFileSync('/etc/os-release', 'utf8').match(/^PRETTY_NAME="?([^"\n]*)/m)?.[1];
  return {
    hostname: hostname(),
    os: osRelease,
    kernel: release(),
    cpu: `${cpus().length} × ${cpus()[0]?.model ?? 'unknown'}`,
    memoryGiB: Number((totalmem() / 2 ** 30).toFixed(1)),
    virtualization: tryRun('systemd-detect-virt', []) ?? 'unknown',
    cgroupMode: cgroupMode(),
    node: process.version,
    cgfreeze: pkg.version,
    commit: tryRun('git', ['rev-parse', '--short', 'HEAD']),
    gcc: tryRun('gcc', ['-dumpfullversion']),
    dockerd: tryRun('dockerd', ['--version']),
    containerd: tryRun('containerd', ['--version']),
    runc: tryRun('runc', ['--version'])?.split('\n')[0],
    podman: tryRun('podman', ['--version']),
    loadAtStart: load,
    note: 'shared machine: other jobs may run during the benchmark; compare ratios within one run',
  };
}
