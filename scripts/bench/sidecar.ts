/**
 * The sidecar as a bench method: `cgfreeze serve` started from dist/ as a
 * child process, the way it is deployed, and driven only through the
 * cgfreeze/client API on its unix socket with one kept-alive connection.
 * Targets are cgroup paths, so the sidecar and the direct API drive the same
 * cgroup.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CgfreezeClient } from '../../src/client/index.js';
import { type Method, type MethodRun, externalMethod } from './methods.js';
import type { MethodId } from './options.js';

const packageRoot = join(__dirname, '..', '..');
const cliMain = join(packageRoot, 'dist', 'cli', 'main.js');

/** The lease a durable pause takes: long enough never to expire within a cycle. */
export const SIDECAR_TTL = '60s';

/** The newest modification time of a file under `dir`, in ms. */
function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) newest = Math.max(newest, statSync(join(entry.parentPath, entry.name)).mtimeMs);
  }
  return newest;
}

/** CPU time of every thread of a process, in ns (schedstat: exact, where /proc/<pid>/stat counts 10 ms ticks). */
function processCpuNs(pid: number): number {
  let total = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      total += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // The thread ended meanwhile; its time is lost, a few µs at most.
    }
  }
  return total;
}

/**
 * A Node HTTP server on a unix socket that answers every request as the sidecar answers a good one and
 * does nothing else: the same client's round trip to it is the floor under any sidecar on this machine.
 */
const FLOOR_SERVER = `
const [socketPath] = process.argv.slice(1);
require('node:http').createServer((req, res) => {
  let body = '';
  req.on('data', (d) => (body += d));
  req.on('end', () => {
    const target = req.method === 'POST' ? JSON.parse(body).target : undefined;
    const reply = JSON.stringify(target === undefined ? { ok: true } : {
      ok: true, results: [{ target, ok: true, cgroupDir: target, version: 'v2', state: 'thawed', elapsedMs: 0 }],
    }) + '\\n';
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(reply) });
    res.end(reply);
  });
}).listen(socketPath);
`;

/** Counts the client connections this process opens while it runs (Node's `net.client.socket` channel). */
function countConnections(): { stop(): number } {
  let opened = 0;
  const onSocket = (): void => {
    opened++;
  };
  subscribe('net.client.socket', onSocket);
  return {
    stop() {
      unsubscribe('net.client.socket', onSocket);
      return opened;
    },
  };
}

export class BenchSidecar {
  private constructor(
    private readonly child: ChildProcess,
    /** Its socket, lease file, policy and audit log; removed on stop. */
    readonly dir: string,
    readonly client: CgfreezeClient,
    /** The bare HTTP server beside it (FLOOR_SERVER), and the same client for it. */
    private readonly floor: ChildProcess,
    private readonly floorClient: CgfreezeClient,
    private readonly stderr: () => string,
    /** Set when dist/ is older than src/: the sidecar then runs an old build. */
    readonly staleBuild: boolean,
  ) {}

