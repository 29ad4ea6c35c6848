/**
 * cgfreeze/client: a typed client for the `cgfreeze serve` sidecar. It speaks
 * HTTP only and never loads the native addon, so it runs on any machine.
 */
import { Agent, type IncomingMessage, request } from 'node:http';
import { CgfreezeError, fromSystemError } from '../errors.js';
import {
  type HealthResponse,
  type ListFilter,
  type ListResponse,
  type OperationResponse,
  type StatusResponse,
  type WireContainer,
  type WireError,
  type WireResult,
  errorFromWire,
} from './protocol.js';

export type {
  HealthResponse,
  ListFilter,
  ListResponse,
  OperationResponse,
  PauseBody,
  StatusResponse,
  UnpauseBody,
  WireContainer,
  WireError,
  WireLease,
  WireResult,
  WireState,
} from './protocol.js';
export { errorFromWire, parseDuration } from './protocol.js';
export { CgfreezeError } from '../errors.js';

export interface ClientOptions {
  /** The sidecar's unix socket (default /run/cgfreeze/cgfreeze.sock). Ignored when `url` is set. */
  socketPath?: string;
  /** TCP endpoint such as `http://127.0.0.1:7070`; needs `token`. */
  url?: string;
  token?: string;
  /** Per request, default 30000 ms; a freeze may take up to its own timeoutMs. */
  timeoutMs?: number;
}

export interface PauseOptions {
  /** Lease such as `30s`: the sidecar thaws the target then unless paused again. */
  ttl?: string;
  /** Several targets: all or none. */
  atomic?: boolean;
  timeoutMs?: number;
}

export type SuccessResult = Extract<WireResult, { ok: true }>;

const MAX_RESPONSE_BYTES = 16 * 1024 * 1024;

interface Reply {
  status: number;
  text: string;
  contentType: string;
}

export class CgfreezeClient {
  private readonly agent = new Agent({ keepAlive: true });
  private readonly base: URL | undefined;
  private readonly socketPath: string;
  private readonly token: string | undefined;
  private readonly timeoutMs: number;

  constructor(opts: ClientOptions = {}) {
    this.base = opts.url === undefined ? undefined : new URL(opts.url);
    if (this.base !== undefined && this.base.protocol !== 'http:') {
      throw new CgfreezeError('ERR_INVALID_ARG', `only http:// URLs are supported, got ${opts.url}`);
    }
    this.socketPath = opts.socketPath ?? '/run/cgfreeze/cgfreeze.sock';
    this.token = opts.token;
    this.timeoutMs = opts.timeoutMs ?? 30_000;
  }

  /** Pauses one target and returns its result, or throws its error. */
  pause(target: string, opts?: PauseOptions): Promise<SuccessResult>;
  /** Pauses several; per-target failures are in the results (with `atomic`, all failed or none). */
  pause(targets: string[], opts?: PauseOptions): Promise<OperationResponse>;
  async pause(target: string | string[], opts: PauseOptions = {}): Promise<SuccessResult | OperationResponse> {
    return this.operate('/v1/pause', target, opts);
  }

  unpause(target: string, opts?: { timeoutMs?: number }): Promise<SuccessResult>;
  unpause(targets: string[], opts?: { timeoutMs?: number }): Promise<OperationResponse>;
  async unpause(
    target: string | string[],
    opts: { timeoutMs?: number } = {},
  ): Promise<SuccessResult | OperationResponse> {
    return this.operate('/v1/unpause', target, opts);
  }

  async status(target: string): Promise<StatusResponse> {
    return this.json<StatusResponse>('GET', `/v1/status?${new URLSearchParams({ target }).toString()}`);
  }

  async list(filter: ListFilter = {}): Promise<WireContainer[]> {
    const q = new URLSearchParams();
    if (filter.name !== undefined) q.set('name', filter.name);
    for (const l of filter.label ?? []) q.append('label', l);
    if (filter.state !== undefined) q.set('state', filter.state);
    if (filter.engine !== undefined) q.set('engine', filter.engine);
    if (filter.leased !== undefined) q.set('leased', String(filter.leased));
    const query = q.toString();
    return (await this.json<ListResponse>('GET', `/v1/list${query === '' ? '' : `?${query}`}`)).items;
  }

