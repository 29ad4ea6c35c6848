/**
 * HTTP concerns of the sidecar, apart from what it does: status codes for error codes, JSON and text
 * replies, and reading a bounded request body.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type OperationResponse, toWireError } from '../client/protocol.js';
import { CgfreezeError } from '../errors.js';

/** HTTP status for a cgfreeze error code: 4xx for what the caller can fix, 5xx for the rest. */
export function statusFor(code: string): number {
  switch (code) {
    case 'ERR_INVALID_ARG':
    case 'ERR_NOT_A_CGROUP':
    case 'ERR_ROOT_CGROUP':
    case 'ERR_AMBIGUOUS_REF':
    case 'ERR_NO_DEDICATED_CGROUP':
      return 400;
    case 'ERR_UNAUTHENTICATED':
      return 401;
    case 'ERR_POLICY_DENIED':
    case 'ERR_SELF_FREEZE':
    case 'ERR_PROTECTED_CGROUP':
    case 'ERR_UNTRUSTED_SOURCE':
    case 'EACCES':
    case 'EPERM':
      return 403;
    case 'ERR_CONTAINER_NOT_FOUND':
    case 'ERR_CGROUP_GONE':
    case 'ENOENT':
      return 404;
    case 'ERR_FROZEN_BY_ANCESTOR':
    case 'ERR_CONTAINER_NOT_RUNNING':
    case 'ERR_CGROUP_MISMATCH':
    case 'ERR_ATOMIC_ROLLBACK':
    case 'ERR_PAUSED_BY_ENGINE':
      return 409;
    case 'ERR_BODY_TOO_LARGE':
      return 413;
    case 'ERR_BUSY':
    case 'ERR_CANCELED':
    case 'ABORT_ERR':
      return 503;
    case 'ERR_FREEZE_TIMEOUT':
      return 504;
    default:
      return 500;
  }
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body) + '\n';
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(text)),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(text);
}

export function sendText(res: ServerResponse, status: number, text: string, contentType: string): void {
  res.writeHead(status, {
    'content-type': contentType,
    'content-length': String(Buffer.byteLength(text)),
    'cache-control': 'no-store',
  });
  res.end(text);
}

/** Sends `{"error": ...}` with the status of its code; returns the status. */
export function sendError(res: ServerResponse, err: unknown, headers: Record<string, string> = {}): number {
  const wire = toWireError(err);
  const status = statusFor(wire.code);
  sendJson(res, status, { error: wire }, headers);
  return status;
}

/** One target: its outcome's status. Several: 200 when all went well, else the first failure's status. */
export function operationStatus(response: OperationResponse): number {
  const failure = response.results.find((r) => !r.ok);
  return failure === undefined || failure.ok ? 200 : statusFor(failure.error.code);
}

/**
 * Reads a JSON body of at most `limit` bytes. An oversize body is refused as
 * soon as its declared or received length passes the limit, without buffering it.
 */
export function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? NaN);
    if (declared > limit) {
      reject(
        new CgfreezeError('ERR_BODY_TOO_LARGE', `request body of ${declared} bytes exceeds the limit of ${limit}`),
      );
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > limit) {
        done = true;
        req.pause();
        reject(new CgfreezeError('ERR_BODY_TOO_LARGE', `request body exceeds the limit of ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    req.on('error', (err) => {
      if (!done) {
        done = true;
        reject(new CgfreezeError('ECONNRESET', `the request body did not arrive: ${err.message}`, { cause: err }));
      }
    });
    // A client that goes away mid-body must not hold a request slot forever.
    req.on('close', () => {
      if (!done) {
        done = true;
        reject(new CgfreezeError('ECONNRESET', 'the client closed the connection before sending the whole body'));
      }
    });
    req.on('end', () => {
      if (done) return;
      done = true;
      const text = Buffer.concat(chunks).toString('utf8');
      if (text.trim() === '') {
        reject(new CgfreezeError('ERR_INVALID_ARG', 'the request needs a JSON body'));
        return;
      }
      try {
        resolve(JSON.parse(text));
      } catch (err) {
        reject(new CgfreezeError('ERR_INVALID_ARG', `the body is not valid JSON: ${(err as Error).message}`));
      }
    });
  });
}
