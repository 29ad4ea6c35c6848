import { timingSafeEqual, createHash } from 'node:crypto';
import { chmodSync, chownSync, lstatSync, readFileSync, unlinkSync } from 'node:fs';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import { type AddressInfo, type Socket, connect } from 'node:net';
import { CgfreezeError } from '../errors.js';
import type {
  HealthResponse,
  ListResponse,
  OperationResponse,
  StatusResponse,
  WireContainer,
  WireLease,
  WireResult,
} from '../client/protocol.js';
import { type AuditEntry, type AuditSink, auditPeer, auditSink } from './audit.js';
import type { Backend, Outcome, TargetInfo } from './backend.js';
import { selfAndAncestors } from '../cgroup/membership.js';
import { assertFreezable } from './guard.js';
import { parseDuration, readJson, sendError, sendJson, statusFor, toWireError } from './http.js';
import { type LeaseRecord, LeaseStore } from './leases.js';
import { Metrics } from './metrics.js';
import { peerCredentials } from './peer.js';
import {
  type Action,
  type Caller,
  DEFAULT_POLICY,
  type Policy,
  allows,
  describeCaller,
  globMatch,
  mayAct,
} from './policy.js';

export interface ServeOptions {
  /** Unix socket to listen on. Default /run/cgfreeze/cgfreeze.sock. */
  socketPath?: string;
  /** Default 0o660: owner and group may connect; the policy then decides per uid/gid. */
  socketMode?: number;
  /** User and group of the socket file, by name or number. */
  socketOwner?: string | number;
  socketGroup?: string | number;
  /** Also listen on TCP (host defaults to 127.0.0.1); the token is then required on every request but /healthz. */
  tcp?: { host?: string; port: number; token: string };
  policy?: Policy;
  /** Where leases persist across restarts. Default /var/lib/cgfreeze/leases.json. */
  leaseFile?: string;
  /** JSON Lines audit log; default stderr. */
  auditLog?: string;
  backend: Backend;
  /** Where the host's filesystem is seen (a sidecar with the host at /host); cgroup paths are host paths. */
  hostRoot?: string;
  maxBodyBytes?: number;
  /** Requests served at once; more get 503 ERR_BUSY. */
  maxConcurrent?: number;
  maxTargets?: number;
  /** A request must arrive completely within this time (slow clients get 408). */
  requestTimeoutMs?: number;
  /** Cap on the freeze timeout a caller may ask for. */
  maxFreezeTimeoutMs?: number;
  maxTtlMs?: number;
}

export interface Sidecar {
  readonly socketPath: string;
  /** The TCP address when TCP is on. */
  readonly tcpAddress: AddressInfo | undefined;
  leases(): LeaseRecord[];
  /** Stops listening and waits for running requests; `thaw` also thaws every target it holds frozen. */
  close(opts?: { thaw?: boolean }): Promise<void>;
}

export const DEFAULTS = {
  socketPath: '/run/cgfreeze/cgfreeze.sock',
  leaseFile: '/var/lib/cgfreeze/leases.json',
  socketMode: 0o660,
  maxBodyBytes: 64 * 1024,
  maxConcurrent: 64,
  maxTargets: 256,
  requestTimeoutMs: 10_000,
  freezeTimeoutMs: 10_000,
  maxFreezeTimeoutMs: 60_000,
  maxTtlMs: 7 * 24 * 3_600_000,
} as const;

/** How long to wait before retrying a lease thaw that failed. */
const EXPIRY_RETRY_MS = 1_000;

/** Serializes work per cgroup: requests on one target run in arrival order, so the last one wins. */
class KeyedLock {
  private readonly tails = new Map<string, Promise<void>>();

  async run<T>(keys: string[], fn: () => Promise<T>): Promise<T> {
    const unique = [...new Set(keys)];
    let release = (): void => undefined;
    const mine = new Promise<void>((r) => {
      release = r;
    });
    // Taking every key in one synchronous step keeps multi-target requests free of deadlock.
    const before = unique.map((k) => this.tails.get(k));
    for (const k of unique) this.tails.set(k, mine);
    await Promise.all(before);
    try {
      return await fn();
    } finally {
      release();
      for (const k of unique) if (this.tails.get(k) === mine) this.tails.delete(k);
    }
  }
}

