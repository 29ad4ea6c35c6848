import {
  closeSync,
  constants,
  fstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  renameSync,
  unlinkSync,
} from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { CgfreezeError } from '../errors.js';
import { isRecord } from '../json.js';

/** One cgroup this sidecar froze. Written before the freeze, removed after the thaw. */
export interface LeaseRecord {
  cgroupDir: string;
  /** The reference the caller used, for status and the audit log. */
  target: string;
  /** Epoch ms; null when the pause has no TTL. */
  expiresAt: number | null;
  /** Who paused it: `uid:<n>` or `tcp`. Only the owner (or a rule with `unpause-any`) may change it. */
  owner: string;
  createdAt: number;
  /** `dev:ino` of the cgroup directory it froze: a cgroup recreated under the same path is not its. */
  identity?: string;
}

/** The most the lease file may hold; a bigger file is damaged, and a lease that would pass it is refused. */
export const MAX_LEASE_FILE_BYTES = 16 * 1024 * 1024;
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Background writes within this window share one write. */
const LAZY_WRITE_MS = 50;
const BOOT_ID_FILE = '/proc/sys/kernel/random/boot_id';

function isLeaseRecord(r: unknown): r is LeaseRecord {
  return (
    isRecord(r) &&
    typeof r.cgroupDir === 'string' &&
    r.cgroupDir.startsWith('/') &&
    typeof r.target === 'string' &&
    (r.expiresAt === null || typeof r.expiresAt === 'number') &&
    typeof r.owner === 'string' &&
    typeof r.createdAt === 'number' &&
    (r.identity === undefined || typeof r.identity === 'string')
  );
}

/** What a lease file holds: its leases and the boot they were made in. */
export interface LeaseFileContents {
  /** The kernel's boot id when it was written; absent in files of older versions. */
  bootId?: string;
  leases: LeaseRecord[];
}

/**
 * Parses a lease file. A damaged one is an error (ERR_STATE_FILE) that carries `salvaged`: the leases
 * of its lines that still parse (the file is written one lease per line), so nothing readable is lost.
 */
export function parseLeaseFile(text: string, file: string): LeaseFileContents {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw damaged(file, `is not valid JSON: ${(err as Error).message}`, text, err);
  }
  if (!isRecord(doc) || doc.version !== 1 || !Array.isArray(doc.leases))
    throw damaged(file, 'does not hold version 1 leases', text);
  const bad = doc.leases.filter((r) => !isLeaseRecord(r)).length;
  if (bad > 0) throw damaged(file, `has ${bad} malformed lease(s)`, text);
  return { ...(typeof doc.bootId === 'string' ? { bootId: doc.bootId } : {}), leases: doc.leases as LeaseRecord[] };
}

/** A damaged lease file, with the leases that could still be read from it line by line. */
export class DamagedLeaseFile extends CgfreezeError {
  constructor(
    file: string,
    why: string,
    readonly salvaged: LeaseFileContents,
    cause?: unknown,
  ) {
    super('ERR_STATE_FILE', `lease file ${file} ${why}`, { path: file, ...(cause === undefined ? {} : { cause }) });
  }
}

