import {
  closeSync,
  constants,
  fchmodSync,
  fstatSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { CgfreezeError, fromSystemError } from '../errors.js';
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
/** The journal is folded into the lease file once it holds this much. */
const JOURNAL_BYTES = 1024 * 1024;
const MAX_TIMER_MS = 2 ** 31 - 1;
const BOOT_ID_FILE = '/proc/sys/kernel/random/boot_id';
/** Files are never opened through a symbolic link; reading one never waits on a FIFO. */
const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

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

/**
 * Parses a lease file. A damaged one is an error (DamagedLeaseFile, ERR_STATE_FILE) that carries
 * `salvaged`: the leases of its lines that still parse (it is written one lease per line).
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

/** A file's text, read without following a link, at most `limit` bytes of a regular file. */
function readSmallFile(file: string, limit: number): string {
  const fd = openSync(file, READ_FLAGS);
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new DamagedLeaseFile(file, 'is not a regular file', { leases: [] });
    if (stat.size > limit)
      throw new DamagedLeaseFile(file, `is ${stat.size} bytes, more than it may hold`, { leases: [] });
    return readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
}

/**
 * The sidecar's leases, in memory and (when `file` is set) on disk, in two files:
 *
 * - the lease file: the whole list, one lease per line, written to a fresh temporary file beside it
 *   (created exclusively, never through a symbolic link, mode 0600 whatever the umask) and renamed over
 *   it, so it is always either the old list or the new one;
 * - its journal (`<file>.journal`): every change since, one line each (`{"put":…}`, `{"delete":…}`),
 *   appended with one write(2) before the change counts. A lease is therefore on file before its freeze,
 *   at the cost of one write. Once the journal holds 1 MiB it is folded into the lease file.
 *
 * Nothing is fsynced: what fsync protects against, a crash of the kernel or a power cut, also ends
 * every freeze, and leases of an earlier boot are dropped at load. Against a crash of the sidecar, a
 * completed write(2) or rename(2) is enough: the next start reads it.
 */
export class LeaseStore {
  private readonly records = new Map<string, LeaseRecord>();
  /** Each record as its line of the lease file, and their total length: the size cap is checked before a put. */
  private readonly lines = new Map<string, string>();
  private bytes = 0;
  private journalFd: number | undefined;
  private journalBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Expiries already handed to `onExpire`, so a thaw in progress is not requested again. */
  private readonly notified = new Map<string, number>();
  private readonly bootId = currentBootId();

  constructor(
    readonly file: string | undefined,
    private readonly onExpire: (record: LeaseRecord) => void,
    private readonly log: (line: string) => void = (line) => process.stderr.write(line + '\n'),
    private readonly now: () => number = Date.now,
  ) {}

  private get journal(): string {
    return `${this.file ?? ''}.journal`;
  }

  /**
   * Reads what a previous run left (missing = none): the lease file, then its journal. Call once,
   * before serving. A damaged lease file is moved aside, loudly, and the leases that could be read
   * from it are kept: refusing to start would leave every leased cgroup frozen. Leases of an earlier
   * boot ended with it and are dropped. Then both files are written afresh.
   */
  load(): LeaseRecord[] {
    const { file } = this;
    if (file === undefined) return [];
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    this.removeStaleTemporaries(file);
    let contents: LeaseFileContents = { leases: [] };
    try {
      contents = parseLeaseFile(readSmallFile(file, MAX_LEASE_FILE_BYTES), file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') contents = this.setAside(file, err);
    }
    const journal = this.readJournal();
    const bootId = journal.bootId ?? contents.bootId;
    if (bootId !== undefined && this.bootId !== undefined && bootId !== this.bootId) {
      const count = new Set([...contents.leases, ...journal.puts].map((r) => r.cgroupDir)).size;
      this.log(
        `cgfreeze serve: the lease file ${file} was written before the last reboot; its ${count} lease(s) ` +
          'ended with that boot and are dropped',
      );
    } else {
      for (const r of contents.leases) this.set(r);
      for (const change of journal.changes) {
        if (typeof change === 'string') this.remove(change);
        else this.set(change);
      }
    }
    this.compact();
    return this.all();
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
   * Records (or replaces) a lease, on file before it returns. A lease that would make the lease file
   * larger than MAX_LEASE_FILE_BYTES is refused (ERR_BUSY), and so is one that could not be written.
   */
  put(record: LeaseRecord): void {
    const line = JSON.stringify(record);
    if (this.bytes - this.lineBytes(record.cgroupDir) + line.length + 2 > MAX_LEASE_FILE_BYTES) {
      throw new CgfreezeError(
        'ERR_BUSY',
        `the sidecar holds ${this.records.size} leases, as many as its lease file takes; unpause some first`,
      );
    }
    this.append(`{"put":${line}}\n`);
    this.set(record, line);
    this.arm();
  }

  /** Forgets a lease; a failure to write that is logged (the lease's next check finds its cgroup thawed). */
  delete(cgroupDir: string): void {
    this.notified.delete(cgroupDir);
    if (!this.remove(cgroupDir)) return;
    this.arm();
    try {
      this.append(`{"delete":${JSON.stringify(cgroupDir)}}\n`);
    } catch (err) {
      this.log(`cgfreeze serve: cannot write the lease journal ${this.journal}: ${(err as Error).message}`);
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

  /** Stops expiry timers and folds the journal into the lease file; the leases stay for the next start. */
  close(): void {
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.file === undefined) return;
    try {
      this.compact();
    } catch (err) {
      this.log(`cgfreeze serve: cannot write the lease file ${this.file}: ${(err as Error).message}`);
    }
    if (this.journalFd !== undefined) closeSync(this.journalFd);
    this.journalFd = undefined;
  }

  /** What a lease's line takes in the lease file, with its separator. */
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

  /** One change, one write(2) on the journal's O_APPEND descriptor; a full journal is folded in first. */
  private append(line: string): void {
    if (this.file === undefined) return;
    if (this.journalBytes + line.length > JOURNAL_BYTES) this.compact();
    if (this.journalFd === undefined) this.openJournal();
    try {
      writeSync(this.journalFd as number, line);
    } catch (err) {
      throw fromSystemError(err, this.journal);
    }
    this.journalBytes += line.length;
  }

  private openJournal(): void {
    const fd = openSync(
      this.journal,
      constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW,
      0o600,
    );
    // The mode is 0600 whatever the umask, and whatever the file had.
    fchmodSync(fd, 0o600);
    this.journalFd = fd;
    this.journalBytes = fstatSync(fd).size;
    if (this.journalBytes === 0) {
      const head = `${JSON.stringify({ bootId: this.bootId ?? null })}\n`;
      writeSync(fd, head);
      this.journalBytes = head.length;
    }
  }

  /**
   * Writes the whole list to the lease file, then empties the journal. A crash between the two replays
   * the journal onto a list that already holds it: each change sets or removes one lease, so replaying
   * it again changes nothing.
   */
  private compact(): void {
    const file = this.file as string;
    const head = JSON.stringify({ version: 1, ...(this.bootId === undefined ? {} : { bootId: this.bootId }) });
    const text = `${head.slice(0, -1)},"leases":[\n${[...this.lines.values()].join(',\n')}\n]}\n`;
    // A fresh name, created exclusively and never through a link: nothing planted there is written.
    const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    try {
      fchmodSync(fd, 0o600);
      writeSync(fd, text);
    } finally {
      closeSync(fd);
    }
    try {
      renameSync(tmp, file);
    } catch (err) {
      unlinkSync(tmp);
      throw err;
    }
    if (this.journalFd === undefined) this.openJournal();
    ftruncateSync(this.journalFd as number, 0);
    this.journalBytes = 0;
    const header = `${JSON.stringify({ bootId: this.bootId ?? null })}\n`;
    writeSync(this.journalFd as number, header);
    this.journalBytes = header.length;
  }

  /** The journal's changes in order (a cgroup for a delete), and the boot it was written in. */
  private readJournal(): { bootId?: string; changes: Array<LeaseRecord | string>; puts: LeaseRecord[] } {
    let text: string;
    try {
      text = readSmallFile(this.journal, JOURNAL_BYTES * 2);
    } catch (err) {
      // Unreadable (a link, not a file, too large): set aside like a damaged lease file, then started afresh.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.setAside(this.journal, err);
      return { changes: [], puts: [] };
    }
    const changes: Array<LeaseRecord | string> = [];
    let bootId: string | undefined;
    let bad = 0;
    for (const [i, line] of text.split('\n').entries()) {
      if (line === '') continue;
      let change: unknown;
      try {
        change = JSON.parse(line);
      } catch {
        bad++;
        continue;
      }
      if (i === 0 && isRecord(change) && typeof change.bootId === 'string') bootId = change.bootId;
      else if (isRecord(change) && isLeaseRecord(change.put)) changes.push(change.put);
      else if (isRecord(change) && typeof change.delete === 'string') changes.push(change.delete);
      else if (!(i === 0 && isRecord(change) && change.bootId === null)) bad++;
    }
    // A crash can tear the last line; anything more is damage worth a word.
    if (bad > 0)
      this.log(`cgfreeze serve: the lease journal ${this.journal} had ${bad} unreadable line(s); they were skipped`);
    const puts = changes.filter((c): c is LeaseRecord => typeof c !== 'string');
    return { ...(bootId === undefined ? {} : { bootId }), changes, puts };
  }

  /** Moves a damaged (or unreadable) lease file or journal aside, says so loudly, and returns what could be read. */
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
