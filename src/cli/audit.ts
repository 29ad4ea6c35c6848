import { userInfo } from 'node:os';
import type { AuditLogOptions, AuditWho } from '../audit.js';
import { flag, type ParsedValues, stringValue } from './args.js';

/** This invocation, as an audit line names who asked. */
export function cliWho(argv: string[]): AuditWho {
  let user: string | null = null;
  try {
    user = userInfo().username;
  } catch {
    // No passwd entry for this uid (common in containers): the uid says it all.
  }
  const sudoUser = process.env['SUDO_USER'];
  return {
    via: 'cli',
    uid: process.getuid?.() ?? -1,
    gid: process.getgid?.() ?? -1,
    user,
    pid: process.pid,
    ppid: process.ppid,
    ...(sudoUser === undefined ? {} : { sudoUser }),
    command: ['cgfreeze', ...argv],
  };
}

function enabled(value: string | undefined): boolean {
  return value !== undefined && value !== '' && value !== '0';
}

/** Where audit lines go: `--audit-log` or CGFREEZE_AUDIT_LOG, `--syslog` or CGFREEZE_AUDIT_SYSLOG=1. */
export function auditOptionsOf(
  values: ParsedValues,
  env: NodeJS.ProcessEnv,
): Pick<AuditLogOptions, 'file' | 'syslog' | 'syslogSocket'> {
  const file = stringValue(values, 'audit-log') ?? env['CGFREEZE_AUDIT_LOG'];
  const syslogSocket = env['CGFREEZE_SYSLOG_SOCKET'];
  return {
    syslog: flag(values, 'syslog') || enabled(env['CGFREEZE_AUDIT_SYSLOG']),
    ...(file === undefined || file === '' ? {} : { file }),
    ...(syslogSocket === undefined || syslogSocket === '' ? {} : { syslogSocket }),
  };
}
