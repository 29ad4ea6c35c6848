import { writeSync } from 'node:fs';
import { inspect } from 'node:util';

/** Where a command writes, and whether it may use colour. Tests pass their own. */
export interface CliStreams {
  stdout: { write(text: string): unknown; isTTY?: boolean };
  stderr: { write(text: string): unknown; isTTY?: boolean };
  env: NodeJS.ProcessEnv;
}

export type Style = 'red' | 'yellow' | 'cyan' | 'green' | 'bold' | 'dim';
const SGR: Record<Style, [number, number]> = {
  red: [31, 39],
  yellow: [33, 39],
  cyan: [36, 39],
  green: [32, 39],
  bold: [1, 22],
  dim: [2, 22],
};

/**
 * Colour only on a terminal, never with NO_COLOR (any non-empty value, per
 * no-color.org) or TERM=dumb; FORCE_COLOR=1 overrides the terminal check.
 */
export function colorEnabled(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv): boolean {
  if (env['NO_COLOR'] !== undefined && env['NO_COLOR'] !== '') return false;
  const force = env['FORCE_COLOR'];
  if (force !== undefined && force !== '' && force !== '0') return true;
  if (env['TERM'] === 'dumb') return false;
  return stream.isTTY === true;
}

/**
 * A standard stream as the CLI writes it: write(2) on its fd, in full, before the next line. Node's own
 * process.stdout would load its stream modules first, a few ms of every run for a few lines of output.
 * A fd that is non-blocking and full (EAGAIN) hands that text and all that follows to Node's stream,
 * which waits for the reader and keeps the order. A reader that went away (EPIPE: `cgfreeze ls | head`)
 * gets nothing more, and that is no error. `isTTY` asks Node's stream (loaded then: only colour and
 * progress notes need it).
 */
export function standardStream(fd: 1 | 2, nodeStream: () => NodeJS.WriteStream): CliStreams['stdout'] {
  let viaNode = false;
  let readerGone = false;
  return {
    write(text: string): void {
      let rest = Buffer.from(text);
      while (!viaNode && !readerGone && rest.length > 0) {
        try {
          rest = rest.subarray(writeSync(fd, rest));
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === 'EPIPE') readerGone = true;
          else if (code === 'EAGAIN') viaNode = true;
          else throw err;
        }
      }
      if (viaNode && rest.length > 0) nodeStream().write(rest);
    },
    get isTTY(): boolean {
      return nodeStream().isTTY;
    },
  };
}

export class Output {
  private colors: { out?: boolean; err?: boolean } = {};

  constructor(readonly streams: CliStreams) {}

  /** Colour on stdout; decided on first use, so output that is never painted never asks for a terminal. */
  get outColor(): boolean {
    return (this.colors.out ??= colorEnabled(this.streams.stdout, this.streams.env));
  }

  get errColor(): boolean {
    return (this.colors.err ??= colorEnabled(this.streams.stderr, this.streams.env));
  }

  out(line: string): void {
    this.streams.stdout.write(line + '\n');
  }

  err(line: string): void {
    this.streams.stderr.write(line + '\n');
  }

  json(value: unknown): void {
    this.out(JSON.stringify(value, null, 2));
  }

  /** Docker's shape: `Error: <message>` on stderr. */
  error(message: string): void {
    this.err(`${this.paint('Error:', 'red', this.errColor)} ${message}`);
  }

  warn(message: string): void {
    this.err(`${this.paint('Warning:', 'yellow', this.errColor)} ${message}`);
  }

  /** A failed target's `Error:` line, and with CGFREEZE_DEBUG=1 where the error came from. */
  failure(message: string, error: Error): void {
    this.error(message);
    this.debug(inspect(error));
  }

  /** Diagnostics for a bug report (a stack trace): only with CGFREEZE_DEBUG=1. */
  debug(text: string): void {
    const debug = this.streams.env['CGFREEZE_DEBUG'];
    if (debug !== undefined && debug !== '' && debug !== '0') this.err(text);
  }

  /** Progress notes for a person watching; silent when stderr is not a terminal. */
  note(message: string): void {
    if (this.streams.stderr.isTTY === true) this.err(this.paint(message, 'dim', this.errColor));
  }

  paint(text: string, style: Style, enabled = this.outColor): string {
    if (!enabled) return text;
    const [on, off] = SGR[style];
    return `\u001b[${on}m${text}\u001b[${off}m`;
  }
}

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** Bytes as docker stats shows them, in binary units: `512KiB`, `1.5MiB`, `64MiB`. */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < BYTE_UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  const digits = unit === 0 || value >= 100 ? 0 : 1;
  return `${Number(value.toFixed(digits))}${BYTE_UNITS[unit] ?? 'B'}`;
}

/** Plain-text table with docker's spacing: columns padded to width, three spaces apart. */
export function formatTable(
  header: string[],
  rows: string[][],
  paint?: (row: number, col: number, cell: string) => string,
): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[], row: number): string =>
    cells
      .map((cell, col) => {
        const padded = col === cells.length - 1 ? cell : cell.padEnd(widths[col] ?? 0);
        // Paint after padding so escape codes do not upset the widths.
        return paint !== undefined && row >= 0 ? paint(row, col, cell) + padded.slice(cell.length) : padded;
      })
      .join('   ')
      .trimEnd();
  return [line(header, -1), ...rows.map((r, i) => line(r, i))];
}
