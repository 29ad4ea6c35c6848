import type { OptionSpecs, Parsed } from './args.js';
import type { AuditLog } from './audit.js';
import type { Output } from './output.js';

export interface CommandContext {
  out: Output;
  json: boolean;
  env: NodeJS.ProcessEnv;
  /** The audit trail; opened on first use so read-only commands never touch the log file. */
  audit(): AuditLog;
}

interface CommandBase {
  name: string;
  aliases?: string[];
  /** One line for `cgfreeze --help`. */
  summary: string;
  /** `cgfreeze <usage>` in the help text. */
  usage: string;
  options: OptionSpecs;
  /** Extra help paragraphs: semantics, examples. */
  details?: string;
}

export type Command = CommandBase &
  (
    | { run(ctx: CommandContext, args: Parsed): Promise<number>; runRaw?: never }
    /** A command with a parser of its own (serve) gets its raw arguments. */
    | { runRaw(argv: string[]): Promise<number>; run?: never }
  );

/** Exit statuses, as docs/cli.md documents them. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
