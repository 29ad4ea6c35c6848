import { inspect } from 'node:util';
import { AuditLog, type AuditRecord } from '../audit.js';
import {
  type HealthResponse,
  type ListFilter,
  type ListResponse,
  type OperationResponse,
  type StatusResponse,
  type WireContainer,
  type WireLease,
  type WireResult,
  toWireError,
} from '../client/protocol.js';
import { CgfreezeError, fromSystemError } from '../errors.js';
import {
  type FreezeResult,
  type GroupResult,
  type Resolved,
  type ResolveOptions,
  assertNotProtected,
  freeze,
  isCgroupPath,
  labelsMatch,
  listSync,
  resolveSync,
  state,
  thaw,
} from '../index.js';
import { DEFAULTS } from './defaults.js';
import { KeyedLock } from './keyed-lock.js';
import { type OperationRequest, type ServiceLimits, checkOperationBody } from './requests.js';
import { type LeaseRecord, LeaseStore } from './leases.js';
import { Metrics } from './metrics.js';
import {
  type Action,
  type Caller,
  DEFAULT_POLICY,
  type Policy,
  type PolicySubject,
  allows,
  describeCaller,
  globMatch,
  mayAct,
} from './policy.js';

const SERVICE_LIMITS: Readonly<ServiceLimits> = {
  targets: DEFAULTS.maxTargets,
  freezeTimeoutMs: DEFAULTS.freezeTimeoutMs,
  maxFreezeTimeoutMs: DEFAULTS.maxFreezeTimeoutMs,
  maxTtlMs: DEFAULTS.maxTtlMs,
};

export interface ServiceOptions {
  /** Default: only uid 0. */
  policy?: Policy;
  /** Where the engines keep their state, and `hostRoot`: where this process sees the host's files. */
  resolve?: ResolveOptions;
  /** Where leases persist across restarts; none: in memory only. */
  leaseFile?: string;
  /** The audit log (JSON Lines): to `file`, else to stderr; `syslog` also sends each line to syslog. */
  audit?: { file?: string; syslog?: boolean; syslogSocket?: string };
  limits?: Partial<ServiceLimits>;
  /** Lines for the operator; default stderr. */
  log?: (line: string) => void;
}

/** What the HTTP side is serving: requests in progress, and those of them waiting for a slot. */
export interface HttpLoad {
  inflight: number;
  queued: number;
}

/** How long to wait before retrying a lease thaw that failed. */
const EXPIRY_RETRY_MS = 1_000;

/** A thaw of a lease's cgroup that finds it gone has nothing left to do. */
const GONE_CODES: ReadonlySet<string> = new Set(['ERR_CGROUP_GONE', 'ENOENT', 'ERR_NOT_A_CGROUP']);

type Operation = 'pause' | 'unpause';

/** One target of a request on its way through: its resolution, or why it got no further. */
type Step = { target: string; resolved: Resolved } | { target: string; error: CgfreezeError };

/** A container or a leased cgroup as the list sees it, before it is described on the wire. */
interface Listed extends PolicySubject {
  target: string;
  id?: string;
  state: WireContainer['state'] | undefined;
}

/**
 * What the sidecar does, without HTTP: every request goes policy → resolution → guard → lock → freeze →
 * lease → audit. It decides on what it resolved and acts on exactly that: the freezer gets the resolve()
 * result itself, so a cgroup recreated meanwhile is refused (ERR_CGROUP_MISMATCH) and a container its
 * engine paused is not thawed (ERR_PAUSED_BY_ENGINE).
 */
export class SidecarService {
  /** Counters and histograms of what it did; the HTTP side adds its own. */
  readonly metrics = new Metrics();
  private readonly lock = new KeyedLock();
  private readonly store: LeaseStore;
  private readonly audit: AuditLog;
  private readonly policy: Policy;
  private readonly resolveOptions: ResolveOptions;
  private readonly hostRoot: { hostRoot?: string };
  private readonly limits: ServiceLimits;
  private readonly log: (line: string) => void;
  private readonly startedAt = Date.now();

