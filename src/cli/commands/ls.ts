import { listSync, type ListedContainer, type MemoryUsage, unreadableEngineState } from '../../index.js';
import { containerFilterOf, filterOptionSpec, flag, formatMs, type Parsed, stringValue, usageError } from '../args.js';
import { type Command, type CommandContext, EXIT_FAILURE, EXIT_OK } from '../command.js';
import { describeUnreadable, ENGINE_OPTIONS, resolveOptionsOf } from '../engines.js';
import { formatBytes, formatTable, type Style } from '../output.js';

/** One row of `ls`, also its JSON form. */
export interface LsRow {
  engine: string;
  name: string | null;
  id: string;
  /** The kernel's freezer state; null when the container has no cgroup (not running) or it could not be read. */
  freezer: 'thawed' | 'freezing' | 'frozen' | null;
  /** What the engine believes: `paused` only when the engine paused it itself. */
  engineState: 'running' | 'paused' | 'exited';
  /** The kernel and the engine disagree (frozen outside the engine, or thawed behind its back). */
  mismatch: boolean;
  cgroupDir: string | null;
  /** Memory use and limit (`limitBytes` null: no limit); null when not running or no controller accounts it. */
  memory: MemoryUsage | null;
  /** CPU time of its tasks in µs; null when not running or it could not be read. */
  cpuTimeUs: number | null;
  labels: Record<string, string>;
}

export function toRow(c: ListedContainer): LsRow {
  const engineState = !c.running ? 'exited' : c.pausedByEngine ? 'paused' : 'running';
  const freezer = c.freezer ?? null;
  // Only docker records its own pauses; for the others the runtime reads the freezer itself.
  const mismatch =
    c.engine === 'docker' && c.running && freezer !== null && (freezer === 'thawed') === c.pausedByEngine;
  return {
    engine: c.engine,
    name: c.name ?? null,
    id: c.id,
    freezer,
    engineState,
    mismatch,
    cgroupDir: c.cgroupDir ?? null,
    memory: c.memory ?? null,
    cpuTimeUs: c.cpuTimeUs ?? null,
    labels: c.labels,
  };
}

/** Docker and Podman IDs are 64 hex digits, shown as 12 like docker ps; other IDs (containerd) in full. */
export function shortId(id: string): string {
  return /^[0-9a-f]{64}$/.test(id) ? id.slice(0, 12) : id;
}

/** `1.5MiB / 64MiB` and `2.3%`, as docker stats shows them; `no limit` for a container without one. */
export function memoryCells(memory: MemoryUsage | null): [string, string] {
  if (memory === null) return ['-', '-'];
  const { usageBytes, limitBytes } = memory;
  if (limitBytes === null) return [`${formatBytes(usageBytes)} / no limit`, '-'];
  return [
    `${formatBytes(usageBytes)} / ${formatBytes(limitBytes)}`,
    `${((usageBytes / limitBytes) * 100).toFixed(1)}%`,
  ];
}

const FREEZER_STYLE: Record<string, Style> = { frozen: 'cyan', freezing: 'yellow' };

export const lsCommand: Command = {
  name: 'ls',
  summary: 'List containers with the kernel freezer state next to the engine state, and their memory and CPU',
  usage: 'ls [OPTIONS]',
  options: {
    all: { type: 'boolean', short: 'a', help: 'Show all containers (default shows just running)' },
    filter: filterOptionSpec('Only containers that match'),
    format: {
      type: 'string',
      arg: 'table|json',
      help: "'json' prints one JSON object per line, like docker ps --format json",
    },
    quiet: { type: 'boolean', short: 'q', help: 'Only display short container IDs' },
    ...ENGINE_OPTIONS,
  },
  details:
    'FREEZER is the kernel\'s state; ENGINE STATE is what the engine reports. A "!" marks a\n' +
    'container where they disagree: docker cannot see a freeze it did not make. MEMORY is the\n' +
    "cgroup's use and its own limit, CPU TIME what its tasks used. Without root, the engines'\n" +
    'root-only state cannot be read: ls says which, and exits 1.',
  run(ctx: CommandContext, args: Parsed): number {
    const format = stringValue(args.values, 'format') ?? 'table';
    if (format !== 'table' && format !== 'json')
      throw usageError('ls', `--format takes table or json, got ${JSON.stringify(format)}`);
    const filter = containerFilterOf('ls', args.values);
    const all = flag(args.values, 'all');
    const ropts = resolveOptionsOf('ls', args.values);
    const listed = listSync({ ...ropts, filter: { ...filter, ...(all ? {} : { running: true }) } });
    const unreadable = unreadableEngineState(ropts).map((u) => ({
      ...u,
      message: `Cannot read the state of ${describeUnreadable(u)}; its containers are not listed: run cgfreeze as root`,
    }));
    const rows = listed
      .map(toRow)
      .sort((a, b) => a.engine.localeCompare(b.engine) || (a.name ?? a.id).localeCompare(b.name ?? b.id));
    if (ctx.json) ctx.out.json({ ok: unreadable.length === 0, containers: rows, unreadable });
    else {
      for (const u of unreadable) ctx.out.error(u.message);
      if (flag(args.values, 'quiet')) for (const r of rows) ctx.out.out(shortId(r.id));
      else if (format === 'json') for (const r of rows) ctx.out.out(JSON.stringify(r));
      else if (rows.length > 0 || unreadable.length === 0) printTable(ctx, rows);
    }
    return unreadable.length === 0 ? EXIT_OK : EXIT_FAILURE;
  },
};

function printTable(ctx: CommandContext, rows: LsRow[]): void {
  const cells = rows.map((r) => [
    r.engine,
    r.name ?? r.id,
    shortId(r.id),
    (r.freezer ?? '-') + (r.mismatch ? ' !' : ''),
    r.engineState,
    ...memoryCells(r.memory),
    r.cpuTimeUs === null ? '-' : formatMs(r.cpuTimeUs / 1000),
  ]);
  const lines = formatTable(
    ['ENGINE', 'NAME', 'CONTAINER ID', 'FREEZER', 'ENGINE STATE', 'MEMORY', 'MEM %', 'CPU TIME'],
    cells,
    (row, col, cell) => {
      const style =
        col === 3 ? (rows[row]?.mismatch === true ? 'yellow' : FREEZER_STYLE[rows[row]?.freezer ?? '']) : undefined;
      return style === undefined ? cell : ctx.out.paint(cell, style);
    },
  );
  for (const line of lines) ctx.out.out(line);
  if (rows.some((r) => r.mismatch)) ctx.out.out("! the kernel and the engine disagree; see 'cgfreeze status NAME'");
}