  async health(): Promise<HealthResponse> {
    return this.json<HealthResponse>('GET', '/healthz');
  }

  /** The Prometheus text exposition. */
  async metrics(): Promise<string> {
    const reply = await this.send('GET', '/metrics', undefined);
    if (reply.status !== 200) throw this.failure(reply);
    return reply.text;
  }

  /** Closes kept-alive connections so the process can exit. */
  close(): void {
    this.agent.destroy();
  }

  private async operate(
    path: string,
    target: string | string[],
    opts: PauseOptions,
  ): Promise<SuccessResult | OperationResponse> {
    const body = { ...(Array.isArray(target) ? { targets: target } : { target }), ...opts };
    const reply = await this.send('POST', path, JSON.stringify(body));
    const parsed = this.parse(reply) as Partial<OperationResponse> & { error?: WireError };
    if (!Array.isArray(parsed.results)) throw this.failure(reply, parsed);
    const response = parsed as OperationResponse;
    if (Array.isArray(target)) return response;
    const [only] = response.results;
    if (only === undefined) throw new CgfreezeError('ERR_SIDECAR', 'the sidecar returned no result');
    if (!only.ok) throw errorFromWire(only.error, reply.status);
    return only;
  }

  private async json<T>(method: string, path: string): Promise<T> {
    const reply = await this.send(method, path, undefined);
    const parsed = this.parse(reply);
    if (reply.status !== 200) throw this.failure(reply, parsed as { error?: WireError });
    return parsed as T;
  }

  private parse(reply: Reply): unknown {
    if (!reply.contentType.startsWith('application/json')) throw this.failure(reply);
    try {
      return JSON.parse(reply.text);
    } catch {
      throw new CgfreezeError('ERR_SIDECAR', `the sidecar sent invalid JSON (HTTP ${reply.status})`);
    }
  }

  private failure(reply: Reply, parsed?: { error?: WireError }): CgfreezeError {
    if (parsed?.error !== undefined && typeof parsed.error.message === 'string')
      return errorFromWire(parsed.error, reply.status);
    return new CgfreezeError(
      'ERR_SIDECAR',
      `unexpected sidecar response: HTTP ${reply.status} ${reply.text.slice(0, 200)}`,
    );
  }

  private send(method: string, path: string, body: string | undefined): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string> = { accept: 'application/json' };
      if (body !== undefined) {
        headers['content-type'] = 'application/json';
        headers['content-length'] = String(Buffer.byteLength(body));
      }
      if (this.token !== undefined) headers.authorization = `Bearer ${this.token}`;
      const target =
        this.base === undefined
          ? { socketPath: this.socketPath }
          : { hostname: this.base.hostname, port: this.base.port === '' ? 80 : Number(this.base.port) };
      const req = request(
        { ...target, method, path, headers, agent: this.agent, timeout: this.timeoutMs },
        (res: IncomingMessage) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_RESPONSE_BYTES) {
              res.destroy(new CgfreezeError('ERR_SIDECAR', 'the sidecar response is too large'));
              return;
            }
            chunks.push(chunk);
          });
          res.on('error', (err) => reject(err instanceof CgfreezeError ? err : fromSystemError(err)));
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              text: Buffer.concat(chunks).toString('utf8'),
              contentType: String(res.headers['content-type'] ?? ''),
            }),
          );
        },
      );
      req.on('timeout', () =>
        req.destroy(new CgfreezeError('ETIMEDOUT', `no answer from the sidecar within ${this.timeoutMs} ms`)),
      );
      req.on('error', (err) => reject(err instanceof CgfreezeError ? err : fromSystemError(err)));
      req.end(body);
    });
  }
}

/** `createClient()` talks to the default socket; pass `{ url, token }` for TCP. */
export function createClient(opts: ClientOptions = {}): CgfreezeClient {
  return new CgfreezeClient(opts);
}
