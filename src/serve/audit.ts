import { appendFileSync } from 'node:fs';
import type { Caller } from './policy.js';

/** One line of the audit log (JSON Lines): who asked what, and what came of it. */
export interface AuditEntry {
  time: string;
  action: string;
  targets: string[];
  /** `ok`, `denied`, `error` (some target failed), or `expired` (a lease thawed by the sidecar). */
  outcome: 'ok' | 'denied' | 'error' | 'expired';
  peer:
    | { transport: 'unix'; uid: number; gid: number; pid: number }
    | { transport: 'tcp'; address: string }
    | { transport: 'sidecar' };
  ttl?: string;
  codes?: string[];
}

export type AuditSink = (entry: AuditEntry) => void;

/** Appends to `file` (created 0600), or writes to stderr when no file is given. */
export function auditSink(file: string | undefined): AuditSink {
  return (entry) => {
    const line = JSON.stringify(entry) + '\n';
    if (file === undefined) {
      process.stderr.write(line);
      return;
    }
    appendFileSync(file, line, { mode: 0o600 });
  };
}

export function auditPeer(caller: Caller | undefined): AuditEntry['peer'] {
  return caller ?? { transport: 'sidecar' };
}
