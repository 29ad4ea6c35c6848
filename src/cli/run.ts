import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CgfreezeError, fromSystemError } from '../errors.js';
import { packageRoot } from '../native.js';
import { flag, GLOBAL_OPTIONS, parseCommandArgs, stringValue, usageError } from './args.js';
import { AuditLog } from './audit.js';
import { type Command, type CommandContext, EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from './command.js';
import { demoCommand } from './commands/demo.js';
import { serveCommand } from './commands/serve.js';
import { lsCommand } from './commands/ls.js';
import { pauseCommand, unpauseCommand } from './commands/pause.js';
import { inspectCommand, statusCommand } from './commands/status.js';
import { commandHelp, mainHelp } from './help.js';
import { Output, type CliStreams } from './output.js';
import { describeError } from './messages.js';

export const COMMANDS: Command[] = [
  pauseCommand,
  unpauseCommand,
  statusCommand,
  inspectCommand,
  lsCommand,
  serveCommand,
  demoCommand,
];

export function version(): string {
  const pkg = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version?: unknown };
  return typeof pkg.version === 'string' ? pkg.version : 'unknown';
}

function findCommand(name: string): Command | undefined {
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

/** Runs one CLI invocation and returns its exit status. Never throws. */
export async function run(argv: string[], streams: CliStreams): Promise<number> {
  const out = new Output(streams);
  let json = argv.includes('--json');
  let audit: AuditLog | undefined;
  try {
    const { before, name, rest } = splitCommand(argv);
    const global = parseCommandArgs('', before, { version: { type: 'boolean', short: 'v', help: '' } });
    if (flag(global.values, 'version') || name === 'version') {
      if (json) out.json({ version: version(), node: process.versions.node });
      else out.out(`cgfreeze version ${version()}`);
      return EXIT_OK;
    }
    if (name === undefined || name === 'help') {
      const topic = name === 'help' ? rest[0] : undefined;
      const cmd = topic === undefined ? undefined : findCommand(topic);
      if (topic !== undefined && cmd === undefined) throw usageError('', `unknown command: ${topic}`);
      out.out(cmd === undefined ? mainHelp(COMMANDS) : commandHelp(cmd));
      // Bare `cgfreeze` is a usage error, as with docker; `--help` and `help` are not.
      return name === undefined && !flag(global.values, 'help') ? EXIT_USAGE : EXIT_OK;
    }
    const cmd = findCommand(name);
    if (cmd === undefined) throw usageError('', `unknown command: ${name}`);
    if (cmd.runRaw !== undefined) return await cmd.runRaw([...before, ...rest]);
    const parsed = parseCommandArgs(cmd.name, [...before, ...rest], cmd.options);
    json = flag(parsed.values, 'json');
    if (flag(parsed.values, 'help')) {
      out.out(commandHelp(cmd));
      return EXIT_OK;
    }
    const auditFile = stringValue(parsed.values, 'audit-log') ?? streams.env['CGFREEZE_AUDIT_LOG'];
    const syslogEnv = streams.env['CGFREEZE_AUDIT_SYSLOG'];
    const syslog = flag(parsed.values, 'syslog') || (syslogEnv !== undefined && syslogEnv !== '' && syslogEnv !== '0');
    const syslogSocket = streams.env['CGFREEZE_SYSLOG_SOCKET'];
    const ctx: CommandContext = {
      out,
      json,
      env: streams.env,
      audit: () =>
        (audit ??= new AuditLog({
          argv,
          syslog,
          ...(auditFile === undefined ? {} : { file: auditFile }),
          ...(syslogSocket === undefined || syslogSocket === '' ? {} : { syslogSocket }),
        })),
    };
    return await cmd.run(ctx, parsed);
  } catch (err) {
    const e = err instanceof CgfreezeError ? err : fromSystemError(err);
    // CGFREEZE_DEBUG=1 shows where an unexpected error came from.
    const debug = streams.env['CGFREEZE_DEBUG'];
    if (debug !== undefined && debug !== '' && debug !== '0')
      out.err(String((err instanceof Error && err.stack) || err));
    if (json) out.json({ ok: false, error: { code: e.code, message: describeError(e) } });
    else out.error(describeError(e));
    return e.code === 'ERR_INVALID_ARG' ? EXIT_USAGE : EXIT_FAILURE;
  } finally {
    if (audit !== undefined) for (const warning of await audit.close()) out.warn(warning);
  }
}
