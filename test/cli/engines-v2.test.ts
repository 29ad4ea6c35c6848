import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { getLab, kernelFreezerState, type Lab, type LabContainer, readProgress } from '../helpers/lab.js';
import { cli, waitFor } from './helpers.js';

// Each step is a real process on a shared, often overloaded VM; allow for it.
vi.setConfig({ testTimeout: 300_000 });

// The cgroup v2 lab: its daemons run in a mount namespace with cgroup2 at /sys/fs/cgroup; from the
// host, cgfreeze reaches the same cgroups under /sys/fs/cgroup/unified.
const lab: Lab = getLab('v2');
const env = lab.env;
const ROOTS = [
  '--docker-root',
  env.docker.dataRoot,
  '--docker-exec-root',
  env.docker.execRoot,
  '--containerd-state',
  env.containerd.state,
  '--runtime-root',
  env.containerd.runcRoot,
];
const tag = `cgfc${process.pid}`;
let web: LabContainer;
let task: LabContainer;

function cg(args: string[]): ReturnType<typeof cli> {
  return cli([...args, ...ROOTS]);
}

beforeAll(async () => {
  [web, task] = await Promise.all([
    lab.docker({ name: `${tag}-v2web`, workload: 'counter' }),
    lab.ctr({ id: `${tag}-v2task`, workload: 'counter' }),
  ]);
}, 300_000);

afterAll(() => {
  for (const c of [web, task])
    if (c !== undefined && kernelFreezerState(c.cgroupDir) !== 'thawed') cg(['unpause', '--cgroup', c.cgroupDir]);
}, 120_000);

describe('cgroup v2 lab', () => {
  it('pauses and unpauses a docker and a containerd container through cgroup.freeze', async () => {
    expect(web.version).toBe('v2');
    const r = cg(['pause', web.name, task.name]);
    expect(r).toEqual({ status: 0, stdout: `${web.name}\n${task.name}\n`, stderr: '' });
    expect(kernelFreezerState(web.cgroupDir)).toBe('frozen');
    expect(kernelFreezerState(task.cgroupDir)).toBe('frozen');
    const before = readProgress(web);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(readProgress(web)).toBe(before);

    const status = JSON.parse(cg(['inspect', web.name]).stdout) as { results: Array<Record<string, unknown>> };
    // Memory is bound to v1 on this host, and the v2 lab's containers are in no v1 memory cgroup of
    // their own: nothing accounts their memory. cgroup2 always counts CPU time (cpu.stat).
    expect(status.results[0]).toMatchObject({ memory: null, cpuTimeUs: expect.any(Number) as unknown });
    expect(status.results[0]).toMatchObject({
      kernel: {
        state: 'frozen',
        self: true,
        version: 'v2',
        cgroupDir: web.cgroupDir,
        freezeFile: `${web.cgroupDir}/cgroup.freeze`,
      },
      engine: { engine: 'docker', state: 'running' },
    });
    const inspect = spawnSync(env.docker.cli, ['-H', env.docker.host, 'inspect', '-f', '{{.State.Paused}}', web.name], {
      encoding: 'utf8',
    });
    expect(inspect.stdout).toBe('false\n');

    expect(cg(['unpause', web.name, task.name])).toEqual({
      status: 0,
      stdout: `${web.name}\n${task.name}\n`,
      stderr: '',
    });
    expect(kernelFreezerState(web.cgroupDir)).toBe('thawed');
    await waitFor(() => readProgress(web) > before, 'the v2 workload to resume');
  });
});
