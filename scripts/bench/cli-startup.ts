/**
 * npm run bench:cli [-- --runs N] [--before DIR]
 *
 * The CLI as users run it: whole processes, from spawn to exit, side by side in one run. `node -e 0`
 * (Node's own start), `cgfreeze --version` (the CLI's start-up), and a pause + unpause pair of one
 * container of the host lab through `cgfreeze` and through the docker CLI (the lab's dockerd). Rounds
 * interleave them in a rotating order, so a load change on a shared machine spreads over all of them.
 * Each process's time over `node -e 0` is the median of the differences within each round: for
 * `--version`, the CLI's start-up overhead. CPU is user + system time of the processes spawned (the
 * docker CLI's; dockerd, containerd and runc do its work in processes that already run, not counted).
 * `--before DIR`: another build of the CLI (a checkout with dist/ and the addon built, e.g. of the main
 * branch) in the same rounds.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { labCmd } from './engines.js';
import { machineInfo } from './machine.js';
import { percentile } from '../../src/percentile.js';

interface LabEnv {
  docker: { cli: string; host: string; image: string; dataRoot: string; execRoot: string };
}

const root = join(__dirname, '..', '..');
const cli = join(root, 'dist', 'cli', 'main.js');

/** utime + stime of this process's waited-for children, in ms (/proc/self/stat cutime, cstime: 10 ms ticks). */
function childCpuMs(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[13]) + Number(fields[14])) * 10;
}

/** Runs each argv to completion in turn; the wall time of all of them, in ms. Throws on a failure. */
function timed(steps: ReadonlyArray<readonly string[]>): number {
  const t0 = process.hrtime.bigint();
  for (const [cmd, ...args] of steps) {
    const r = spawnSync(cmd as string, args, { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${[cmd, ...args].join(' ')} exited ${String(r.status)}: ${r.stderr}`);
  }
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

function option(name: string): string | undefined {
  const at = process.argv.indexOf(name);
  return at > 0 ? process.argv[at + 1] : undefined;
}

function main(): void {
  const runs = Number(option('--runs') ?? 40);
  const before = option('--before');
  const info = machineInfo();
  labCmd('lease', 'host');
  const env = JSON.parse(labCmd('env', 'host')) as LabEnv;
  const docker = [env.docker.cli, '-H', env.docker.host];
  const name = `cgfb-cli-${process.pid}`;
  execFileSync(docker[0] as string, [
    ...docker.slice(1),
    'run',
    '-d',
    '--network',
    'none',
    '--name',
    name,
    env.docker.image,
    'sleep',
    '1000000',
  ]);
  const roots = ['--docker-root', env.docker.dataRoot, '--docker-exec-root', env.docker.execRoot];
  const node = process.execPath;
  const cliVariants = (bin: string, note: string): Array<{ label: string; steps: string[][] }> => [
    { label: `\`cgfreeze --version\`${note}`, steps: [[node, bin, '--version']] },
    {
      label: `\`cgfreeze pause\` + \`cgfreeze unpause\`${note}`,
      steps: [
        [node, bin, 'pause', name, ...roots],
        [node, bin, 'unpause', name, ...roots],
      ],
    },
  ];
  const variants: Array<{ label: string; steps: string[][] }> = [
    { label: '`node -e 0`', steps: [[node, '-e', '0']] },
    ...cliVariants(cli, ''),
    ...(before === undefined ? [] : cliVariants(join(before, 'dist', 'cli', 'main.js'), ` (${before})`)),
    {
      label: '`docker pause` + `docker unpause`',
      steps: [
        [...docker, 'pause', name],
        [...docker, 'unpause', name],
      ],
    },
  ];
  const wall = variants.map((): number[] => []);
  const cpu = variants.map(() => 0);
  /** Per round, each process's wall time minus `node -e 0`'s. */
  const overNode = variants.map((): number[] => []);
  try {
    for (let round = 0; round < runs; round++) {
      const inRound: number[] = [];
      for (let k = 0; k < variants.length; k++) {
        const i = (k + round) % variants.length;
        const c0 = childCpuMs();
        const ms = timed((variants[i] as (typeof variants)[number]).steps);
        cpu[i] = (cpu[i] as number) + childCpuMs() - c0;
        (wall[i] as number[]).push(ms);
        inRound[i] = ms;
      }
      inRound.forEach((ms, i) => overNode[i]?.push(ms - (inRound[0] as number)));
      if (process.stderr.isTTY) process.stderr.write(`\rround ${round + 1}/${runs}`);
    }
  } finally {
    if (process.stderr.isTTY) process.stderr.write('\n');
    spawnSync(docker[0] as string, [...docker.slice(1), 'rm', '-f', name], { stdio: 'ignore' });
    labCmd('release', 'host');
  }
  const end = machineInfo(true);
  const fmt = (ms: number): string => `${ms.toFixed(1)} ms`;
  const lines = [
    `${String(info['cpu'])}, ${String(info['kernel'])}, Node ${process.version}, cgfreeze ${String(info['commit'])},`,
    `load ${JSON.stringify(info['loadAtStart'])} → ${JSON.stringify(end['loadAtEnd'])}, ${runs} interleaved rounds, ${new Date().toISOString()}`,
    '',
    '| whole process | median | p10 | p90 | over `node -e 0` (median per round) | CPU (user + sys) |',
    '|---|---|---|---|---|---|',
    ...variants.map((v, i) => {
      const sorted = [...(wall[i] as number[])].sort((a, b) => a - b);
      const over = percentile(
        [...(overNode[i] as number[])].sort((a, b) => a - b),
        50,
      );
      return `| ${v.label} | ${fmt(percentile(sorted, 50))} | ${fmt(percentile(sorted, 10))} | ${fmt(percentile(sorted, 90))} | ${i === 0 ? '' : fmt(over)} | ${fmt((cpu[i] as number) / runs)} |`;
    }),
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

main();
