import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CgfreezeError } from '../errors.js';
import type { ResolveOptions } from '../index.js';
import { type DispatchOptions, Load, dispatcher } from './dispatch.js';
import type { LeaseRecord } from './leases.js';
import { bearerToken, httpServer, listenOnPort, listenOnSocket, stopServer, trackPeers } from './listeners.js';
import type { Policy } from './policy.js';
import { sidecarRoutes } from './routes.js';
import { SidecarService } from './service.js';
import { DEFAULTS } from './defaults.js';
import { FairSlots } from './fair-slots.js';

export interface ServeOptions {
  /** Unix socket to listen on. Default /run/cgfreeze/cgfreeze.sock. */
  socketPath?: string;
  /** Default 0o660: owner and group may connect; the policy then decides per uid/gid. */
  socketMode?: number;
  /** User and group of the socket file, by name or number. */
  socketOwner?: string | number;
  socketGroup?: string | number;
  /** Also listen on TCP (host default 127.0.0.1); the token is then required on every request but /healthz. */
  tcp?: { host?: string; port: number; token: string };
  /** A listener for Prometheus: GET /metrics and /healthz only, no actions, no token (host default 127.0.0.1). */
  metricsListen?: { host?: string; port: number };
  policy?: Policy;
  /** Where leases persist across restarts. Default /var/lib/cgfreeze/leases.json. */
  leaseFile?: string;
  /** The audit log (JSON Lines): to `file`, else to stderr; `syslog` also sends each line to syslog. */
  audit?: { file?: string; syslog?: boolean; syslogSocket?: string };
  /** Where the host's filesystem is seen (a sidecar with the host at /host); cgroup paths are host paths. */
  hostRoot?: string;
  /** Where the engines keep their state, when not at their defaults (see the resolver). */
  resolve?: Omit<ResolveOptions, 'hostRoot'>;
  maxBodyBytes?: number;
  /** Operations served at once (pause, unpause, status, list); more wait for a slot, callers in turn. */
  maxConcurrent?: number;
  /** Operations of one caller (a uid, a TCP address) served at once; default half of maxConcurrent. */
  maxConcurrentPerCaller?: number;
  /** A request that waited this long for a slot gets 503 ERR_BUSY (default 5 s). */
  queueTimeoutMs?: number;
  /** Connections one caller may hold open (default 256 of the listener's 1024); more get 503 ERR_BUSY. */
  maxConnectionsPerCaller?: number;
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
  /** The metrics listener's address when it is on. */
  readonly metricsAddress: AddressInfo | undefined;
  leases(): LeaseRecord[];
  /** Opens the audit log file again, after a rotation moved it away. */
  reopenAuditLog(): void;
  /** Stops listening and waits for running requests; `thaw` also thaws every target it holds frozen. */
  close(opts?: { thaw?: boolean }): Promise<void>;
}

const LOOPBACK = '127.0.0.1';

const log = (line: string): void => {
  process.stderr.write(line + '\n');
};

/**
 * Starts the sidecar: the service (leases loaded, expired ones thawed, before anything listens), then
 * its listeners, each a dispatcher over the one route table: the unix socket (callers by their peer
 * credentials), TCP (callers by the token), and the metrics-only listener (scrape routes, no caller).
 */
export async function startServer(options: ServeOptions): Promise<Sidecar> {
  if (options.tcp !== undefined && options.tcp.token.length < 16) {
    throw new CgfreezeError('ERR_INVALID_ARG', 'a TCP listener needs a bearer token of at least 16 characters');
  }
  const socketPath = options.socketPath ?? DEFAULTS.socketPath;
  const service = await SidecarService.start({
    ...(options.policy === undefined ? {} : { policy: options.policy }),
    resolve: { ...options.resolve, ...(options.hostRoot === undefined ? {} : { hostRoot: options.hostRoot }) },
    leaseFile: options.leaseFile ?? DEFAULTS.leaseFile,
    ...(options.audit === undefined ? {} : { audit: options.audit }),
    limits: {
      targets: options.maxTargets ?? DEFAULTS.maxTargets,
      maxFreezeTimeoutMs: options.maxFreezeTimeoutMs ?? DEFAULTS.maxFreezeTimeoutMs,
      maxTtlMs: options.maxTtlMs ?? DEFAULTS.maxTtlMs,
    },
    log,
  });
  const slots = options.maxConcurrent ?? DEFAULTS.maxConcurrent;
  const load = new Load(
    new FairSlots(
      slots,
      options.maxConcurrentPerCaller ?? Math.ceil(slots / 2),
      options.queueTimeoutMs ?? DEFAULTS.queueTimeoutMs,
    ),
  );
  const routes = sidecarRoutes(service, () => ({ inflight: load.inflight, queued: load.slots.queued }));
  const perCaller = options.maxConnectionsPerCaller ?? DEFAULTS.maxConnectionsPerCaller;
  const dispatch: Omit<DispatchOptions, 'routes'> = {
    load,
    metrics: service.metrics,
    maxBodyBytes: options.maxBodyBytes ?? DEFAULTS.maxBodyBytes,
    onUnauthenticated: (address, action, error) => service.auditUnauthenticated(address, action, error),
    log,
  };
  const limits = {
    requestTimeoutMs: options.requestTimeoutMs ?? DEFAULTS.requestTimeoutMs,
    maxConnections: DEFAULTS.maxConnections,
  };
  const servers: Server[] = [];
  const serve = (server: Server, opts: Pick<DispatchOptions, 'routes' | 'authenticate'>): Server => {
    server.on('request', dispatcher({ ...dispatch, ...opts }));
    servers.push(server);
    return server;
  };
  let tcpAddress: AddressInfo | undefined;
  let metricsAddress: AddressInfo | undefined;
  try {
    const unix = httpServer(limits);
    await listenOnSocket(serve(unix, { routes, authenticate: trackPeers(unix, perCaller, log) }), {
      path: socketPath,
      mode: options.socketMode ?? DEFAULTS.socketMode,
      ...(options.socketOwner === undefined ? {} : { owner: options.socketOwner }),
      ...(options.socketGroup === undefined ? {} : { group: options.socketGroup }),
    });
    if (options.tcp !== undefined) {
      const server = httpServer(limits);
      const tcp = serve(server, { routes, authenticate: bearerToken(server, options.tcp.token, perCaller) });
      tcpAddress = await listenOnPort(tcp, { host: options.tcp.host ?? LOOPBACK, port: options.tcp.port });
    }
    if (options.metricsListen !== undefined) {
      // Anyone may scrape: only the scrape routes, served without a caller.
      const scrape = routes.filter((r) => r.scrape).map((r) => ({ ...r, auth: false as const }));
      const server = httpServer({ ...limits, maxConnections: DEFAULTS.metricsMaxConnections });
      const { host = LOOPBACK, port } = options.metricsListen;
      metricsAddress = await listenOnPort(serve(server, { routes: scrape }), { host, port });
    }
  } catch (err) {
    await Promise.all(servers.map(stopServer));
    await service.close();
    throw err;
  }

  return {
    socketPath,
    tcpAddress,
    metricsAddress,
    leases: () => service.leases(),
    reopenAuditLog: () => service.reopenAuditLog(),
    async close(opts = {}) {
      load.closing = true;
      load.slots.drain(new CgfreezeError('ERR_BUSY', 'the sidecar is shutting down'));
      await Promise.all(servers.map(stopServer));
      await service.close(opts);
    },
  };
}
