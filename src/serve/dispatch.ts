import { inspect } from 'node:util';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuditRecord } from '../audit.js';
import { CgfreezeError } from '../errors.js';
import { readJson, sendError, sendJson, sendText } from './http.js';
import type { Metrics } from './metrics.js';
import type { FairSlots } from './fair-slots.js';
import type { Caller } from './policy.js';
import type { Reply, Route } from './routes.js';

/** Requests being served, shared by every listener of one sidecar. */
export class Load {
  /** Every request being served (the inflight gauge). */
  inflight = 0;
  closing = false;

  constructor(
    /** The operations' slots (--max-concurrent), shared fairly between callers. */
    readonly slots: FairSlots,
  ) {}
}

export interface DispatchOptions {
  routes: Route[];
  /** Who is asking, for routes that need a caller; throws ERR_UNAUTHENTICATED. None: nobody is. */
  authenticate?: (req: IncomingMessage) => Caller;
  load: Load;
  metrics: Metrics;
  maxBodyBytes: number;
  /** A request refused for want of credentials, to be audited. */
  onUnauthenticated(address: string, action: AuditRecord['action'], error: CgfreezeError): void;
  /** Lines for the operator (stderr). */
  log(line: string): void;
}

function unauthenticated(): CgfreezeError {
  return new CgfreezeError('ERR_UNAUTHENTICATED', 'a bearer token is required on TCP');
}

/** Whose turn a request waits in: a uid on the unix socket, an address on TCP. */
function fairnessKey(caller: Caller): string {
  if (caller.via === 'unix') return `uid:${caller.uid}`;
  return `tcp:${caller.address.slice(0, caller.address.lastIndexOf(':'))}`;
}

/** Aborts when the client's connection closes before the reply is sent. */
function goneSignal(res: ServerResponse): AbortSignal {
  const gone = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) gone.abort();
  });
  return gone.signal;
}

function send(res: ServerResponse, reply: Reply): void {
  if ('json' in reply) sendJson(res, reply.status, reply.json);
  else sendText(res, reply.status, reply.text, reply.contentType);
}

/**
 * The request handler of one listener: finds the route in the table, refuses what the route's method,
 * the slots or the caller do not allow, runs it, and maps its error to a status. Metrics label each
 * request by its route (`other` for a path with none), never by the raw path.
 */
export function dispatcher(opts: DispatchOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const { load, metrics } = opts;
  const refuse = (
    res: ServerResponse,
    label: string,
    err: CgfreezeError,
    headers: Record<string, string> = {},
  ): void => {
    metrics.error(err.code);
    metrics.request(label, sendError(res, err, headers));
  };

  /**
   * The caller, then the body, then a slot: a request waits for its slot only once it has fully
   * arrived, so a slow body never holds one, and the slots go round the callers in turn.
   */
  const serve = async (route: Route, req: IncomingMessage, res: ServerResponse, url: URL): Promise<Reply> => {
    let caller: Caller | undefined;
    if (route.auth) {
      try {
        if (opts.authenticate === undefined) throw unauthenticated();
        caller = opts.authenticate(req);
      } catch (err) {
        const address = `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? 0}`;
        if (err instanceof CgfreezeError && err.code === 'ERR_UNAUTHENTICATED')
          opts.onUnauthenticated(address, route.action, err);
        throw err;
      }
    }
    const body = route.method === 'POST' ? await readJson(req, opts.maxBodyBytes) : undefined;
    const request = {
      url,
      body,
      caller: () => {
        if (caller === undefined)
          throw new CgfreezeError('ERR_INTERNAL', `internal error in cgfreeze serve: ${route.path} needs auth: true`);
        return caller;
      },
    };
    if (!route.slot) return route.handle(request);
    const key = caller === undefined ? 'anonymous' : fairnessKey(caller);
    const waiting = load.slots.acquire(key, () => goneSignal(res));
    if (waiting !== undefined) await waiting;
    try {
      return await route.handle(request);
    } finally {
      load.slots.release(key);
    }
  };

  return (req, res) => {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://cgfreeze');
    } catch {
      refuse(res, 'other', new CgfreezeError('ERR_INVALID_ARG', 'bad request URL'));
      return;
    }
    const route = opts.routes.find((r) => r.path === url.pathname);
    if (route === undefined) {
      sendJson(res, 404, { error: { code: 'ERR_INVALID_ARG', message: `no route ${url.pathname}` } });
      metrics.request('other', 404);
      return;
    }
    if (req.method !== route.method) {
      const message = `${route.path} takes ${route.method}`;
      sendJson(res, 405, { error: { code: 'ERR_INVALID_ARG', message } }, { allow: route.method });
      metrics.request(route.path, 405);
      return;
    }
    if (load.closing) {
      const busy = new CgfreezeError('ERR_BUSY', 'the sidecar is shutting down');
      refuse(res, route.path, busy, { 'retry-after': '1', connection: 'close' });
      return;
    }
    load.inflight += 1;
    serve(route, req, res, url)
      .then((reply) => {
        send(res, reply);
        metrics.request(route.path, reply.status);
      })
      .catch((err: unknown) => {
        const code = err instanceof CgfreezeError ? err.code : 'ERR_INTERNAL';
        // A bug: the caller gets ERR_INTERNAL without details, the operator the stack.
        if (code === 'ERR_INTERNAL') opts.log(`cgfreeze serve: ${route.path}: ${inspect(err)}`);
        if (code !== 'ERR_POLICY_DENIED') metrics.error(code);
        // After an oversize body the rest of it is never read: close instead of draining it.
        const headers: Record<string, string> =
          code === 'ERR_BODY_TOO_LARGE'
            ? { connection: 'close' }
            : code === 'ERR_BUSY'
              ? { 'retry-after': '1', connection: 'close' }
              : {};
        metrics.request(route.path, res.headersSent ? 500 : sendError(res, err, headers));
      })
      .finally(() => {
        load.inflight -= 1;
      });
  };
}
