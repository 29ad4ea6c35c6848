import { parseDuration } from '../client/protocol.js';
import { CgfreezeError } from '../errors.js';
import { isRecord } from '../json.js';

type Operation = 'pause' | 'unpause';

export interface ServiceLimits {
  /** Targets in one request (default 256). */
  targets: number;
  /** The freeze timeout when the caller gives none (default 10 s), and the most it may ask for (60 s). */
  freezeTimeoutMs: number;
  maxFreezeTimeoutMs: number;
  /** The longest lease (default 7 days). */
  maxTtlMs: number;
}

/** A pause or unpause body, checked. */
export interface OperationRequest {
  targets: string[];
  ttlMs?: number;
  ttl?: string;
  atomic: boolean;
  timeoutMs: number;
}

function invalid(message: string): CgfreezeError {
  return new CgfreezeError('ERR_INVALID_ARG', message);
}

function checkTargets(target: unknown, targets: unknown, limit: number): string[] {
  if (target !== undefined && targets !== undefined) throw invalid('give either "target" or "targets", not both');
  const list: unknown[] | undefined =
    typeof target === 'string' ? [target] : Array.isArray(targets) ? targets : undefined;
  if (list === undefined) throw invalid('the body needs "target" (a string) or "targets" (an array of strings)');
  if (list.length === 0) throw invalid('"targets" is empty');
  if (list.length > limit) throw invalid(`at most ${limit} targets per request`);
  if (!list.every((t): t is string => typeof t === 'string' && t !== '' && t.length <= 4096))
    throw invalid('every target must be a non-empty string of at most 4096 characters');
  return list;
}

/** A pause or unpause body from the wire, checked field by field; unknown fields are refused. */
export function checkOperationBody(raw: unknown, op: Operation, limits: ServiceLimits): OperationRequest {
  if (!isRecord(raw)) throw invalid('the body must be a JSON object');
  const known =
    op === 'pause' ? ['target', 'targets', 'ttl', 'atomic', 'timeoutMs'] : ['target', 'targets', 'timeoutMs'];
  for (const key of Object.keys(raw)) if (!known.includes(key)) throw invalid(`unknown field ${JSON.stringify(key)}`);
  const request: OperationRequest = {
    targets: checkTargets(raw.target, raw.targets, limits.targets),
    atomic: false,
    timeoutMs: limits.freezeTimeoutMs,
  };
  if (raw.ttl !== undefined) {
    const ttlMs = parseDuration(raw.ttl);
    if (ttlMs === undefined || ttlMs <= 0)
      throw invalid('"ttl" must be a positive duration such as 30s, 1m30s, 500ms or 1h');
    if (ttlMs > limits.maxTtlMs) throw invalid(`"ttl" may be at most ${limits.maxTtlMs} ms`);
    request.ttlMs = ttlMs;
    request.ttl = raw.ttl as string;
  }
  if (raw.atomic !== undefined) {
    if (typeof raw.atomic !== 'boolean') throw invalid('"atomic" must be a boolean');
    request.atomic = raw.atomic;
  }
  if (raw.timeoutMs !== undefined) {
    const t = raw.timeoutMs;
    if (typeof t !== 'number' || !Number.isInteger(t) || t < 1 || t > limits.maxFreezeTimeoutMs)
      throw invalid(`"timeoutMs" must be an integer from 1 to ${limits.maxFreezeTimeoutMs}`);
    request.timeoutMs = t;
  }
  return request;
}
