import type { AuditLog, AuditLogOptions, AuditWho } from '../audit.js';
import type { OptionSpecs, Parsed } from './args.js';
import type { Output } from './output.js';

export interface CommandContext {
  out: Output;
  json: boolean;
  env: NodeJS.ProcessEnv;
  /** This invocation, as audit lines name who asked. */
  who: AuditWho;
  /** Where audit lines go (`--audit-log`, `--syslog` and their variables). */
  auditOptions: Pick<AuditLogOptions, 'file' | 'syslog' | 'syslogSocket'>;
  /** The audit trail; opened on first use so read-only commands never touch the log file. */
  audit(): AuditLog;
}

export interface Command {
  name: string;
  /** One line for `cgfreeze --help`. */
  summary: string;
  /** `cgfreeze <usage>` in the help text. */
  usage: string;
  options: OptionSpecs;
  /** Extra help paragraphs: semantics, examples. */
  details?: string;
  run(ctx: CommandContext, args: Parsed): number | Promise<number>;
}

/** Exit statuses, as docs/cli.md documents them. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
/** EX_SOFTWARE (sysexits.h): a bug in cgfreeze itself (ERR_INTERNAL). */
export const EXIT_SOFTWARE = 70;

/** A command's status from its targets' failures: 0 when none failed, 70 when one was a bug, else 1. */
export function exitStatus(failures: ReadonlyArray<{ code: string }>): number {
  if (failures.length === 0) return EXIT_OK;
  return failures.some((e) => e.code === 'ERR_INTERNAL') ? EXIT_SOFTWARE : EXIT_FAILURE;
}