function damaged(file: string, why: string, text: string, cause?: unknown): DamagedLeaseFile {
  const leases: LeaseRecord[] = [];
  for (const line of text.split('\n')) {
    try {
      const r: unknown = JSON.parse(line.replace(/,$/, ''));
      if (isLeaseRecord(r)) leases.push(r);
    } catch {
      // Not a whole lease: the damaged part.
    }
  }
  const bootId = /^\{"version":1,"bootId":"([0-9a-f-]{1,64})"/.exec(text)?.[1];
  return new DamagedLeaseFile(file, why, { ...(bootId === undefined ? {} : { bootId }), leases }, cause);
}

function currentBootId(): string | undefined {
  try {
    return readFileSync(BOOT_ID_FILE, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/**
 * The sidecar's leases, in memory and (when `file` is set) on disk.
 *
 * Every change is written to a temporary file (created exclusively, never through a symbolic link,
 * mode 0600) and renamed over the old one, so a crash leaves either the old or the new list, never a
 * torn one; concurrent changes share one write. A lease that must survive a crash of the sidecar is
 * written before its freeze (`durable`); it is not fsynced: what fsync protects against, a crash of
 * the kernel or a power cut, also ends every freeze, and leases of an earlier boot are dropped at load.
 */
export class LeaseStore {
  private readonly records = new Map<string, LeaseRecord>();
  /** Each record as its line of the file, and their total length: the size cap is checked before a put. */
  private readonly lines = new Map<string, string>();
  private bytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> | undefined;
  private pending: Promise<void> | undefined;
  private closed = false;
  private lazyTimer: NodeJS.Timeout | undefined;
  /** Expiries already handed to `onExpire`, so a thaw in progress is not requested again. */
  private readonly notified = new Map<string, number>();
  private readonly bootId = currentBootId();

  constructor(
    readonly file: string | undefined,
    private readonly onExpire: (record: LeaseRecord) => void,
    private readonly log: (line: string) => void = (line) => process.stderr.write(line + '\n'),
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Reads the file left by a previous run (missing = none). Call once, before serving. A damaged file
   * is moved aside, loudly, and the leases that could be read from it are kept: refusing to start
   * would leave every leased cgroup frozen. Leases of an earlier boot ended with it and are dropped.
   */
  load(): LeaseRecord[] {
    if (this.file === undefined) return [];
    this.removeStaleTemporaries(this.file);
    let contents: LeaseFileContents;
    try {
      contents = parseLeaseFile(this.readFile(this.file), this.file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      contents = this.setAside(this.file, err);
    }
    if (contents.bootId !== undefined && this.bootId !== undefined && contents.bootId !== this.bootId) {
      this.log(
        `cgfreeze serve: the lease file ${this.file} was written before the last reboot; its ` +
          `${contents.leases.length} lease(s) ended with that boot and are dropped`,
      );
      return [];
    }
    for (const r of contents.leases) this.set(r);
    return contents.leases;
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
   * Records (or replaces) a lease. `durable` resolves once the file holds it; otherwise the write
   * happens in the background. A lease that would make the file larger than MAX_LEASE_FILE_BYTES is
   * refused (ERR_BUSY), and so is one that could not be written: it is not kept.
   */
  async put(record: LeaseRecord, durable: boolean): Promise<void> {
    const before = this.records.get(record.cgroupDir);
    const line = JSON.stringify(record);
    const grown = this.bytes - this.lineBytes(record.cgroupDir) + line.length + 2;
    if (grown > MAX_LEASE_FILE_BYTES) {
      throw new CgfreezeError(
        'ERR_BUSY',
        `the sidecar holds ${this.records.size} leases, as many as its lease file takes; unpause some first`,
      );
    }
    this.set(record, line);
    this.arm();
    try {
      await this.write(durable);
    } catch (err) {
      if (before === undefined) this.remove(record.cgroupDir);
      else this.set(before);
      this.arm();
      throw err;
    }
  }

  async delete(cgroupDir: string, durable: boolean): Promise<void> {
    this.notified.delete(cgroupDir);
    if (!this.remove(cgroupDir)) return;
    this.arm();
    await this.write(durable);
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

  /** Resolves once everything changed so far is in the file. */
  persist(): Promise<void> {
    return this.flush();
  }

  /** What a lease's line takes in the file, with its separator. */
  private lineBytes(cgroupDir: string): number {
    const line = this.lines.get(cgroupDir);
    return line === undefined ? 0 : line.length + 2;
  }

  private set(record: LeaseRecord, line = JSON.stringify(record)): void {
    this.bytes += line.length + 2 - this.lineBytes(record.cgroupDir);
    this.records.set(record.cgroupDir, record);
    this.lines.set(record.cgroupDir, line);
  }

  private remove(cgroupDir: string): boolean {
    if (!this.records.has(cgroupDir)) return false;
    this.bytes -= this.lineBytes(cgroupDir);
    this.records.delete(cgroupDir);
    this.lines.delete(cgroupDir);
    return true;
  }

  private write(durable: boolean): Promise<void> {
    if (durable) return this.flush();
    // Background writes are batched: a crash before one loses only pauses without a TTL, which stay
    // frozen as they asked.
    if (this.lazyTimer === undefined && this.file !== undefined) {
      this.lazyTimer = setTimeout(() => {
        this.lazyTimer = undefined;
        this.flush().catch((err: unknown) =>
          this.log(`cgfreeze serve: cannot write the lease file ${this.file ?? ''}: ${String(err)}`),
        );
      }, LAZY_WRITE_MS);
      this.lazyTimer.unref();
    }
    return Promise.resolve();
  }

  private flush(): Promise<void> {
    if (this.file === undefined) return Promise.resolve();
    if (this.pending !== undefined) return this.pending;
    if (this.writing === undefined) {
      this.writing = this.writeNow(this.file).finally(() => {
        this.writing = undefined;
      });
      return this.writing;
    }
    // A write is running with an older snapshot: queue exactly one more after it.
    const after = this.writing.catch(() => undefined);
    this.pending = after.then(() => {
      this.pending = undefined;
      return this.flush();
    });
    return this.pending;
  }

  /** The file's text: one lease per line, so a damaged file can still be read line by line. */
  private text(): string {
    const head = JSON.stringify({ version: 1, ...(this.bootId === undefined ? {} : { bootId: this.bootId }) });
    return `${head.slice(0, -1)},"leases":[\n${[...this.lines.values()].join(',\n')}\n]}\n`;
  }

  private async writeNow(file: string): Promise<void> {
    const text = this.text();
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    // A fresh name, created exclusively and never through a link: nothing planted there is written.
    const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    const handle = await open(
      tmp,
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
      0o600,
    );
    try {
      // The mode is 0600 whatever the umask.
      await handle.chmod(0o600);
      await handle.writeFile(text);
    } finally {
      await handle.close();
    }
    try {
      await rename(tmp, file);
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
  }

  /** The lease file's text, read without following a link and at most MAX_LEASE_FILE_BYTES of it. */
  private readFile(file: string): string {
    const fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    try {
      const stat = fstatSync(fd);
      if (!stat.isFile()) throw new DamagedLeaseFile(file, 'is not a regular file', { leases: [] });
      const { size } = stat;
      if (size > MAX_LEASE_FILE_BYTES)
        throw new DamagedLeaseFile(file, `is ${size} bytes, more than a lease file holds`, { leases: [] });
      return readFileSync(fd, 'utf8');
    } finally {
      closeSync(fd);
    }
  }

  /** Moves a damaged (or unreadable) lease file aside, says so loudly, and returns what could be read. */
  private setAside(file: string, err: unknown): LeaseFileContents {
    const salvaged = err instanceof DamagedLeaseFile ? err.salvaged : { leases: [] };
    const aside = `${file}.damaged-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    let where: string;
    try {
      renameSync(file, aside);
      where = `moved it to ${aside}`;
    } catch (e) {
      where = `could not move it aside (${(e as Error).message}); the next write replaces it`;
    }
    this.log(
      `cgfreeze serve: LEASE FILE DAMAGED: ${(err as Error).message}; ${where}. Starting with the ` +
        `${salvaged.leases.length} lease(s) that could be read from it: any other cgroup it listed stays ` +
        `as it is (frozen ones stay frozen until unpaused)`,
    );
    return salvaged;
  }

  /** Temporary files of runs that crashed between their write and their rename. */
  private removeStaleTemporaries(file: string): void {
    const prefix = `${basename(file)}.tmp-`;
    let names: string[];
    try {
      names = readdirSync(dirname(file));
    } catch {
      return;
    }
    for (const name of names) {
      if (!name.startsWith(prefix)) continue;
      try {
        unlinkSync(join(dirname(file), name));
      } catch {
        // Someone else's, or gone already.
      }
    }
  }
}
