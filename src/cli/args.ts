import { parseArgs } from 'node:util';
import { parseDuration } from '../client/protocol.js';
import { CgfreezeError } from '../errors.js';
import type { ContainerFilter } from '../index.js';
// The grammar's own module, not the public API's index: every command parses options, few need the rest.
import { parseContainerFilter } from '../resolve/filter.js';

/** An option as node:util parseArgs takes it, plus the text for --help. */
export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  /** Shown in help after the flag, e.g. `DURATION`. */
  arg?: string;
  help: string;
}
export type OptionSpecs = Record<string, OptionSpec>;

export type ParsedValues = Record<string, string | boolean | Array<string | boolean> | undefined>;

/** Options every command accepts. */
export const GLOBAL_OPTIONS: OptionSpecs = {
  json: { type: 'boolean', help: 'Print the result as JSON on stdout' },
  'audit-log': {
    type: 'string',
    arg: 'FILE',
    help: 'Append one JSON line per state change to FILE (or set CGFREEZE_AUDIT_LOG)',
  },
  syslog: {
    type: 'boolean',
    help: 'Also send audit lines to syslog through logger(1) (or set CGFREEZE_AUDIT_SYSLOG=1)',
  },
  help: { type: 'boolean', short: 'h', help: 'Show help for the command' },
};

/** The usage error every parse failure becomes: exit status 2. */
export function usageError(command: string, message: string): CgfreezeError {
  const see = command === '' ? "see 'cgfreeze --help'" : `see 'cgfreeze ${command} --help'`;
  return new CgfreezeError('ERR_INVALID_ARG', `${message} (${see})`);
}

export interface Parsed {
  values: ParsedValues;
  positionals: string[];
}

/** parseArgs in strict mode, with its messages turned into short usage errors. */
export function parseCommandArgs(command: string, args: string[], specs: OptionSpecs): Parsed {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {};
  for (const [name, spec] of Object.entries({ ...GLOBAL_OPTIONS, ...specs })) {
    options[name] = {
      type: spec.type,
      ...(spec.short === undefined ? {} : { short: spec.short }),
      ...(spec.multiple === undefined ? {} : { multiple: spec.multiple }),
    };
  }
  try {
    const { values, positionals } = parseArgs({ args, options, allowPositionals: true, strict: true });
    return { values, positionals };
  } catch (err) {
    throw usageError(command, describeParseError(err));
  }
}

function describeParseError(err: unknown): string {
  const code = (err as { code?: unknown }).code;
  const message = err instanceof Error ? err.message : String(err);
  const flag = /'(-[^' ]*)/.exec(message)?.[1];
  switch (code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown flag: ${flag ?? message}`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return /argument missing/.test(message)
        ? `flag needs an argument: ${flag ?? message}`
        : `flag takes no value: ${flag ?? message}`;
    default:
      return message;
  }
}

export function stringValue(values: ParsedValues, name: string): string | undefined {
  const v = values[name];
  return typeof v === 'string' ? v : undefined;
}

export function stringList(values: ParsedValues, name: string): string[] {
  const v = values[name];
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string');
  return typeof v === 'string' ? [v] : [];
}

export function flag(values: ParsedValues, name: string): boolean {
  return values[name] === true;
}

/** `what` names the source in the error: `--timeout`, `CGFREEZE_TIMEOUT`. An unset or empty variable is no value. */
export function durationValue(command: string, what: string, text: string | undefined): number | undefined {
  if (text === undefined || (text === '' && !what.startsWith('--'))) return undefined;
  const ms = parseDuration(text);
  if (ms === undefined) {
    throw usageError(
      command,
      `invalid duration for ${what}: ${JSON.stringify(text)}; use e.g. 30s, 1m30s, 500ms or a number of seconds`,
    );
  }
  return ms;
}

/** A duration as people read it: `250ms`, `1.5s`, `2m30s`. */
export function formatMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = ms / 1000;
  if (s < 60) return `${Number(s.toFixed(1))}s`;
  const seconds = Math.round(s);
  return `${Math.floor(seconds / 60)}m${seconds % 60 === 0 ? '' : `${seconds % 60}s`}`;
}

export function durationOption(command: string, values: ParsedValues, name: string): number | undefined {
  return durationValue(command, `--${name}`, stringValue(values, name));
}

/** `--filter`, with what it does for this command; its grammar is the library's (parseContainerFilter). */
export function filterOptionSpec(does: string): OptionSpec {
  return {
    type: 'string',
    short: 'f',
    multiple: true,
    arg: 'FILTER',
    help: `${does}: label=K[=V], status=running|paused, memory<80%, memory>512MiB; all must match`,
  };
}

/** Every `--filter` as list()'s typed filter (all must match); a filter it cannot read is a usage error. */
export function containerFilterOf(command: string, values: ParsedValues): ContainerFilter | undefined {
  const texts = stringList(values, 'filter');
  if (texts.length === 0) return undefined;
  try {
    return parseContainerFilter(texts);
  } catch (err) {
    throw usageError(command, (err as Error).message);
  }
}
