import { spawn } from 'node:child_process';
import { closeSync, openSync, writeSync } from 'node:fs';
import { userInfo } from 'node:os';
import { CgfreezeError, fromSystemError } from '../errors.js';

/** One state change, as one JSON line. Field names are stable: people grep and ship them. */
export interface AuditRecord {
  time: string;
  who: {
    uid: number;
    gid: number;
    user: string | null;
    pid: number;
    ppid: number;
    sudoUser?: string;
    command: string[];
  };
  action: 'pause' | 'unpause';
  /** What the caller asked for: the reference or cgroup path. */
  target: string;
  cgroupDir: string | null;
  version: 'v1' | 'v2' | null;
  result: 'ok' | 'error';
  /** The freezer state after the change, when it succeeded. */
  state?: string;
  error?: { code: string; message: string };
  latencyMs: number | null;
  /** Why an automatic unpause happened (`--for`): `timer`, `SIGINT`, `SIGTERM`, `SIGHUP`, `error`. */
  reason?: string;
}

export type AuditEntry = Omit<AuditRecord, 'time' | 'who'>;

export interface AuditOptions {
  file?: string;
  syslog: boolean;
  /** logger(1) socket override, for hosts (and tests) without /dev/log. */
  syslogSocket?: string;
  argv: string[];
}

function who(argv: string[]): AuditRecord['who'] {
  let user: string | null = null;
  try {
    user = userInfo().username;
  } catch {
    // No passwd entry for this uid (common in containers): the uid says it all.
  }
  const sudoUser = process.env['SUDO_USER'];
  return {
    uid: process.getuid?.() ?? -1,
    gid: process.getgid?.() ?? -1,
    user,
    pid: process.pid,
    ppid: process.ppid,
    ...(sudoUser === undefined ? {} : { sudoUser }),
    command: ['cgfreeze', ...argv],
  };
}

/**
 * The audit trail. The file is opened before any state change, so a log that
 * cannot be written stops the command instead of leaving changes unrecorded.
 */
export class AuditLog {
  private fd: number | undefined;
  private readonly pending: Array<Promise<string | undefined>> = [];
  private readonly who: AuditRecord['who'];

  constructor(private readonly options: AuditOptions) {
    this.who = who(options.argv);
    if (options.file !== undefined && options.file !== '') {
      try {
        this.fd = openSync(options.file, 'a', 0o600);
      } catch (err) {
        const e = fromSystemError(err);
        throw new CgfreezeError(
          e.code,
          `cannot open the audit log ${options.file}: ${e.message}; fix the path or its permissions`,
          {
            path: options.file,
            cause: err,
          },
        );
      }
    }
  }

  get enabled(): boolean {
    return this.fd !== undefined || this.options.syslog;
  }

  record(entry: AuditEntry): void {
    if (!this.enabled) return;
    const line = JSON.stringify({ time: new Date().toISOString(), who: this.who, ...entry } satisfies AuditRecord);
    // One write(2) per line on an O_APPEND descriptor: concurrent writers never interleave within a line.
    if (this.fd !== undefined) writeSync(this.fd, line + '\n');
    if (this.options.syslog) this.pending.push(sendToSyslog(line, this.options.syslogSocket));
  }

  /** Waits for syslog deliveries; returns their failures as warning texts. */
  async close(): Promise<string[]> {
    const failures = (await Promise.all(this.pending)).filter((m): m is string => m !== undefined);
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    return failures;
  }
}

/** logger(1) knows the local syslog protocol and journald; Node has no unix datagram sockets. */
function sendToSyslog(line: string, socket: string | undefined): Promise<string | undefined> {
  const args = ['--tag', 'cgfreeze', '--id=' + String(process.pid), '--priority', 'auth.notice', '--socket-errors=on'];
  if (socket !== undefined) args.push('--socket', socket);
  args.push('--', line);
  return new Promise((resolve) => {
    let stderr = '';
    const child = spawn('logger', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', (err) => resolve(`syslog: cannot run logger: ${err.message}`));
    child.on('close', (code) =>
      resolve(code === 0 ? undefined : `syslog: ${stderr.trim() || `logger exited with ${String(code)}`}`),
    );
  });
}
