import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CgfreezeClient } from '../../src/client/index.js';
import { type LabContainer, getLab } from '../helpers/lab.js';
import { REPO, removeTemp, tempDir, until } from './helpers.js';
import { kernelFreezerState } from '../helpers/kernel.js';

/**
 * The sidecar image, built offline (deploy/build-rootfs.sh: the host's node
 * binary + the package, `docker import`), run as root in the lab's Docker,
 * pausing a sibling container through its socket.
 */
describe('the sidecar image in the lab', () => {
  const lab = getLab('host');
  const tag = Math.random().toString(36).slice(2, 8);
  const image = `cgfs-serve:${tag}`;
  const name = `cgfs-sidecar-${tag}`;
  const tmp = tempDir();
  const socketDir = join(tmp, 'run');
  const stateDir = join(tmp, 'state');
  const socketPath = join(socketDir, 'cgfreeze.sock');
  let sibling: LabContainer;
  let client: CgfreezeClient;
  let sidecarId = '';

  // Asynchronous on purpose: a worker blocked for minutes in a build stops answering vitest.
  const run = promisify(execFile);
  const docker = async (args: string[]): Promise<string> =>
    (
      await run(lab.env.docker.cli, ['-H', lab.env.docker.host, ...args], { encoding: 'utf8', timeout: 120_000 })
    ).stdout.trim();

  beforeAll(async () => {
    mkdirSync(socketDir);
    mkdirSync(stateDir);
    const dist = join(tmp, 'dist');
    await run(join(REPO, 'node_modules/.bin/tsc'), ['-p', join(REPO, 'tsconfig.build.json'), '--outDir', dist], {
      cwd: REPO,
      timeout: 300_000,
    });
    await run('bash', [join(REPO, 'deploy/build-rootfs.sh'), image], {
      cwd: REPO,
      env: { ...process.env, DIST: dist, DOCKER: `${lab.env.docker.cli} -H ${lab.env.docker.host}` },
      timeout: 300_000,
    });
    sibling = await lab.docker({ name: `cgfs-sibling-${tag}` });
    sidecarId = await docker([
      // No --privileged: this sandbox cannot grant every capability, and root with the
      // host's cgroup tree mounted read-write is all the freezer needs.
      'run',
      '-d',
      '--name',
      name,
      '--pid',
      'host',
      '--cgroupns',
      'host',
      '--network',
      'none',
      '-v',
      '/sys/fs/cgroup:/host/sys/fs/cgroup',
      '-v',
      `${socketDir}:/run/cgfreeze`,
      '-v',
      `${stateDir}:/var/lib/cgfreeze`,
      image,
      '--socket',
      '/run/cgfreeze/cgfreeze.sock',
      '--lease-file',
      '/var/lib/cgfreeze/leases.json',
      '--audit-log',
      '/var/lib/cgfreeze/audit.log',
      '--host-root',
      '/host',
    ]);
    await until('the sidecar socket', () => existsSync(socketPath), 60_000);
    client = new CgfreezeClient({ socketPath });
  }, 600_000);

  afterAll(async () => {
    client?.close();
    if (sidecarId !== '') {
      try {
        process.stderr.write(
          (await run(lab.env.docker.cli, ['-H', lab.env.docker.host, 'logs', sidecarId], { encoding: 'utf8' })).stderr,
        );
      } catch {
        // The logs are only for diagnosis.
      }
    }
    for (const args of [
      ['rm', '-f', name],
      ['rmi', '-f', image],
    ]) {
      try {
        await docker(args);
      } catch {
        // Not created.
      }
    }
    removeTemp(tmp);
  });

  it('pauses and unpauses a sibling container through the containerized sidecar', async () => {
    expect(await client.health()).toMatchObject({ ok: true });
    const paused = await client.pause(sibling.cgroupDir, { ttl: '60s' });
    expect(paused).toMatchObject({ ok: true, state: 'frozen', cgroupDir: sibling.cgroupDir });
    expect(kernelFreezerState(sibling.cgroupDir)).toBe('frozen');
    expect(JSON.parse(readFileSync(join(stateDir, 'leases.json'), 'utf8'))).toMatchObject({
      leases: [{ cgroupDir: sibling.cgroupDir }],
    });
    const resumed = await client.unpause(sibling.cgroupDir);
    expect(resumed).toMatchObject({ ok: true, state: 'thawed' });
    expect(kernelFreezerState(sibling.cgroupDir)).toBe('thawed');
    // The caller as the kernel reported it across the container boundary (shared PID namespace).
    const audit = readFileSync(join(stateDir, 'audit.log'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { peer: { uid: number; pid: number } });
    expect(audit.at(-1)?.peer).toMatchObject({ uid: 0, pid: process.pid });
  });

  it('refuses to freeze its own container', async () => {
    const own = `${lab.env.cgroup.hostFreezer}/docker/${sidecarId}`;
    expect(existsSync(own)).toBe(true);
    await expect(client.pause(own)).rejects.toMatchObject({ code: 'ERR_PROTECTED_CGROUP' });
    expect(kernelFreezerState(own)).toBe('thawed');
  });
});