  private constructor(options: ServiceOptions) {
    this.log = options.log ?? ((line) => process.stderr.write(line + '\n'));
    this.audit = new AuditLog({ stderr: true, ...options.audit, warn: this.log });
    this.policy = options.policy ?? DEFAULT_POLICY;
    this.resolveOptions = options.resolve ?? {};
    const { hostRoot } = this.resolveOptions;
    this.hostRoot = hostRoot === undefined ? {} : { hostRoot };
    this.limits = { ...SERVICE_LIMITS, ...options.limits };
    this.store = new LeaseStore(options.leaseFile, (r) => {
      this.release(r, 'expired').catch((err: unknown) => this.log(`cgfreeze serve: lease expiry: ${inspect(err)}`));
    });
  }

  /** Loads the leases of a previous run and thaws those that expired while it was down. */
  static async start(options: ServiceOptions): Promise<SidecarService> {
    const service = new SidecarService(options);
    const { store } = service;
    store.load();
    // A crash must never leave a container frozen forever.
    await Promise.all(store.expired().map((r) => service.release(r, 'expired')));
    await store.persist();
    store.arm();
    return service;
  }

  /** `body` is a PauseBody from the wire, checked here. */
  pause(caller: Caller, body: unknown): Promise<OperationResponse> {
    return this.operate(caller, 'pause', body);
  }

  /** `body` is an UnpauseBody from the wire, checked here. */
  unpause(caller: Caller, body: unknown): Promise<OperationResponse> {
    return this.operate(caller, 'unpause', body);
  }

  status(caller: Caller, target: string): StatusResponse {
    const step = this.authorize(caller, 'status', [target])[0] as Step;
    if ('error' in step) throw step.error;
    const s = state(step.resolved, this.hostRoot);
    return {
      ...this.describe(subjectOf(target, step.resolved), s.state),
      version: s.version,
      self: s.self,
      byAncestor: s.byAncestor,
      ...(s.ancestor !== undefined ? { ancestor: s.ancestor } : {}),
    };
  }

  /** What the engines run, plus bare cgroups this sidecar holds frozen, as far as the caller may list them. */
  list(caller: Caller, filter: ListFilter): ListResponse {
    if (!mayAct(this.policy, caller, 'list')) throw this.deny(caller, 'list', [null]);
    const known: Listed[] = listSync(this.resolveOptions).flatMap(({ cgroupDir, ...c }) =>
      c.running && cgroupDir !== undefined
        ? [{ ...subjectOf(c.name ?? c.id, { ...c, cgroupDir }), state: c.freezer }]
        : [],
    );
    const dirs = new Set(known.map((k) => k.cgroupDir));
    for (const r of this.store.all())
      if (!dirs.has(r.cgroupDir))
        known.push({ target: r.target, cgroupDir: r.cgroupDir, labels: {}, state: undefined });
    const items = known
      .filter((item) => allows(this.policy, caller, 'list', item))
      .filter((item) => filter.name === undefined || globMatch(filter.name, item.name ?? item.cgroupDir))
      .filter((item) => filter.engine === undefined || item.engine === filter.engine)
      .filter((item) => labelsMatch(item.labels, filter.label ?? []))
      .filter((item) => filter.leased === undefined || (this.store.get(item.cgroupDir) !== undefined) === filter.leased)
      .map((item) => this.describe(item, item.state ?? this.freezerState(item.cgroupDir)))
      .filter((item) => filter.state === undefined || item.state === filter.state);
    return { items };
  }

  health(): HealthResponse {
    return { ok: true, uptimeMs: Date.now() - this.startedAt, leases: this.store.size };
  }

  /** The Prometheus text, with the HTTP side's requests being served and waiting for a slot. */
  metricsText(load: HttpLoad): string {
    return this.metrics.render({
      frozen: this.store.size,
      leases: this.store.all().filter((r) => r.expiresAt !== null).length,
      ...load,
      startTimeSeconds: Math.floor(this.startedAt / 1000),
    });
  }

  leases(): LeaseRecord[] {
    return this.store.all();
  }

  /** Opens the audit log file again, after a rotation moved it away. */
  reopenAuditLog(): void {
    this.audit.reopen();
  }

  /** A request that showed no valid credentials, refused before it reached the service. */
  auditUnauthenticated(address: string, action: AuditRecord['action'], error: CgfreezeError): void {
    this.record({
      who: { via: 'tcp', address },
      action,
      target: null,
      cgroupDir: null,
      version: null,
      result: 'denied',
      error: { code: error.code, message: error.message },
      latencyMs: null,
    });
  }