  /**
   * Starts the sidecar with its own socket, lease file, policy (uid 0 may do
   * everything) and audit log in a temporary directory; resolves once it answers.
   */
  static async start(cpuProfDir: string | undefined): Promise<BenchSidecar> {
    if (!existsSync(cliMain)) throw new Error(`${cliMain} is missing: run npm run build:ts first`);
    const staleBuild = newestMtime(join(packageRoot, 'src')) > statSync(cliMain).mtimeMs;
    // /var/tmp is on disk by convention (FHS), as the default lease file under /var/lib is: the durable
    // pause's fsync costs what it costs in production, where a tmpfs /tmp would make it free.
    const dir = mkdtempSync(join('/var/tmp', 'cgfb-sidecar-'));
    const socketPath = join(dir, 'cgfreeze.sock');
    const policy = join(dir, 'policy.json');
    writeFileSync(policy, JSON.stringify({ rules: [{ callers: { uids: [0] } }] }));
    const node = [...(cpuProfDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', cpuProfDir]), cliMain];
    // A bench killed outright must not leave a sidecar behind: the kernel sends it SIGTERM, and
    // --on-sigterm thaw thaws whatever it still holds.
    const child = spawn(
      'setpriv',
      [
        '--pdeathsig',
        'TERM',
        process.execPath,
        ...node,
        'serve',
        '--socket',
        socketPath,
        '--lease-file',
        join(dir, 'leases.json'),
        '--policy',
        policy,
        '--audit-log',
        join(dir, 'audit.jsonl'),
        '--on-sigterm',
        'thaw',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const floorSocket = join(dir, 'floor.sock');
    const floor = spawn('setpriv', ['--pdeathsig', 'TERM', process.execPath, '-e', FLOOR_SERVER, floorSocket], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const sidecar = new BenchSidecar(
      child,
      dir,
      new CgfreezeClient({ socketPath }),
      floor,
      new CgfreezeClient({ socketPath: floorSocket }),
      () => stderr,
      staleBuild,
    );
    try {
      await sidecar.ready(20_000);
    } catch (err) {
      await sidecar.stop();
      throw err;
    }
    return sidecar;
  }

  private async ready(timeoutMs: number): Promise<void> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      if (this.child.exitCode !== null || this.child.signalCode !== null)
        throw new Error(`the sidecar exited before it answered: ${this.stderr().trim()}`);
      try {
        await this.client.health();
        await this.floorClient.health();
        return;
      } catch (err) {
        if (Date.now() > end) throw new Error(`the sidecar did not answer within ${timeoutMs} ms`, { cause: err });
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** The sidecar's own CPU time so far, in ns. */
  cpuNs(): number {
    return this.child.pid === undefined ? 0 : processCpuNs(this.child.pid);
  }

  /** SIGTERM (it thaws what it holds, and writes its CPU profile if asked), then removes its files. */
  async stop(): Promise<void> {
    this.client.close();
    this.floorClient.close();
    this.floor.kill('SIGTERM');
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
      this.child.kill('SIGTERM');
      const killer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(killer);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  /**
   * Pause and unpause of the subject's cgroup through the client. Each run
   * first opens a connection (a health check, not timed), then its samples
   * must reuse it: a connection opened during the samples breaks the
   * keep-alive label and fails the run.
   */
  method(id: MethodId, label: string, ttl: string | undefined): Method {
    const inner = externalMethod(
      id,
      label,
      async (s) => void (await this.client.pause(s.cgroupDir, ttl === undefined ? {} : { ttl })),
      async (s) => void (await this.client.unpause(s.cgroupDir)),
    );
    return {
      id,
      label,
      run: async (subject, cycles): Promise<MethodRun> => {
        // A connection left idle since the last round may have been closed by the sidecar's keep-alive
        // timeout just as it is reused (EPIPE): start each round on a fresh one.
        this.client.close();
        await this.client.health();
        const connections = countConnections();
        const cpu0 = this.cpuNs();
        let run: MethodRun;
        try {
          run = await inner.run(subject, cycles);
        } catch (err) {
          connections.stop();
          throw err;
        }
        const newConnections = connections.stop();
        const daemonCpuNs = this.cpuNs() - cpu0;
        return { ...run, newConnections, daemonCpuNs, floorNs: await this.floorRoundTrips(subject.cgroupDir, cycles) };
      },
    };
  }

  /** `n` unpauses of `target` through the same client, answered by the bare server: each round trip, in ns. */
  private async floorRoundTrips(target: string, n: number): Promise<number[]> {
    this.floorClient.close();
    await this.floorClient.health();
    const trips: number[] = [];
    for (let i = 0; i < n; i++) {
      const t0 = process.hrtime.bigint();
      await this.floorClient.unpause(target);
      trips.push(Number(process.hrtime.bigint() - t0));
    }
    return trips;
  }

  methods(): Method[] {
    return [
      this.method('sidecar', 'sidecar: pause/unpause via cgfreeze/client', undefined),
      this.method('sidecar-ttl', `sidecar: pause with TTL ${SIDECAR_TTL}/unpause`, SIDECAR_TTL),
    ];
  }
}
