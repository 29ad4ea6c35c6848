import { closeSync, openSync, writeSync } from 'node:fs';
import { CgfreezeError, fromSystemError } from './errors.js';

/**
 * Who asked for what an audit line records: a CLI invocation, a sidecar caller on the unix socket
 * (the kernel's peer credentials) or on TCP (its address; it showed the token), or the sidecar itself
 * (a lease that expired, a thaw at shutdown).
 */
export type AuditWho =
  | {
      via: 'cli';
      uid: number;
      gid: number;
      /** null without a passwd entry for the uid (common in containers). */
      user: string | null;
      pid: number;
      ppid: number;
      /** Under sudo: who ran it. */
      sudoUser?: string;
      command: string[];
    }
  | { via: 'unix'; uid: number; gid: number; groups: number[]; pid: number }
  | { via: 'tcp'; address: string }
  | { via: 'sidecar'; pid: number };

/**
 * One line of the audit log, the same for the CLI and the sidecar: one per target of a state change,
 * and one per refused target or request. Field names are stable: people grep and ship them.
 */
export interface AuditRecord {
  time: string;
  who: AuditWho;
  /** `pause` or `unpause`; a refusal may also name `status`, `list` or `metrics`. */
  action: 'pause' | 'unpause' | 'status' | 'list' | 'metrics';
  /** The reference or cgroup path as the caller wrote it; null for a refused request without one. */
  target: string | null;
  cgroupDir: string | null;
  version: 'v1' | 'v2' | null;
  /** `denied`: refused by the sidecar's policy or authentication before anything was touched. */
  result: 'ok' | 'error' | 'denied';
  /** The freezer state after the change, when it succeeded. */
  state?: string;
  error?: { code: string; message: string };
  /** The library's elapsedMs for the change; null when it did not happen. */
  latencyMs: number | null;
  /**
   * Why an unpause happened by itself: the end of `cgfreeze pause --for` (`timer`, `SIGINT`, `SIGTERM`,
   * `SIGHUP`), or in the sidecar a lease that ran out (`expired`) or a thaw on shutdown (`shutdown`).
   */
  reason?: string;
  /** A sidecar pause with a lease: its TTL as the caller wrote it. */
  ttl?: string;
  /** A sidecar operation on a target that had a lease (or a refusal to touch it): whose lease it was. */
  leaseOwner?: string;
}

export interface AuditLogOptions {
  /** Append to this file (created 0600). */
  file?: string;
  /** Without a file: write the lines to stderr instead (the sidecar's default). */
  stderr?: boolean;
  /** Also send each line to syslog (auth.notice, tag cgfreeze) through logger(1). */
  syslog?: boolean;
  /** logger(1) socket override, for hosts (and tests) without /dev/log. */
  syslogSocket?: string;
  /** Where a failed syslog delivery is reported (the change itself stands). */
  warn?: (text: string) => void;
}

/**
 * The audit trail, as JSON Lines. The file is opened when the log is made, before any state changes, so
 * a log that cannot be written stops the caller instead of leaving changes unrecorded; each line is one
 * write(2) on an O_APPEND descriptor, so concurrent writers never interleave within a line.
 */
export class AuditLog {
  private fd: number | undefined;
  /** Syslog deliveries still running; each removes itself when done. */
  private readonly pending = new Set<Promise<void>>();

  constructor(private readonly options: AuditLogOptions) {
    this.fd = this.open();
  }

  get enabled(): boolean {
    return this.fd !== undefined || this.options.stderr === true || this.options.syslog === true;
  }

  /** Throws a CgfreezeError when the line cannot be written to the file. */
  record(entry: Omit<AuditRecord, 'time'>): void {
    if (!this.enabled) return;
    const line = JSON.stringify({ time: new Date().toISOString(), ...entry } satisfies AuditRecord);
    if (this.fd !== undefined) {
      try {
        writeSync(this.fd, line + '\n');
      } catch (err) {
        throw fromSystemError(err, this.options.file);
      }
    } else if (this.options.stderr === true) process.stderr.write(line + '\n');
    if (this.options.syslog === true) {
      const delivery: Promise<void> = sendToSyslog(line, this.options.syslogSocket).then((failure) => {
        this.pending.delete(delivery);
        if (failure !== undefined) this.options.warn?.(failure);
      });
      this.pending.add(delivery);
    }
  }

  /** Opens the file again under its name, after a log rotation moved the old one away. */
  reopen(): void {
    const fd = this.open();
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = fd;
  }

  /** Waits for the syslog deliveries still running, and closes the file. */
  async close(): Promise<void> {
    await Promise.all(this.pending);
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  private open(): number | undefined {
    const { file } = this.options;
    if (file === undefined || file === '') return undefined;
    try {
      return openSync(file, 'a', 0o600);
    } catch (err) {
      const e = fromSystemError(err);
      throw new CgfreezeError(
        e.code,
        `cannot open the audit log ${file}: ${e.message}; fix the path or its permissions`,
        {
          path: file,
          cause: err,
        },
      );
    }
  }
}

/** logger(1) knows the local syslog protocol and journald; Node has no unix datagram sockets. */
function sendToSyslog(line: string, socket: string | undefined): Promise<string | undefined> {
  const args = ['--tag', 'cgfreeze', '--id=' + String(process.pid), '--priority', 'auth.notice', '--socket-errors=on'];
  if (socket !== undefined) args.push('--socket', socket);
  args.push('--', line);
  return new Promise((resolve) => {
    let stderr = '';
    // Loaded here, not at import: child_process (and net, streams) would cost every CLI run a few ms.
    const { spawn } = process.getBuiltinModule('node:child_process');
    const child = spawn('logger', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', (err) => resolve(`syslog: cannot run logger: ${err.message}`));
    child.on('close', (code) =>
      resolve(code === 0 ? undefined : `syslog: ${stderr.trim() || `logger exited with ${String(code)}`}`),
    );
  });
}
