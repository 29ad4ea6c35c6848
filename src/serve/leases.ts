import { mkdirSync, readFileSync } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { CgfreezeError } from '../errors.js';
import { isRecord } from '../json.js';

/** One cgroup this sidecar froze. Written before the freeze, removed after the thaw. */
export interface LeaseRecord {
  cgroupDir: string;
  /** The reference the caller used, for status and the audit log. */
  target: string;
  /** Epoch ms; null when the pause has no TTL. */
  expiresAt: number | null;
  owner: string;
  createdAt: number;
}

interface LeaseFile {
  version: 1;
  leases: LeaseRecord[];
}

const MAX_TIMER_MS = 2 ** 31 - 1;
/** Background writes within this window share one write. */
const LAZY_WRITE_MS = 50;

function isLeaseRecord(r: unknown): r is LeaseRecord {
  return (
    isRecord(r) &&
    typeof r.cgroupDir === 'string' &&
    r.cgroupDir.startsWith('/') &&
    typeof r.target === 'string' &&
    (r.expiresAt === null || typeof r.expiresAt === 'number') &&
    typeof r.owner === 'string' &&
    typeof r.createdAt === 'number'
  );
}

/** Parses a lease file; a damaged file is an error, not an empty store, so nothing is forgotten silently. */
export function parseLeaseFile(text: string, file: string): LeaseRecord[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new CgfreezeError('ERR_STATE_FILE', `lease file ${file} is not valid JSON: ${(err as Error).message}`, {
      path: file,
      cause: err,
    });
  }
  if (!isRecord(doc) || doc.version !== 1 || !Array.isArray(doc.leases) || !doc.leases.every(isLeaseRecord)) {
    throw new CgfreezeError('ERR_STATE_FILE', `lease file ${file} does not hold version 1 leases`, { path: file });
  }
  return doc.leases;
}

/**
 * The sidecar's leases, in memory and (when `file` is set) on disk. Every
 * change is written to a temporary file, fsynced and renamed over the old
 * one, so a crash leaves either the old or the new list, never a torn one.
 * Concurrent changes share one write (group commit).
 */
export class LeaseStore {
  private readonly records = new Map<string, LeaseRecord>();
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> | undefined;
  private pending: Promise<void> | undefined;
  private closed = false;
  private lazyTimer: NodeJS.Timeout | undefined;
  private syncWanted = false;
  /** Expiries already handed to `onExpire`, so a thaw in progress is not requested again. */
  private readonly notified = new Map<string, number>();

  constructor(
    readonly file: string | undefined,
    private readonly onExpire: (record: LeaseRecord) => void,
    private readonly now: () => number = Date.now,
  ) {}

  /** Reads the file left by a previous run (missing = none). Call once, before serving. */
  load(): LeaseRecord[] {
    if (this.file === undefined) return [];
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new CgfreezeError('ERR_STATE_FILE', `cannot read lease file ${this.file}: ${(err as Error).message}`, {
        path: this.file,
        cause: err,
      });
    }
    const records = parseLeaseFile(text, this.file);
    for (const r of records) this.records.set(r.cgroupDir, r);
    return records;
  }

  get(cgroupDir: string): LeaseRecord | undefined {
    return this.records.get(cgroupDir);
  }

  all(): LeaseRecord[] {
    return [...this.records.values()];
  }

  get size(): number {
    return this.records.size;
  }

  /**
   * Records (or replaces) a lease. `durable` waits until it is on disk (an
   * fsync); otherwise the write happens in the background.
   */
  async put(record: LeaseRecord, durable: boolean): Promise<void> {
    this.records.set(record.cgroupDir, record);
    this.arm();
    await this.write(durable);
  }

  async delete(cgroupDir: string, durable: boolean): Promise<void> {
    this.notified.delete(cgroupDir);
    if (!this.records.delete(cgroupDir)) return;
    this.arm();
    await this.write(durable);
  }

  private async write(durable: boolean): Promise<void> {
    if (durable) return this.persist();
    // Background writes are batched and skip fsync: a rename is atomic against a crash of this
    // process; only a power cut could lose them, and only TTL leases need to survive that.
    if (this.lazyTimer === undefined && this.file !== undefined) {
      this.lazyTimer = setTimeout(() => {
        this.lazyTimer = undefined;
        this.flush(false).catch((err: unknown) =>
          process.stderr.write(`cgfreeze serve: cannot write ${this.file ?? ''}: ${String(err)}\n`),
        );
      }, LAZY_WRITE_MS);
      this.lazyTimer.unref();
    }
  }

  /** Leases whose time has come. */
  expired(): LeaseRecord[] {
    const now = this.now();
    return this.all().filter((r) => r.expiresAt !== null && r.expiresAt <= now);
  }

  /** Schedules one timer for the earliest expiry. */
  arm(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.closed) return;
    let next = Infinity;
    for (const r of this.records.values()) {
      if (r.expiresAt !== null && r.expiresAt < next && this.notified.get(r.cgroupDir) !== r.expiresAt)
        next = r.expiresAt;
    }
    if (next === Infinity) return;
    const delay = Math.min(Math.max(0, next - this.now()), MAX_TIMER_MS);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      for (const r of this.expired()) {
        if (this.notified.get(r.cgroupDir) === r.expiresAt) continue;
        this.notified.set(r.cgroupDir, r.expiresAt as number);
        this.onExpire(r);
      }
      this.arm();
    }, delay);
    // The server keeps the process alive; a lease alone must not.
    this.timer.unref();
  }

  /** Stops expiry timers; the records stay on disk for the next start. */
  close(): void {
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    // The caller flushes with persist(); a pending background write would only repeat it.
    if (this.lazyTimer !== undefined) clearTimeout(this.lazyTimer);
    this.lazyTimer = undefined;
  }

  /** Resolves once everything changed so far is on disk and fsynced. */
  persist(): Promise<void> {
    return this.flush(true);
  }

  private flush(sync: boolean): Promise<void> {
    if (this.file === undefined) return Promise.resolve();
    if (sync) this.syncWanted = true;
    if (this.pending !== undefined) return this.pending;
    if (this.writing === undefined) {
      const withSync = this.syncWanted;
      this.syncWanted = false;
      this.writing = this.writeNow(withSync).finally(() => {
        this.writing = undefined;
      });
      return this.writing;
    }
    // A write is running with an older snapshot: queue exactly one more after it.
    const after = this.writing.catch(() => undefined);
    this.pending = after.then(() => {
      this.pending = undefined;
      return this.flush(this.syncWanted);
    });
    return this.pending;
  }

  private async writeNow(sync: boolean): Promise<void> {
    const file = this.file as string;
    const doc: LeaseFile = { version: 1, leases: this.all() };
    const tmp = `${file}.${process.pid}.tmp`;
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    const handle = await open(tmp, 'w', 0o600);
    try {
      await handle.writeFile(JSON.stringify(doc, null, 1) + '\n');
      if (sync) await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      await rename(tmp, file);
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
    if (!sync) return;
    // The rename itself must survive a power cut too.
    const dir = await open(dirname(file), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }
}