  /** Stops lease expiry; `thaw` first thaws every target this sidecar holds frozen. */
  async close(opts: { thaw?: boolean } = {}): Promise<void> {
    if (opts.thaw === true) await Promise.all(this.store.all().map((r) => this.release(r, 'shutdown')));
    this.store.close();
    await this.store.persist();
    await this.audit.close();
  }

  /**
   * Policy, then resolution: a caller with no rule for the action at all is refused before anything is
   * resolved; then one target the caller may not touch refuses the whole request. A target that does not
   * resolve is that target's failure.
   */
  private authorize(caller: Caller, action: Action, targets: string[]): Step[] {
    const { policy } = this;
    if (!mayAct(policy, caller, action)) throw this.deny(caller, action, targets);
    const steps = targets.map((target): Step => {
      try {
        return {
          target,
          resolved: resolveSync(isCgroupPath(target) ? { cgroup: target } : target, this.resolveOptions),
        };
      } catch (err) {
        return { target, error: fromSystemError(err, target) };
      }
    });
    const refused = steps.filter((s) => 'resolved' in s && !allows(policy, caller, action, s.resolved));
    if (refused.length > 0)
      throw this.deny(
        caller,
        action,
        refused.map((s) => s.target),
      );
    return steps;
  }

  private async operate(caller: Caller, op: Operation, body: unknown): Promise<OperationResponse> {
    const request = checkOperationBody(body, op, this.limits);
    let steps = this.authorize(caller, op, request.targets);
    // The guard: never freeze what holds PID 1, this sidecar or a host engine.
    if (op === 'pause') steps = steps.map((s) => ('error' in s ? s : guarded(s, this.hostRoot)));
    if (op === 'pause' && request.atomic && steps.some((s) => 'error' in s)) {
      // All or nothing, and something already failed: nothing is frozen at all.
      steps = steps.map((s) =>
        'error' in s
          ? s
          : {
              target: s.target,
              error: new CgfreezeError(
                'ERR_ATOMIC_ROLLBACK',
                'not paused: another target of this atomic request failed',
                {
                  target: s.target,
                },
              ),
            },
      );
    }
    const todo = steps.flatMap((s) => ('resolved' in s ? [s.resolved] : []));
    const dirs = todo.map((r) => r.cgroupDir);
    const finish = (done: Map<Resolved, FreezeResult | CgfreezeError>): OperationResponse => {
      const results = steps.map((s): WireResult => this.settle(caller, op, request, s, done));
      return { ok: results.every((r) => r.ok), results };
    };
    if (todo.length === 0) return finish(new Map());
    // Audited (in finish) while the targets are still locked, so the log's order is the order the kernel saw.
    return this.lock.run(dirs, async () =>
      finish(op === 'pause' ? await this.freezeHeld(caller, todo, request) : await this.thawHeld(todo, request)),
    );
  }

  /** Freezes under the lock, with the lease written ahead: a crash between the two still thaws. */
  private async freezeHeld(
    caller: Caller,
    todo: Resolved[],
    request: OperationRequest,
  ): Promise<Map<Resolved, FreezeResult | CgfreezeError>> {
    // A pause without TTL is recorded in the background: if a crash loses it, the target stays frozen,
    // which is what that pause asked for.
    const durable = request.ttlMs !== undefined;
    const now = Date.now();
    const owner = caller.via === 'unix' ? `uid:${caller.uid}` : 'tcp';
    const previous = new Map(todo.map((r) => [r.cgroupDir, this.store.get(r.cgroupDir)]));
    await Promise.all(
      todo.map((r) =>
        this.store.put(
          {
            cgroupDir: r.cgroupDir,
            target: r.ref,
            expiresAt: request.ttlMs === undefined ? null : now + request.ttlMs,
            owner,
            createdAt: previous.get(r.cgroupDir)?.createdAt ?? now,
          },
          durable,
        ),
      ),
    );
    const results = await outcomes(todo, () =>
      freeze(todo, { ...this.hostRoot, timeoutMs: request.timeoutMs, ...(request.atomic ? { atomic: true } : {}) }),
    );
    // A failed freeze leaves no lease behind (or the one it would have renewed).
    for (const r of todo) {
      if (!(results.get(r) instanceof CgfreezeError)) continue;
      const before = previous.get(r.cgroupDir);
      if (before === undefined) await this.store.delete(r.cgroupDir, false);
      else await this.store.put(before, false);
    }
    return results;
  }