function idFromFile(file: string, name: string | number): number {
  if (typeof name === 'number') return name;
  if (/^\d+$/.test(name)) return Number(name);
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const fields = line.split(':');
    if (fields[0] === name && fields[2] !== undefined) return Number(fields[2]);
  }
  throw new CgfreezeError('ERR_INVALID_ARG', `no such ${file === '/etc/passwd' ? 'user' : 'group'}: ${name}`);
}

/** A socket file left by a crashed run is removed; one with a live server behind it is not. */
async function clearStaleSocket(path: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch {
    return;
  }
  if (!isSocket) throw new CgfreezeError('ERR_INVALID_ARG', `${path} exists and is not a socket`, { path });
  const live = await new Promise<boolean>((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
  if (live) throw new CgfreezeError('EADDRINUSE', `another sidecar is listening on ${path}`, { path });
  unlinkSync(path);
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

interface Parsed {
  targets: string[];
  ttlMs: number | undefined;
  ttlText: string | undefined;
  atomic: boolean;
  timeoutMs: number;
}

export async function startServer(options: ServeOptions): Promise<Sidecar> {
  const socketPath = options.socketPath ?? DEFAULTS.socketPath;
  const policy = options.policy ?? DEFAULT_POLICY;
  const backend = options.backend;
  const hostRoot = (options.hostRoot ?? '').replace(/\/+$/, '');
  const limits = {
    body: options.maxBodyBytes ?? DEFAULTS.maxBodyBytes,
    concurrent: options.maxConcurrent ?? DEFAULTS.maxConcurrent,
    targets: options.maxTargets ?? DEFAULTS.maxTargets,
    freezeTimeout: options.maxFreezeTimeoutMs ?? DEFAULTS.maxFreezeTimeoutMs,
    ttl: options.maxTtlMs ?? DEFAULTS.maxTtlMs,
  };
  if (options.tcp !== undefined && options.tcp.token.length < 16) {
    throw new CgfreezeError('ERR_INVALID_ARG', 'a TCP listener needs a bearer token of at least 16 characters');
  }
  const tokenDigest = options.tcp === undefined ? undefined : digest(options.tcp.token);
  const audit: AuditSink = auditSink(options.auditLog);
  const metrics = new Metrics();
  const lock = new KeyedLock();
  const startedAt = Date.now();
  // Our own ancestry does not change while we run (an orphan is re-parented to PID 1, protected anyway).
  const protectedPids: ReadonlySet<number> = new Set(selfAndAncestors());
  const callers = new WeakMap<Socket, Caller>();
  let inflight = 0;
  let closing = false;

  const record = (entry: Omit<AuditEntry, 'time'>): void => {
    try {
      audit({ time: new Date().toISOString(), ...entry });
    } catch (err) {
      process.stderr.write(`cgfreeze serve: audit log write failed: ${(err as Error).message}\n`);
    }
  };

  const leaseOf = (dir: string): WireLease | null => {
    const r = store.get(dir);
    return r === undefined
      ? null
      : { expiresAt: r.expiresAt === null ? null : new Date(r.expiresAt).toISOString(), owner: r.owner };
  };

  /** Thaws one cgroup we hold; used by lease expiry, start-up and shutdown. */
  const release = async (r: LeaseRecord, reason: 'expired' | 'shutdown'): Promise<void> => {
    await lock.run([r.cgroupDir], async () => {
      const current = store.get(r.cgroupDir);
      // Renewed or unpaused meanwhile.
      if (
        current === undefined ||
        (reason === 'expired' && (current.expiresAt === null || current.expiresAt > Date.now()))
      )
        return;
      const [outcome] = await backend.thaw([r.cgroupDir], { timeoutMs: DEFAULTS.freezeTimeoutMs });
      const code = outcome === undefined || outcome.ok ? undefined : outcome.error.code;
      metrics.operation('expire', code);
      if (outcome?.ok === true) metrics.observeResume(outcome.result.elapsedMs);
      const gone = code === 'ERR_CGROUP_GONE' || code === 'ENOENT' || code === 'ERR_NOT_A_CGROUP';
      if (code === undefined || gone) {
        // Not waited for: a crash before the write only means one redundant thaw at the next start.
        await store.delete(r.cgroupDir, false);
      } else if (reason === 'expired') {
        current.expiresAt = Date.now() + EXPIRY_RETRY_MS;
        store.arm();
      }
      record({
        action: reason === 'expired' ? 'expire' : 'shutdown-thaw',
        targets: [r.target],
        outcome: code === undefined || gone ? 'expired' : 'error',
        peer: auditPeer(undefined),
        ...(code !== undefined ? { codes: [code] } : {}),
      });
    });
  };

  const store = new LeaseStore(options.leaseFile ?? DEFAULTS.leaseFile, (r) => {
    release(r, 'expired').catch((err: unknown) =>
      process.stderr.write(`cgfreeze serve: lease expiry: ${String(err)}\n`),
    );
  });
  // A crash must never leave a container frozen forever: thaw what expired while we were down.
  store.load();
  await Promise.all(store.expired().map((r) => release(r, 'expired')));
  await store.persist();
  store.arm();

  const parseTargets = (body: Record<string, unknown>): string[] => {
    const { target, targets } = body;
    let list: unknown[];
    if (target !== undefined && targets !== undefined)
      throw new CgfreezeError('ERR_INVALID_ARG', 'give either "target" or "targets", not both');
    if (typeof target === 'string') list = [target];
    else if (Array.isArray(targets)) list = targets;
    else
      throw new CgfreezeError(
        'ERR_INVALID_ARG',
        'the body needs "target" (a string) or "targets" (an array of strings)',
      );
    if (list.length === 0) throw new CgfreezeError('ERR_INVALID_ARG', '"targets" is empty');
    if (list.length > limits.targets)
      throw new CgfreezeError('ERR_INVALID_ARG', `at most ${limits.targets} targets per request`);
    for (const t of list) {
      if (typeof t !== 'string' || t === '' || t.length > 4096) {
        throw new CgfreezeError(
          'ERR_INVALID_ARG',
          'every target must be a non-empty string of at most 4096 characters',
        );
      }
    }
    return list as string[];
  };

  const parseBody = (raw: unknown, op: 'pause' | 'unpause'): Parsed => {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
      throw new CgfreezeError('ERR_INVALID_ARG', 'the body must be a JSON object');
    const body = raw as Record<string, unknown>;
    const known =
      op === 'pause' ? ['target', 'targets', 'ttl', 'atomic', 'timeoutMs'] : ['target', 'targets', 'timeoutMs'];
    for (const key of Object.keys(body))
      if (!known.includes(key)) throw new CgfreezeError('ERR_INVALID_ARG', `unknown field ${JSON.stringify(key)}`);
    const targets = parseTargets(body);
    let ttlMs: number | undefined;
    if (body.ttl !== undefined) {
      ttlMs = typeof body.ttl === 'string' ? parseDuration(body.ttl) : undefined;
      if (ttlMs === undefined) throw new CgfreezeError('ERR_INVALID_ARG', '"ttl" must look like 500ms, 30s, 5m or 1h');
      if (ttlMs > limits.ttl) throw new CgfreezeError('ERR_INVALID_ARG', `"ttl" may be at most ${limits.ttl} ms`);
    }
    if (body.atomic !== undefined && typeof body.atomic !== 'boolean')
      throw new CgfreezeError('ERR_INVALID_ARG', '"atomic" must be a boolean');
    let timeoutMs: number = DEFAULTS.freezeTimeoutMs;
    if (body.timeoutMs !== undefined) {
      if (
        typeof body.timeoutMs !== 'number' ||
        !Number.isInteger(body.timeoutMs) ||
        body.timeoutMs < 1 ||
        body.timeoutMs > limits.freezeTimeout
      ) {
        throw new CgfreezeError('ERR_INVALID_ARG', `"timeoutMs" must be an integer from 1 to ${limits.freezeTimeout}`);
      }
      timeoutMs = body.timeoutMs;
    }
    return {
      targets,
      ttlMs,
      ttlText: typeof body.ttl === 'string' ? body.ttl : undefined,
      atomic: body.atomic === true,
      timeoutMs,
    };
  };

  const denied = (caller: Caller, action: Action, targets: string[]): CgfreezeError => {
    metrics.deny(action);
    record({ action, targets, outcome: 'denied', peer: auditPeer(caller), codes: ['ERR_POLICY_DENIED'] });
    return new CgfreezeError('ERR_POLICY_DENIED', `${describeCaller(caller)} may not ${action} ${targets.join(', ')}`, {
      ...(targets.length === 1 ? { target: targets[0] } : {}),
    });
  };

  /** Resolves every target; a target the caller may not touch denies the whole request. */
  const resolveAll = (caller: Caller, action: Action, targets: string[]): Array<TargetInfo | CgfreezeError> => {
    const infos = targets.map((t): TargetInfo | CgfreezeError => {
      try {
        return backend.resolve(t);
      } catch (err) {
        return err instanceof CgfreezeError
          ? err
          : new CgfreezeError('ERR_SIDECAR', String(err), { target: t, cause: err });
      }
    });
    const refused = targets.filter((t, i) => {
      const info = infos[i];
      // A target that does not resolve must not reveal more to a caller with no right to act at all.
      return info instanceof CgfreezeError
        ? !mayAct(policy, caller, action)
        : !allows(policy, caller, action, info as TargetInfo);
    });
    if (refused.length > 0) throw denied(caller, action, refused);
    return infos;
  };

  const operate = async (
    caller: Caller,
    op: 'pause' | 'unpause',
    raw: unknown,
  ): Promise<{ status: number; body: OperationResponse }> => {
    const p = parseBody(raw, op);
    const infos = resolveAll(caller, op, p.targets);
    const failed = new Map<number, CgfreezeError>();
    infos.forEach((info, i) => {
      if (info instanceof CgfreezeError) failed.set(i, info);
      else if (op === 'unpause' && info.pausedByEngine === true) {
        failed.set(
          i,
          new CgfreezeError('ERR_PAUSED_BY_ENGINE', `${info.target} was paused by its engine; unpause it there`, {
            target: info.target,
          }),
        );
      } else if (op === 'pause') {
        try {
          assertFreezable(info.cgroupDir, info.target, protectedPids, hostRoot);
        } catch (err) {
          failed.set(i, err as CgfreezeError);
        }
      }
    });
    const results: WireResult[] = new Array<WireResult>(infos.length);
    const fail = (i: number, err: CgfreezeError): void => {
      results[i] = { target: p.targets[i] as string, ok: false, error: toWireError(err) };
      metrics.operation(op, err.code);
    };
    for (const [i, err] of failed) fail(i, err);
    let todo = infos.flatMap((info, i) => (failed.has(i) ? [] : [{ i, info: info as TargetInfo }]));
    if (op === 'pause' && p.atomic && failed.size > 0) {
      // All or nothing: nothing was frozen, so there is nothing to roll back.
      for (const { i } of todo)
        fail(
          i,
          new CgfreezeError('ERR_ATOMIC_ROLLBACK', 'not paused: another target of this atomic request failed', {
            target: p.targets[i] as string,
          }),
        );
      todo = [];
    }
    // Audited while the targets are still locked, so the log's order is the order the kernel saw.
    const finish = (): void => {
      const codes = [...new Set(results.flatMap((r) => (r.ok ? [] : [r.error.code])))];
      record({
        action: op,
        targets: p.targets,
        outcome: codes.length === 0 ? 'ok' : 'error',
        peer: auditPeer(caller),
        ...(p.ttlText !== undefined ? { ttl: p.ttlText } : {}),
        ...(codes.length > 0 ? { codes } : {}),
      });
    };
    const owner = caller.transport === 'unix' ? `uid:${caller.uid}` : 'tcp';
    const dirs = todo.map((t) => t.info.cgroupDir);
    if (todo.length > 0) {
      await lock.run(dirs, async () => {
        let outcomes: Outcome[];
        if (op === 'pause') {
          // Write ahead: a lease is on disk before the freeze, so a crash in between still thaws.
          // A pause without TTL is recorded in the background: if a crash loses it, the target
          // stays frozen, which is what that pause asked for.
          const durable = p.ttlMs !== undefined;
          const now = Date.now();
          const previous = new Map(todo.map((t) => [t.info.cgroupDir, store.get(t.info.cgroupDir)]));
          await Promise.all(
            todo.map((t) =>
              store.put(
                {
                  cgroupDir: t.info.cgroupDir,
                  target: t.info.target,
                  expiresAt: p.ttlMs === undefined ? null : now + p.ttlMs,
                  owner,
                  createdAt: previous.get(t.info.cgroupDir)?.createdAt ?? now,
                },
                durable,
              ),
            ),
          );
          outcomes = await backend.freeze(dirs, { atomic: p.atomic, timeoutMs: p.timeoutMs });
          // Failed freezes leave no lease behind (or the one they would have renewed).
          const undo = todo.filter((_t, k) => outcomes[k]?.ok !== true);
          for (const t of undo) {
            const before = previous.get(t.info.cgroupDir);
            if (before === undefined) await store.delete(t.info.cgroupDir, false);
            else await store.put(before, false);
          }
        } else {
          outcomes = await backend.thaw(dirs, { timeoutMs: p.timeoutMs });
          for (const [k, t] of todo.entries()) {
            const o = outcomes[k];
            const code = o === undefined || o.ok ? undefined : o.error.code;
            if (code === undefined || code === 'ERR_CGROUP_GONE' || code === 'ENOENT')
              await store.delete(t.info.cgroupDir, false);
          }
        }
        todo.forEach(({ i, info }, k) => {
          const o = outcomes[k];
          if (o === undefined) {
            fail(i, new CgfreezeError('ERR_SIDECAR', 'the freezer returned no result', { target: info.target }));
          } else if (!o.ok) {
            fail(i, o.error);
          } else {
            metrics.operation(op, undefined);
            if (op === 'pause') metrics.observeFreeze(o.result.elapsedMs);
            else metrics.observeResume(o.result.elapsedMs);
            results[i] = { target: info.target, ok: true, ...o.result, lease: leaseOf(info.cgroupDir) };
          }
        });
        finish();
      });
    } else {
      finish();
    }
    const ok = results.every((r) => r.ok);
    // One target: the status says how it went. Several: 200 when all went well, else the first failure's status.
    const firstFailure = results.find((r) => !r.ok);
    const status = firstFailure === undefined || firstFailure.ok ? 200 : statusFor(firstFailure.error.code);
    return { status, body: { ok, results } };
  };

  const describeTarget = (info: TargetInfo): WireContainer => {
    let state: WireContainer['state'];
    try {
      state = backend.status(info.cgroupDir).state;
    } catch {
      state = 'thawed';
    }
    return {
      target: info.target,
      cgroupDir: info.cgroupDir,
      ...(info.id !== undefined ? { id: info.id } : {}),
      ...(info.name !== undefined ? { name: info.name } : {}),
      ...(info.engine !== undefined ? { engine: info.engine } : {}),
      labels: info.labels,
      state,
      lease: leaseOf(info.cgroupDir),
    };
  };

  const status = (caller: Caller, url: URL): StatusResponse => {
    const target = url.searchParams.get('target');
    if (target === null || target === '')
      throw new CgfreezeError('ERR_INVALID_ARG', 'status needs ?target=<reference or cgroup path>');
    const [info] = resolveAll(caller, 'status', [target]);
    if (info instanceof CgfreezeError || info === undefined)
      throw info ?? new CgfreezeError('ERR_SIDECAR', 'no resolution');
    const s = backend.status(info.cgroupDir);
    return {
      ...describeTarget(info),
      version: s.version,
      state: s.state,
      self: s.self,
      byAncestor: s.byAncestor,
      ...(s.ancestor !== undefined ? { ancestor: s.ancestor } : {}),
    };
  };

  const list = (caller: Caller, url: URL): ListResponse => {
    if (!mayAct(policy, caller, 'list')) throw denied(caller, 'list', ['*']);
    const q = url.searchParams;
    const name = q.get('name');
    const labels = q.getAll('label');
    const state = q.get('state');
    const engine = q.get('engine');
    const leased = q.get('leased');
    if (state !== null && !['thawed', 'freezing', 'frozen'].includes(state))
      throw new CgfreezeError('ERR_INVALID_ARG', 'state must be thawed, freezing or frozen');
    if (leased !== null && leased !== 'true' && leased !== 'false')
      throw new CgfreezeError('ERR_INVALID_ARG', 'leased must be true or false');
    for (const key of q.keys()) {
      if (!['name', 'label', 'state', 'engine', 'leased'].includes(key))
        throw new CgfreezeError('ERR_INVALID_ARG', `unknown filter ${JSON.stringify(key)}`);
    }
    // What the engines run, plus bare cgroups we hold frozen that no engine names.
    const known = backend.list();
    const dirs = new Set(known.map((k) => k.cgroupDir));
    for (const r of store.all())
      if (!dirs.has(r.cgroupDir)) known.push({ target: r.target, cgroupDir: r.cgroupDir, labels: {} });
    const items = known
      .filter((info) => allows(policy, caller, 'list', info))
      .filter((info) => name === null || globMatch(name, info.name ?? info.cgroupDir))
      .filter((info) => engine === null || info.engine === engine)
      .filter((info) =>
        labels.every((l) => {
          const eq = l.indexOf('=');
          return eq < 0 ? info.labels[l] !== undefined : info.labels[l.slice(0, eq)] === l.slice(eq + 1);
        }),
      )
      .filter((info) => leased === null || (store.get(info.cgroupDir) !== undefined) === (leased === 'true'))
      .map(describeTarget)
      .filter((item) => state === null || item.state === state);
    return { items };
  };

  const authenticate = (req: IncomingMessage): Caller => {
    const known = callers.get(req.socket);
    if (known !== undefined) return known;
    // Not a unix peer: a TCP client, which must show the token.
    const header = req.headers.authorization ?? '';
    const m = /^Bearer (\S+)$/.exec(header);
    if (tokenDigest === undefined || m === null || !timingSafeEqual(digest(m[1] as string), tokenDigest)) {
      throw new CgfreezeError('ERR_UNAUTHENTICATED', 'a bearer token is required on TCP');
    }
    return { transport: 'tcp', address: `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? 0}` };
  };

  const route = async (
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
  ): Promise<{ name: string; status: number }> => {
    const method = req.method ?? 'GET';
    const path = url.pathname;
    const routes: Record<string, string> = {
      '/healthz': 'GET',
      '/metrics': 'GET',
      '/v1/pause': 'POST',
      '/v1/unpause': 'POST',
      '/v1/status': 'GET',
      '/v1/list': 'GET',
    };
    const want = routes[path];
    if (want === undefined) {
      sendJson(res, 404, { error: { code: 'ERR_INVALID_ARG', message: `no route ${path}` } });
      return { name: 'unknown', status: 404 };
    }
    if (method !== want) {
      sendJson(res, 405, { error: { code: 'ERR_INVALID_ARG', message: `${path} takes ${want}` } }, { allow: want });
      return { name: path, status: 405 };
    }
    if (path === '/healthz') {
      const body: HealthResponse = { ok: true, uptimeMs: Date.now() - startedAt, leases: store.size };
      sendJson(res, 200, body);
      return { name: path, status: 200 };
    }
    const caller = authenticate(req);
    if (path === '/metrics') {
      const text = metrics.render({
        frozen: store.size,
        leases: store.all().filter((r) => r.expiresAt !== null).length,
        inflight,
        startTimeSeconds: Math.floor(startedAt / 1000),
      });
      res.writeHead(200, {
        'content-type': 'text/plain; version=0.0.4; charset=utf-8',
        'content-length': String(Buffer.byteLength(text)),
      });
      res.end(text);
      return { name: path, status: 200 };
    }
    if (path === '/v1/pause' || path === '/v1/unpause') {
      const body = await readJson(req, limits.body);
      const { status, body: out } = await operate(caller, path === '/v1/pause' ? 'pause' : 'unpause', body);
      sendJson(res, status, out);
      return { name: path, status };
    }
    const out = path === '/v1/status' ? status(caller, url) : list(caller, url);
    sendJson(res, 200, out);
    return { name: path, status: 200 };
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://cgfreeze');
    } catch {
      sendJson(res, 400, { error: { code: 'ERR_INVALID_ARG', message: 'bad request URL' } });
      return;
    }
    if (inflight >= limits.concurrent || closing) {
      metrics.error('ERR_BUSY');
      metrics.request(url.pathname, 503);
      sendError(
        res,
        new CgfreezeError('ERR_BUSY', closing ? 'the sidecar is shutting down' : 'too many requests at once; retry'),
        {
          'retry-after': '1',
          connection: 'close',
        },
      );
      return;
    }
    inflight += 1;
    route(req, res, url)
      .then(({ name, status }) => metrics.request(name, status))
      .catch((err: unknown) => {
        if (!(err instanceof CgfreezeError))
          process.stderr.write(`cgfreeze serve: ${(err as Error).stack ?? String(err)}\n`);
        const code = err instanceof CgfreezeError ? err.code : 'ERR_SIDECAR';
        if (code === 'ERR_UNAUTHENTICATED') {
          record({
            action: url.pathname,
            targets: [],
            outcome: 'denied',
            peer: { transport: 'tcp', address: String(req.socket.remoteAddress) },
            codes: [code],
          });
        }
        if (code !== 'ERR_POLICY_DENIED') metrics.error(code);
        // After an oversize body the rest of it is never read: close instead of draining it.
        const headers: Record<string, string> = code === 'ERR_BODY_TOO_LARGE' ? { connection: 'close' } : {};
        const status = res.headersSent ? 500 : sendError(res, err, headers);
        metrics.request(url.pathname, status);
      })
      .finally(() => {
        inflight -= 1;
      });
  };

  const configure = (server: Server): Server => {
    server.requestTimeout = options.requestTimeoutMs ?? DEFAULTS.requestTimeoutMs;
    server.headersTimeout = Math.min(server.requestTimeout, 5_000);
    server.keepAliveTimeout = 5_000;
    server.maxHeadersCount = 64;
    server.maxRequestsPerSocket = 10_000;
    server.maxConnections = 1_024;
    return server;
  };

  // Slow clients are checked this often against requestTimeout.
  const serverOptions = { maxHeaderSize: 8 * 1024, connectionsCheckingInterval: 500 };
  const unixServer = configure(createServer(serverOptions, handle));
  unixServer.on('connection', (socket: Socket) => {
    try {
      const cred = peerCredentials(socket);
      callers.set(socket, { transport: 'unix', uid: cred.uid, gid: cred.gid, pid: cred.pid });
    } catch (err) {
      process.stderr.write(
        `cgfreeze serve: dropping a connection without peer credentials: ${(err as Error).message}\n`,
      );
      socket.destroy();
    }
  });
  await clearStaleSocket(socketPath);
  await new Promise<void>((resolve, reject) => {
    unixServer.once('error', reject);
    unixServer.listen(socketPath, () => {
      unixServer.off('error', reject);
      resolve();
    });
  });
  try {
    chmodSync(socketPath, options.socketMode ?? DEFAULTS.socketMode);
    if (options.socketOwner !== undefined || options.socketGroup !== undefined) {
      chownSync(
        socketPath,
        options.socketOwner === undefined ? -1 : idFromFile('/etc/passwd', options.socketOwner),
        options.socketGroup === undefined ? -1 : idFromFile('/etc/group', options.socketGroup),
      );
    }
  } catch (err) {
    unixServer.close();
    throw err instanceof CgfreezeError
      ? err
      : new CgfreezeError('ERR_INVALID_ARG', `cannot set up ${socketPath}: ${(err as Error).message}`, { cause: err });
  }

  let tcpServer: Server | undefined;
  if (options.tcp !== undefined) {
    const server = configure(createServer(serverOptions, handle));
    const { host = '127.0.0.1', port } = options.tcp;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    }).catch((err: unknown) => {
      unixServer.close();
      throw err;
    });
    tcpServer = server;
  }

  const stop = (server: Server): Promise<void> =>
    new Promise((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
    });

  return {
    socketPath,
    tcpAddress: tcpServer?.address() as AddressInfo | undefined,
    leases: () => store.all(),
    async close(opts = {}) {
      closing = true;
      await Promise.all([stop(unixServer), ...(tcpServer ? [stop(tcpServer)] : [])]);
      if (opts.thaw === true) await Promise.all(store.all().map((r) => release(r, 'shutdown')));
      store.close();
      await store.persist();
    },
  };
}
