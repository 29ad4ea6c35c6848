import { GLOBAL_OPTIONS, type OptionSpecs } from './args.js';
import type { Command } from './command.js';

function optionLines(specs: OptionSpecs): string[] {
  const rows = Object.entries(specs).map(([name, spec]) => {
    const short = spec.short === undefined ? '    ' : `-${spec.short}, `;
    return [`  ${short}--${name}${spec.arg === undefined ? '' : ' ' + spec.arg}`, spec.help] as const;
  });
  const width = Math.max(...rows.map(([left]) => left.length));
  return rows.map(([left, help]) => `${left.padEnd(width)}   ${help}`);
}

export function commandHelp(cmd: Command, aliases: readonly string[] = []): string {
  const lines = [`Usage:  cgfreeze ${cmd.usage}`, '', cmd.summary];
  if (aliases.length > 0) lines.push('', `Aliases: ${[cmd.name, ...aliases].join(', ')}`);
  if (Object.keys(cmd.options).length > 0) lines.push('', 'Options:', ...optionLines(cmd.options));
  lines.push('', 'Global options:', ...optionLines(GLOBAL_OPTIONS));
  if (cmd.details !== undefined) lines.push('', cmd.details.trimEnd());
  return lines.join('\n');
}

export function mainHelp(commands: Command[]): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'Usage:  cgfreeze [OPTIONS] COMMAND',
    '',
    'Pause and resume containers and cgroups through the kernel cgroup freezer,',
    'without the container engine. Docker-compatible pause/unpause.',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}   ${c.summary}`),
    '',
    'Global options:',
    ...optionLines({ ...GLOBAL_OPTIONS, version: { type: 'boolean', short: 'v', help: 'Print the version and exit' } }),
    '',
    'Exit status: 0 success, 1 any target failed, 2 usage error, 70 a bug in cgfreeze.',
    "Run 'cgfreeze COMMAND --help' for more information on a command.",
  ].join('\n');
}