  private async thawHeld(
    todo: Resolved[],
    request: OperationRequest,
  ): Promise<Map<Resolved, FreezeResult | CgfreezeError>> {
    const results = await outcomes(todo, () => thaw(todo, { ...this.hostRoot, timeoutMs: request.timeoutMs }));
    for (const r of todo) {
      const result = results.get(r);
      if (!(result instanceof CgfreezeError) || GONE_CODES.has(result.code))
        await this.store.delete(r.cgroupDir, false);
    }
    return results;
  }

  /** One target's result on the wire, counted and audited. */
  private settle(
    caller: Caller,
    op: Operation,
    request: OperationRequest,
    step: Step,
    done: Map<Resolved, FreezeResult | CgfreezeError>,
  ): WireResult {
    const { metrics } = this;
    const outcome = 'error' in step ? step.error : (done.get(step.resolved) ?? noResolution(step.target));
    const resolved = 'resolved' in step ? step.resolved : undefined;
    const ttl = op === 'pause' && request.ttl !== undefined ? { ttl: request.ttl } : {};
    if (outcome instanceof CgfreezeError) {
      metrics.operation(op, outcome.code);
      if (outcome.code === 'ERR_INTERNAL') this.logBug(outcome);
      this.record({ ...this.failureRecord(caller, op, step.target, resolved, outcome), ...ttl });
      return { target: step.target, ok: false, error: toWireError(outcome) };
    }
    metrics.operation(op, undefined);
    if (op === 'pause') metrics.observeFreeze(outcome.elapsedMs);
    else metrics.observeResume(outcome.elapsedMs);
    this.record({ ...successRecord(caller, op, step.target, outcome), ...ttl });
    const { cgroupDir, version, state: s, elapsedMs } = outcome;
    return { target: step.target, ok: true, cgroupDir, version, state: s, elapsedMs, lease: this.leaseOf(cgroupDir) };
  }

  private failureRecord(
    who: AuditRecord['who'],
    action: Operation,
    target: string,
    resolved: Resolved | undefined,
    error: CgfreezeError,
  ): Omit<AuditRecord, 'time'> {
    return {
      who,
      action,
      target,
      cgroupDir: resolved?.cgroupDir ?? null,
      version: resolved?.cgroupVersion ?? null,
      result: 'error',
      error: { code: error.code, message: error.message },
      latencyMs: null,
    };
  }

  /** Thaws one cgroup this sidecar holds; for lease expiry, start-up and shutdown. */
  private async release(r: LeaseRecord, reason: 'expired' | 'shutdown'): Promise<void> {
    await this.lock.run([r.cgroupDir], async () => {
      const current = this.store.get(r.cgroupDir);
      // Renewed or unpaused meanwhile.
      if (
        current === undefined ||
        (reason === 'expired' && (current.expiresAt === null || current.expiresAt > Date.now()))
      )
        return;
      let outcome: FreezeResult | CgfreezeError;
      try {
        outcome = await thaw({ cgroup: r.cgroupDir }, { ...this.hostRoot, timeoutMs: this.limits.freezeTimeoutMs });
      } catch (err) {
        outcome = fromSystemError(err, r.target);
      }
      const who = { via: 'sidecar', pid: process.pid } as const;
      const { metrics } = this;
      if (outcome instanceof CgfreezeError) {
        metrics.operation('expire', outcome.code);
        this.record({
          ...this.failureRecord(who, 'unpause', r.target, undefined, outcome),
          cgroupDir: r.cgroupDir,
          reason,
        });
      } else {
        metrics.operation('expire', undefined);
        metrics.observeResume(outcome.elapsedMs);
        this.record({ ...successRecord(who, 'unpause', r.target, outcome), reason });
      }
      if (!(outcome instanceof CgfreezeError) || GONE_CODES.has(outcome.code)) {
        // Not waited for: a crash before the write only means one redundant thaw at the next start.
        await this.store.delete(r.cgroupDir, false);
      } else if (reason === 'expired') {
        current.expiresAt = Date.now() + EXPIRY_RETRY_MS;
        this.store.arm();
      }
    });
  }

