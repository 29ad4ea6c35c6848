import { createHash, timingSafeEqual } from 'node:crypto';
import { chmodSync, chownSync, lstatSync, readFileSync, unlinkSync } from 'node:fs';
import { type IncomingMessage, type Server, createServer } from 'node:http';
import { type AddressInfo, type Socket, connect } from 'node:net';
import { CgfreezeError, fromSystemError } from '../errors.js';
import { peerCredentials } from '../index.js';
import type { Caller } from './policy.js';

export interface ListenerLimits {
  /** A request must arrive completely within this time (slow clients get 408). */
  requestTimeoutMs: number;
  /** Connections open at once on this listener. */
  maxConnections: number;
}

/** An HTTP server with bounds on headers, slow clients and connections; requests are added by the caller. */
export function httpServer(limits: ListenerLimits): Server {
  // Slow clients are checked this often against requestTimeout.
  const server = createServer({ maxHeaderSize: 8 * 1024, connectionsCheckingInterval: 500 });
  server.requestTimeout = limits.requestTimeoutMs;
  server.headersTimeout = Math.min(limits.requestTimeoutMs, 5_000);
  server.keepAliveTimeout = 5_000;
  server.maxHeadersCount = 64;
  server.maxRequestsPerSocket = 10_000;
  server.maxConnections = limits.maxConnections;
  return server;
}

/**
 * Records the kernel's credentials of every peer as it connects to the unix socket, and returns how a
 * request finds its caller. A connection without credentials is dropped.
 */
export function trackPeers(server: Server, log: (line: string) => void): (req: IncomingMessage) => Caller {
  const callers = new WeakMap<Socket, Caller>();
  server.on('connection', (socket: Socket) => {
    try {
      const { uid, gid, groups, pid } = peerCredentials(socket);
      callers.set(socket, { via: 'unix', uid, gid, groups, pid });
    } catch (err) {
      log(`cgfreeze serve: dropping a connection without peer credentials: ${(err as Error).message}`);
      socket.destroy();
    }
  });
  return (req) => {
    const caller = callers.get(req.socket);
    if (caller === undefined) throw new CgfreezeError('ERR_UNAUTHENTICATED', 'no peer credentials on this connection');
    return caller;
  };
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** TCP callers show the token (`Authorization: Bearer <token>`); compared in constant time. */
export function bearerToken(token: string): (req: IncomingMessage) => Caller {
  const expected = digest(token);
  return (req) => {
    const m = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '');
    if (m === null || !timingSafeEqual(digest(m[1] as string), expected))
      throw new CgfreezeError('ERR_UNAUTHENTICATED', 'a bearer token is required on TCP');
    return { via: 'tcp', address: `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? 0}` };
  };
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

/** Runs `start` (a server.listen call) and settles when the server listens or fails to. */
function listen(server: Server, start: (ready: () => void) => void): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    start(() => {
      server.off('error', reject);
      resolve();
    });
  }).catch((err: unknown) => {
    throw fromSystemError(err);
  });
}

export interface SocketFile {
  path: string;
  mode: number;
  /** User and group of the socket file, by name or number. */
  owner?: string | number;
  group?: string | number;
}

/** Listens on a unix socket and sets its mode and owner: the socket's permissions are the first gate. */
export async function listenOnSocket(server: Server, socket: SocketFile): Promise<void> {
  await clearStaleSocket(socket.path);
  await listen(server, (ready) => server.listen(socket.path, ready));
  try {
    chmodSync(socket.path, socket.mode);
    if (socket.owner !== undefined || socket.group !== undefined) {
      chownSync(
        socket.path,
        socket.owner === undefined ? -1 : idFromFile('/etc/passwd', socket.owner),
        socket.group === undefined ? -1 : idFromFile('/etc/group', socket.group),
      );
    }
  } catch (err) {
    server.close();
    const e = fromSystemError(err, socket.path);
    throw new CgfreezeError(e.code, `cannot set up ${socket.path}: ${e.message}`, {
      path: socket.path,
      ...(e.errno === undefined ? {} : { errno: e.errno }),
      ...(e.syscall === undefined ? {} : { syscall: e.syscall }),
      cause: err,
    });
  }
}

export async function listenOnPort(server: Server, address: { host: string; port: number }): Promise<AddressInfo> {
  await listen(server, (ready) => server.listen(address.port, address.host, ready));
  return server.address() as AddressInfo;
}

/** Stops accepting, closes idle keep-alive connections, and resolves once every request is answered. */
export function stopServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) {
      resolve();
      return;
    }
    server.close(() => resolve());
    server.closeIdleConnections();
  });
}
