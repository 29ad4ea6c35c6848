import { inspect } from 'node:util';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuditRecord } from '../audit.js';
import { CgfreezeError } from '../errors.js';
import { readJson, sendError, sendJson, sendText } from './http.js';
import type { Metrics } from './metrics.js';
import type { Caller } from './policy.js';
import type { Reply, Route } from './routes.js';

/** Requests being served, shared by every listener of one sidecar. */
export class Load {
  /** Every request being served (the inflight gauge). */
  inflight = 0;
  /** Requests holding one of the operations' slots. */
  operations = 0;
  closing = false;

  constructor(readonly maxOperations: number) {}
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

  const serve = async (route: Route, req: IncomingMessage, url: URL): Promise<Reply> => {
    let caller: Caller | undefined;
    if (route.auth) {
      try {
        if (opts.authenticate === undefined) throw unauthenticated();
        caller = opts.authenticate(req);
      } catch (err) {
        const address = `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? 0}`;
        if (err instanceof CgfreezeError) opts.onUnauthenticated(address, route.action, err);
        throw err;
      }
    }
    return route.handle({
      url,
      caller: () => {
        if (caller === undefined)
          throw new CgfreezeError('ERR_INTERNAL', `internal error in cgfreeze serve: ${route.path} needs auth: true`);
        return caller;
      },
      body: () => readJson(req, opts.maxBodyBytes),
    });
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
    if (route.slot && load.operations >= load.maxOperations) {
      const busy = new CgfreezeError('ERR_BUSY', 'too many requests at once; retry');
      refuse(res, route.path, busy, { 'retry-after': '1', connection: 'close' });
      return;
    }
    if (route.slot) load.operations += 1;
    load.inflight += 1;
    serve(route, req, url)
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
        const headers: Record<string, string> = code === 'ERR_BODY_TOO_LARGE' ? { connection: 'close' } : {};
        metrics.request(route.path, res.headersSent ? 500 : sendError(res, err, headers));
      })
      .finally(() => {
        load.inflight -= 1;
        if (route.slot) load.operations -= 1;
      });
  };
}