  /** Counts and audits a refusal by the policy, and returns the error to answer with. */
  private deny(caller: Caller, action: Action, targets: Array<string | null>): CgfreezeError {
    this.metrics.deny(action);
    const named = targets.filter((t): t is string => t !== null);
    const error = new CgfreezeError(
      'ERR_POLICY_DENIED',
      `${describeCaller(caller)} may not ${action}${named.length === 0 ? '' : ` ${named.join(', ')}`}`,
      named.length === 1 ? { target: named[0] as string } : {},
    );
    for (const target of targets) {
      this.record({
        who: caller,
        action,
        target,
        cgroupDir: null,
        version: null,
        result: 'denied',
        error: { code: error.code, message: error.message },
        latencyMs: null,
      });
    }
    return error;
  }

  /** A bug: the caller gets ERR_INTERNAL without details, the operator the stack. */
  private logBug(error: CgfreezeError): void {
    this.log(`cgfreeze serve: ${inspect(error)}`);
  }

  private record(entry: Omit<AuditRecord, 'time'>): void {
    try {
      this.audit.record(entry);
    } catch (err) {
      this.log(`cgfreeze serve: audit log write failed: ${(err as Error).message}`);
    }
  }

  private leaseOf(dir: string): WireLease | null {
    const r = this.store.get(dir);
    return r === undefined
      ? null
      : { expiresAt: r.expiresAt === null ? null : new Date(r.expiresAt).toISOString(), owner: r.owner };
  }

  /** The freezer state of a cgroup no engine lists (a leased bare cgroup); `thawed` once unreadable. */
  private freezerState(dir: string): WireContainer['state'] {
    try {
      return state({ cgroup: dir }, this.hostRoot).state;
    } catch {
      return 'thawed';
    }
  }

  private describe(item: Omit<Listed, 'state'>, s: WireContainer['state']): WireContainer {
    return {
      target: item.target,
      cgroupDir: item.cgroupDir,
      ...(item.id !== undefined ? { id: item.id } : {}),
      ...(item.name !== undefined ? { name: item.name } : {}),
      ...(item.engine !== undefined ? { engine: item.engine } : {}),
      labels: item.labels,
      state: s,
      lease: this.leaseOf(item.cgroupDir),
    };
  }
}

function noResolution(target: string): CgfreezeError {
  return new CgfreezeError('ERR_INTERNAL', `internal error in cgfreeze serve: no result for ${target}`, { target });
}

function guarded(step: { target: string; resolved: Resolved }, hostRoot: { hostRoot?: string }): Step {
  try {
    assertNotProtected(step.resolved, hostRoot);
    return step;
  } catch (err) {
    return { target: step.target, error: fromSystemError(err, step.target) };
  }
}

/** What a policy rule matches, and what status and list describe: of a resolve() or list() result. */
function subjectOf(
  target: string,
  r: { cgroupDir: string; labels: Record<string, string>; id?: string; engine?: string; name?: string },
): Omit<Listed, 'state'> {
  return {
    target,
    cgroupDir: r.cgroupDir,
    labels: r.labels,
    ...(r.id !== undefined ? { id: r.id } : {}),
    ...(r.engine !== undefined ? { engine: r.engine } : {}),
    ...(r.name !== undefined ? { name: r.name } : {}),
  };
}

function successRecord(
  who: AuditRecord['who'],
  action: Operation,
  target: string,
  result: FreezeResult,
): Omit<AuditRecord, 'time'> {
  return {
    who,
    action,
    target,
    cgroupDir: result.cgroupDir,
    version: result.version,
    result: 'ok',
    state: result.state,
    latencyMs: result.elapsedMs,
  };
}

/**
 * Each target's result of a group freeze or thaw. An atomic freeze that rolled back throws once; each
 * target gets its own part of that story.
 */
async function outcomes(
  targets: Resolved[],
  run: () => Promise<GroupResult>,
): Promise<Map<Resolved, FreezeResult | CgfreezeError>> {
  const out = new Map<Resolved, FreezeResult | CgfreezeError>();
  try {
    const group = await run();
    group.results.forEach((item, i) => {
      const r = targets[i];
      if (r !== undefined) out.set(r, item.ok ? item.result : item.error);
    });
  } catch (err) {
    const error = fromSystemError(err);
    for (const r of targets) out.set(r, error.failures?.find((f) => f.target === r.ref)?.error ?? error);
  }
  return out;
}
