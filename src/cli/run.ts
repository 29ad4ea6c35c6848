import { inspect } from 'node:util';
import { AuditLog } from '../audit.js';
import { fromSystemError } from '../errors.js';
import { packageVersion } from '../package-version.js';
import { flag, GLOBAL_OPTIONS, parseCommandArgs, usageError } from './args.js';
import { auditOptionsOf, cliWho } from './audit.js';
import { type Command, type CommandContext, EXIT_FAILURE, EXIT_OK, EXIT_SOFTWARE, EXIT_USAGE } from './command.js';
import { commandHelp, mainHelp } from './help.js';
import { Output, type CliStreams, standardStream } from './output.js';
import { describeError, sentence } from './messages.js';

/** A command by name, its module loaded only when it runs (or for help): one command's code per process. */
export interface CommandEntry {
  name: string;
  aliases?: string[];
  load(): Promise<Command>;
}

export const COMMANDS: CommandEntry[] = [
  { name: 'pause', load: async () => (await import('./commands/pause.js')).pauseCommand },
  { name: 'unpause', load: async () => (await import('./commands/pause.js')).unpauseCommand },
  { name: 'status', load: async () => (await import('./commands/status.js')).statusCommand },
  { name: 'inspect', load: async () => (await import('./commands/status.js')).inspectCommand },
  { name: 'ls', aliases: ['ps'], load: async () => (await import('./commands/ls.js')).lsCommand },
  { name: 'serve', load: async () => (await import('./commands/serve.js')).serveCommand },
  { name: 'demo', load: async () => (await import('./commands/demo.js')).demoCommand },
];

function findCommand(name: string): CommandEntry | undefined {
  return COMMANDS.find((c) => c.name === name || (c.aliases ?? []).includes(name));
}

/**
 * Splits `[global options] COMMAND [args]`. Global options may also follow the
 * command; parseCommandArgs accepts them there.
 */
function splitCommand(argv: string[]): { before: string[]; name: string | undefined; rest: string[] } {
  const before: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (!arg.startsWith('-') || arg === '-') return { before, name: arg, rest: argv.slice(i + 1) };
    before.push(arg);
    const long = arg.startsWith('--') ? arg.slice(2) : undefined;
    if (long !== undefined && !long.includes('=') && GLOBAL_OPTIONS[long]?.type === 'string') {
      const value = argv[++i];
      if (value !== undefined) before.push(value);
    }
  }
  return { before, name: undefined, rest: [] };
}

const BUG_NOTE = 'This is a bug in cgfreeze: please report it, with the stack trace CGFREEZE_DEBUG=1 prints.';

/** Runs one CLI invocation and returns its exit status. Never throws. */
export async function run(argv: string[], streams: CliStreams): Promise<number> {
  const out = new Output(streams);
  let json = argv.includes('--json');
  let audit: AuditLog | undefined;
  let status: number;
  try {
    const { before, name, rest } = splitCommand(argv);
    const global = parseCommandArgs('', before, { version: { type: 'boolean', short: 'v', help: '' } });
    if (flag(global.values, 'version') || name === 'version') {
      if (json) out.json({ version: packageVersion(), node: process.versions.node });
      else out.out(`cgfreeze version ${packageVersion()}`);
      return EXIT_OK;
    }
    if (name === undefined || name === 'help') {
      const topic = name === 'help' ? rest[0] : undefined;
      const entry = topic === undefined ? undefined : findCommand(topic);
      if (topic !== undefined && entry === undefined) throw usageError('', `unknown command: ${topic}`);
      out.out(
        entry === undefined
          ? mainHelp(await Promise.all(COMMANDS.map((c) => c.load())))
          : commandHelp(await entry.load(), entry.aliases),
      );
      // Bare `cgfreeze` is a usage error, as with docker; `--help` and `help` are not.
      return name === undefined && !flag(global.values, 'help') ? EXIT_USAGE : EXIT_OK;
    }
    const entry = findCommand(name);
    if (entry === undefined) throw usageError('', `unknown command: ${name}`);
    const cmd = await entry.load();
    const parsed = parseCommandArgs(cmd.name, [...before, ...rest], cmd.options);
    json = flag(parsed.values, 'json');
    if (flag(parsed.values, 'help')) {
      out.out(commandHelp(cmd, entry.aliases));
      return EXIT_OK;
    }
    const auditOptions = auditOptionsOf(parsed.values, streams.env);
    const ctx: CommandContext = {
      out,
      json,
      env: streams.env,
      who: cliWho(argv),
      auditOptions,
      audit: () => (audit ??= new AuditLog({ ...auditOptions, warn: (text) => out.warn(sentence(text)) })),
    };
    status = await cmd.run(ctx, parsed);
  } catch (err) {
    const e = fromSystemError(err);
    out.debug(inspect(err));
    if (json) out.json({ ok: false, error: { code: e.code, message: describeError(e) } });
    else out.error(describeError(e));
    status = e.code === 'ERR_INVALID_ARG' ? EXIT_USAGE : e.code === 'ERR_INTERNAL' ? EXIT_SOFTWARE : EXIT_FAILURE;
  } finally {
    await audit?.close();
  }
  if (status === EXIT_SOFTWARE) out.err(BUG_NOTE);
  return status;
}

/** The process entry: runs `argv` on this process's streams and sets its exit status. */
export function runMain(argv: string[]): void {
  const stdout = standardStream(1, () => process.stdout);
  const stderr = standardStream(2, () => process.stderr);
  void run(argv, { stdout, stderr, env: process.env }).then((status) => {
    process.exitCode = status;
  });
}
