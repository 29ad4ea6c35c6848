import type { AuditRecord } from '../audit.js';
import type { ListFilter, WireState } from '../client/protocol.js';
import { CgfreezeError } from '../errors.js';
import type { Caller } from './policy.js';
import type { HttpLoad, SidecarService } from './service.js';
import { operationStatus } from './http.js';

/** What a handler answers: JSON, or text of a content type (the metrics). */
export type Reply = { status: number; json: unknown } | { status: number; text: string; contentType: string };

/** A request as a handler sees it. */
export interface RouteRequest {
  url: URL;
  /** Who is asking; the dispatcher has checked it before the handler runs when the route needs a caller. */
  caller(): Caller;
  /** The JSON body of a POST, read within the size limit before the request took a slot. */
  body: unknown;
}

interface RouteBase {
  method: 'GET' | 'POST';
  /** Also the route's label in cgfreeze_http_requests_total. */
  path: string;
  /** Takes one of the operations' slots (--max-concurrent), shared fairly; health and metrics never wait for one. */
  slot: boolean;
  /** Also served, to anyone, on the metrics-only listener (--metrics-listen). */
  scrape: boolean;
  handle(request: RouteRequest): Reply | Promise<Reply>;
}

/**
 * A route, and whether it needs a caller (`auth`: the unix peer's credentials, or the bearer token on
 * TCP); `action` names it in the audit line of a request refused for want of one.
 */
export type Route = RouteBase & ({ auth: false } | { auth: true; action: AuditRecord['action'] });

const LIST_FILTERS = ['name', 'label', 'state', 'engine', 'leased'];
const STATES: readonly string[] = ['thawed', 'freezing', 'frozen'] satisfies WireState[];

/** `GET /v1/list`'s query as the service's filter; unknown keys and values are refused. */
function listFilter(q: URLSearchParams): ListFilter {
  for (const key of q.keys()) {
    if (!LIST_FILTERS.includes(key))
      throw new CgfreezeError('ERR_INVALID_ARG', `unknown filter ${JSON.stringify(key)}`);
  }
  const filter: ListFilter = {};
  const [name, state, engine, leased] = ['name', 'state', 'engine', 'leased'].map((k) => q.get(k) ?? undefined);
  if (name !== undefined) filter.name = name;
  if (engine !== undefined) filter.engine = engine;
  const labels = q.getAll('label');
  if (labels.length > 0) filter.label = labels;
  if (state !== undefined) {
    if (!STATES.includes(state)) throw new CgfreezeError('ERR_INVALID_ARG', 'state must be thawed, freezing or frozen');
    filter.state = state as WireState;
  }
  if (leased !== undefined) {
    if (leased !== 'true' && leased !== 'false')
      throw new CgfreezeError('ERR_INVALID_ARG', 'leased must be true or false');
    filter.leased = leased === 'true';
  }
  return filter;
}

function statusTarget(q: URLSearchParams): string {
  const target = q.get('target');
  if (target === null || target === '')
    throw new CgfreezeError('ERR_INVALID_ARG', 'status needs ?target=<reference or cgroup path>');
  return target;
}

/**
 * Every route of the sidecar, in one table: a new route is one entry here (and, when it does something,
 * one method of the service). `load` is what the HTTP side is serving, for the metrics.
 */
export function sidecarRoutes(service: SidecarService, load: () => HttpLoad): Route[] {
  const operation =
    (op: 'pause' | 'unpause') =>
    async (r: RouteRequest): Promise<Reply> => {
      const json = await service[op](r.caller(), r.body);
      return { status: operationStatus(json), json };
    };
  return [
    {
      method: 'GET',
      path: '/healthz',
      slot: false,
      auth: false,
      scrape: true,
      handle: () => ({ status: 200, json: service.health() }),
    },
    {
      method: 'GET',
      path: '/metrics',
      slot: false,
      auth: true,
      action: 'metrics',
      scrape: true,
      handle: () => ({
        status: 200,
        text: service.metricsText(load()),
        contentType: 'text/plain; version=0.0.4; charset=utf-8',
      }),
    },
    {
      method: 'POST',
      path: '/v1/pause',
      slot: true,
      auth: true,
      action: 'pause',
      scrape: false,
      handle: operation('pause'),
    },
    {
      method: 'POST',
      path: '/v1/unpause',
      slot: true,
      auth: true,
      action: 'unpause',
      scrape: false,
      handle: operation('unpause'),
    },
    {
      method: 'GET',
      path: '/v1/status',
      slot: true,
      auth: true,
      action: 'status',
      scrape: false,
      handle: (r) => ({ status: 200, json: service.status(r.caller(), statusTarget(r.url.searchParams)) }),
    },
    {
      method: 'GET',
      path: '/v1/list',
      slot: true,
      auth: true,
      action: 'list',
      scrape: false,
      handle: (r) => ({ status: 200, json: service.list(r.caller(), listFilter(r.url.searchParams)) }),
    },
  ];
}
