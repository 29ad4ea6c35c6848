import { listSync, type ListedContainer } from '../../index.js';
import { flag, labelsFilterStrings, type Parsed, parseFilters, stringList, stringValue, usageError } from '../args.js';
import { type Command, type CommandContext, EXIT_OK } from '../command.js';
import { ENGINE_OPTIONS, resolveOptionsOf } from '../engines.js';
import { formatTable, type Style } from '../output.js';

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
    labels: c.labels,
  };
}

/** Docker and Podman IDs are 64 hex digits, shown as 12 like docker ps; other IDs (containerd) in full. */
export function shortId(id: string): string {
  return /^[0-9a-f]{64}$/.test(id) ? id.slice(0, 12) : id;
}

const FREEZER_STYLE: Record<string, Style> = { frozen: 'cyan', freezing: 'yellow' };

export const lsCommand: Command = {
  name: 'ls',
  aliases: ['ps'],
  summary: 'List containers with the kernel freezer state next to the engine state',
  usage: 'ls [OPTIONS]',
  options: {
    all: { type: 'boolean', short: 'a', help: 'Show all containers (default shows just running)' },
    filter: {
      type: 'string',
      short: 'f',
      multiple: true,
      arg: 'label=K[=V]',
      help: 'Only containers with this label (all filters must match)',
    },
    format: {
      type: 'string',
      arg: 'table|json',
      help: "'json' prints one JSON object per line, like docker ps --format json",
    },
    quiet: { type: 'boolean', short: 'q', help: 'Only display short container IDs' },
    ...ENGINE_OPTIONS,
  },
  details:
    'FREEZER is the kernel\'s state; ENGINE is what the engine reports. A "!" marks a\ncontainer where they disagree: docker cannot see a freeze it did not make.',
  run(ctx: CommandContext, args: Parsed): number {
    const format = stringValue(args.values, 'format') ?? 'table';
    if (format !== 'table' && format !== 'json')
      throw usageError('ls', `--format takes table or json, got ${JSON.stringify(format)}`);
    const filters = parseFilters('ls', stringList(args.values, 'filter'));
    const all = flag(args.values, 'all');
    const listed = listSync({
      ...resolveOptionsOf('ls', args.values),
      filter: {
        ...(filters.length > 0 ? { label: labelsFilterStrings(filters) } : {}),
        ...(all ? {} : { running: true }),
      },
    });
    const rows = listed
      .map(toRow)
      .sort((a, b) => a.engine.localeCompare(b.engine) || (a.name ?? a.id).localeCompare(b.name ?? b.id));
    if (ctx.json) ctx.out.json(rows);
    else if (flag(args.values, 'quiet')) for (const r of rows) ctx.out.out(shortId(r.id));
    else if (format === 'json') for (const r of rows) ctx.out.out(JSON.stringify(r));
    else {
      const cells = rows.map((r) => [
        r.engine,
        r.name ?? r.id,
        shortId(r.id),
        (r.freezer ?? '-') + (r.mismatch ? ' !' : ''),
        r.engineState,
      ]);
      const lines = formatTable(
        ['ENGINE', 'NAME', 'CONTAINER ID', 'FREEZER', 'ENGINE STATE'],
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
    return EXIT_OK;
  },
};
