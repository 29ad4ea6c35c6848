import { statSync } from 'node:fs';
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
  type K8sIdentity,
  type Resolved,
  type ResolvedCgroup,
  type ResolveOptions,
  assertNotProtected,
  cgroupOwnerSync,
  freeze,
  isCgroupPath,
  labelsMatch,
  listSync,
  resolveSync,
  state,
  thaw,
} from '../index.js';
import { DEFAULTS } from './defaults.js';
import { Holds } from './holds.js';
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

/**
 * A lease thaw that finds its cgroup gone has nothing left to do; one that finds the cgroup no longer
 * held by this sidecar (made again, thawed by someone else, paused by its engine) must not touch it.
 */
const LEASE_ENDED_CODES: ReadonlySet<string> = new Set([
  'ERR_CGROUP_GONE',
  'ENOENT',
  'ERR_NOT_A_CGROUP',
  'ERR_CGROUP_MISMATCH',
  'ERR_NOT_PAUSED',
  'ERR_PAUSED_BY_ENGINE',
]);

/** A thaw of a target the caller unpaused that finds it gone: its lease goes with it. */
const GONE_CODES: ReadonlySet<string> = new Set(['ERR_CGROUP_GONE', 'ENOENT', 'ERR_NOT_A_CGROUP']);

/** Resolved cgroup paths kept for repeated requests (each is checked by one stat before use). */
const PATH_CACHE_LIMIT = 1_024;

type Operation = 'pause' | 'unpause';

/** One target of a request on its way through: its resolution, or why it got no further. */
type Step = { target: string; resolved: Resolved } | { target: string; error: CgfreezeError };

/** Each todo's outcome, in the order of the todos. */
type Outcomes = Array<FreezeResult | CgfreezeError>;

/** A container or a leased cgroup as the list sees it, before it is described on the wire. */
interface Listed extends PolicySubject {
  target: string;
  id?: string;
  state: WireContainer['state'] | undefined;
}

/** Who owns the leases a caller makes: its uid on the unix socket; every token holder on TCP is one. */
function leaseOwner(caller: Caller): string {
  return caller.via === 'unix' ? `uid:${caller.uid}` : 'tcp';
}

/**
 * What the sidecar does, without HTTP: every request goes policy → resolution → guard → lock → lease
 * owner → freeze → lease → audit. It decides on what it resolved and acts on exactly that: the freezer
 * gets the resolve() result itself, so a cgroup recreated meanwhile is refused (ERR_CGROUP_MISMATCH)
 * and a container its engine paused is not thawed (ERR_PAUSED_BY_ENGINE), also when it is named by
 * its cgroup path.
 */
export class SidecarService {
  /** Counters and histograms of what it did; the HTTP side adds its own. */
  readonly metrics = new Metrics();
  private readonly lock = new KeyedLock();
  private readonly store: LeaseStore;
  private readonly holds: Holds;
  private readonly audit: AuditLog;
  private readonly policy: Policy;
  private readonly resolveOptions: ResolveOptions;
  private readonly hostRoot: { hostRoot?: string };
  private readonly limits: ServiceLimits;
  private readonly log: (line: string) => void;
  private readonly startedAt = Date.now();
  private readonly paths = new Map<string, ResolvedCgroup>();
  /** hostRoot without its trailing slash: what a host path is read under. */
  private readonly rootPrefix: string;

  private constructor(options: ServiceOptions) {
    this.log = options.log ?? ((line) => process.stderr.write(line + '\n'));
    this.audit = new AuditLog({ stderr: true, ...options.audit, warn: this.log });
    this.policy = options.policy ?? DEFAULT_POLICY;
    this.resolveOptions = options.resolve ?? {};
    const { hostRoot } = this.resolveOptions;
    this.hostRoot = hostRoot === undefined ? {} : { hostRoot };
    this.limits = { ...SERVICE_LIMITS, ...options.limits };
    this.rootPrefix = hostRoot === undefined ? '' : hostRoot.replace(/\/+$/, '');
    this.holds = new Holds(this.rootPrefix, (dir) => this.lock.busy(dir), this.log);
    this.store = new LeaseStore(
      options.leaseFile,
      (r) => {
        this.release(r, 'expired').catch((err: unknown) => this.log(`cgfreeze serve: lease expiry: ${inspect(err)}`));
      },
      this.log,
    );
  }

  /** Loads the leases of a previous run and thaws those that expired while it was down. */
  static async start(options: ServiceOptions): Promise<SidecarService> {
    const service = new SidecarService(options);
    const { store } = service;
    for (const r of store.load()) service.holdAgain(r);
    // A crash must never leave a container frozen forever.
    await Promise.all(store.expired().map((r) => service.release(r, 'expired')));
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
    if (!mayAct(this.policy, caller, 'list')) throw this.deny(caller, 'list', [{ target: null }]);
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

  /** Stops lease expiry; `thaw` first thaws every target this sidecar still holds frozen. */
  async close(opts: { thaw?: boolean } = {}): Promise<void> {
    if (opts.thaw === true) await Promise.all(this.store.all().map((r) => this.release(r, 'shutdown')));
    this.store.close();
    this.holds.close();
    await this.audit.close();
  }

  /**
   * Policy, then resolution: a caller with no rule for the action at all is refused before anything is
   * resolved; then one target the caller may not touch refuses the whole request. A target that does not
   * resolve is that target's failure.
   */
  private authorize(caller: Caller, action: Exclude<Action, 'unpause-any'>, targets: string[]): Step[] {
    const { policy } = this;
    if (!mayAct(policy, caller, action))
      throw this.deny(
        caller,
        action,
        targets.map((target) => ({ target })),
      );
    const steps = targets.map((target): Step => {
      try {
        return {
          target,
          resolved: isCgroupPath(target) ? this.resolvePath(target) : resolveSync(target, this.resolveOptions),
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
        refused.map((s) => ({ target: s.target })),
      );
    return steps;
  }

  /**
   * A cgroup path, resolved once and kept: a kept one is used while its directory is still the same
   * (one stat instead of reading the mount table and the path again); one made again is resolved anew.
   */
  private resolvePath(path: string): ResolvedCgroup {
    const kept = this.paths.get(path);
    if (kept !== undefined) {
      const now = statSync(this.rootPrefix + kept.cgroupDir, { throwIfNoEntry: false });
      if (now !== undefined && `${now.dev}:${now.ino}` === kept.cgroupIdentity) return kept;
      this.paths.delete(path);
    }
    const resolved = resolveSync({ cgroup: path }, this.resolveOptions);
    if (this.paths.size >= PATH_CACHE_LIMIT) this.paths.delete(this.paths.keys().next().value as string);
    this.paths.set(path, resolved);
    return resolved;
  }

  private async operate(caller: Caller, op: Operation, body: unknown): Promise<OperationResponse> {
    const request = checkOperationBody(body, op, this.limits);
    let steps = this.authorize(caller, op, request.targets);
    // The guard: never freeze the host itself (see assertNotProtected).
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
    const finish = (done: Outcomes, owners: Array<string | undefined>): OperationResponse => {
      const results = steps.map((s): WireResult => {
        const i = 'resolved' in s ? todo.indexOf(s.resolved) : -1;
        return this.settle(caller, op, request, s, i < 0 ? undefined : done[i], owners[i]);
      });
      return { ok: results.every((r) => r.ok), results };
    };
    if (todo.length === 0) return finish([], []);
    // Audited (in finish) while the targets are still locked, so the log's order is the order the kernel saw.
    return this.lock.run(
      todo.map((r) => r.cgroupDir),
      async () => {
        // Checked under the lock: a lease made meanwhile by another caller counts.
        const owners = this.checkLeaseOwners(caller, op, steps, todo);
        return finish(
          op === 'pause' ? await this.freezeHeld(caller, todo, request) : await this.thawHeld(todo, request),
          owners,
        );
      },
    );
  }

  /**
   * A lease belongs to its owner: another caller may renew, shorten or lift it only with a rule that
   * grants it `unpause-any` on that target; else the whole request is refused. Returns each todo's
   * lease owner before the request, for the audit lines.
   */
  private checkLeaseOwners(caller: Caller, op: Operation, steps: Step[], todo: Resolved[]): Array<string | undefined> {
    const mine = leaseOwner(caller);
    const owners = todo.map((r) => this.store.get(r.cgroupDir)?.owner);
    const foreign = steps.flatMap((s) => {
      if (!('resolved' in s)) return [];
      const owner = owners[todo.indexOf(s.resolved)];
      return owner === undefined || owner === mine || allows(this.policy, caller, 'unpause-any', s.resolved)
        ? []
        : [{ target: s.target, leaseOwner: owner }];
    });
    if (foreign.length > 0) throw this.deny(caller, op, foreign);
    return owners;
  }

  /** Freezes under the lock, with the lease on file first: a crash between the two still thaws it. */
  private async freezeHeld(caller: Caller, todo: Resolved[], request: OperationRequest): Promise<Outcomes> {
    const now = Date.now();
    const owner = leaseOwner(caller);
    const previous = todo.map((r) => this.store.get(r.cgroupDir));
    try {
      todo.forEach((r, i) =>
        this.store.put({
          cgroupDir: r.cgroupDir,
          target: r.ref,
          expiresAt: request.ttlMs === undefined ? null : now + request.ttlMs,
          owner,
          createdAt: previous[i]?.createdAt ?? now,
          identity: r.cgroupIdentity,
        }),
      );
    } catch (err) {
      // The leases could not be recorded: nothing is frozen.
      this.restoreLeases(todo, previous);
      const error = fromSystemError(err);
      return todo.map(() => error);
    }
    const results = await outcomes(todo, () =>
      todo.length === 1 && !request.atomic
        ? freeze(todo[0] as Resolved, { ...this.hostRoot, timeoutMs: request.timeoutMs })
        : freeze(todo, { ...this.hostRoot, timeoutMs: request.timeoutMs, ...(request.atomic ? { atomic: true } : {}) }),
    );
    // A failed freeze leaves no lease behind (or the one it would have renewed).
    const failed = todo.filter((_, i) => results[i] instanceof CgfreezeError);
    this.restoreLeases(
      failed,
      failed.map((r) => previous[todo.indexOf(r)]),
    );
    todo.forEach((r, i) => {
      if (!(results[i] instanceof CgfreezeError)) this.holds.hold(r.cgroupDir, r.cgroupVersion);
    });
    return results;
  }

  private restoreLeases(todo: Resolved[], previous: Array<LeaseRecord | undefined>): void {
    for (const [i, r] of todo.entries()) {
      const before = previous[i];
      try {
        if (before === undefined) this.store.delete(r.cgroupDir);
        else this.store.put(before);
      } catch (err) {
        this.log(`cgfreeze serve: cannot restore the lease of ${r.cgroupDir}: ${(err as Error).message}`);
      }
    }
  }

  /**
   * Thaws under the lock. A cgroup path that is some container's cgroup is thawed as that container,
   * so the library refuses one its engine paused (ERR_PAUSED_BY_ENGINE), as it does for references.
   */
  private async thawHeld(todo: Resolved[], request: OperationRequest): Promise<Outcomes> {
    const owned = todo.map((r) => (r.kind === 'cgroup' ? (cgroupOwnerSync(r.cgroupDir, this.resolveOptions) ?? r) : r));
    const results = await outcomes(owned, () =>
      owned.length === 1
        ? thaw(owned[0] as Resolved, { ...this.hostRoot, timeoutMs: request.timeoutMs })
        : thaw(owned, { ...this.hostRoot, timeoutMs: request.timeoutMs }),
    );
    for (const [i, r] of todo.entries()) {
      const result = results[i];
      if (!(result instanceof CgfreezeError) || GONE_CODES.has(result.code)) this.dropLease(r.cgroupDir);
    }
    return results;
  }

  private dropLease(cgroupDir: string): void {
    this.holds.release(cgroupDir);
    this.store.delete(cgroupDir);
  }

  /** One target's result on the wire, counted and audited. */
  private settle(
    caller: Caller,
    op: Operation,
    request: OperationRequest,
    step: Step,
    done: FreezeResult | CgfreezeError | undefined,
    owner: string | undefined,
  ): WireResult {
    const { metrics } = this;
    const outcome = 'error' in step ? step.error : (done ?? noResolution(step.target));
    const resolved = 'resolved' in step ? step.resolved : undefined;
    const extra = {
      ...(op === 'pause' && request.ttl !== undefined ? { ttl: request.ttl } : {}),
      ...(owner === undefined ? {} : { leaseOwner: owner }),
    };
    if (outcome instanceof CgfreezeError) {
      metrics.operation(op, outcome.code);
      if (outcome.code === 'ERR_INTERNAL') this.logBug(outcome);
      this.record({ ...this.failureRecord(caller, op, step.target, resolved, outcome), ...extra });
      return { target: step.target, ok: false, error: toWireError(outcome) };
    }
    metrics.operation(op, undefined);
    if (op === 'pause') metrics.observeFreeze(outcome.elapsedMs);
    else metrics.observeResume(outcome.elapsedMs);
    this.record({ ...successRecord(caller, op, step.target, outcome), ...extra });
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

  /** A lease loaded from the file: watched again, if its cgroup is still the one it froze. */
  private holdAgain(r: LeaseRecord): void {
    try {
      const resolved = this.resolvePath(r.cgroupDir);
      if (r.identity === undefined || resolved.cgroupIdentity === r.identity)
        this.holds.hold(r.cgroupDir, resolved.cgroupVersion);
    } catch {
      // Gone: its expiry finds out and drops it.
    }
  }

  /**
   * Thaws one cgroup of a lease, for lease expiry, start-up and shutdown, only if this sidecar still
   * holds it: the same directory it froze (not one made again under its path), still frozen by its own
   * request and not thawed by someone else since (cgroup v2 tells), and not paused by its engine since.
   * Otherwise the cgroup is left as it is and the lease ends.
   */
  private async thawLease(r: LeaseRecord): Promise<FreezeResult | CgfreezeError> {
    const left = (code: 'ERR_CGROUP_MISMATCH' | 'ERR_NOT_PAUSED', why: string): CgfreezeError =>
      new CgfreezeError(code, `${r.cgroupDir} ${why} since this sidecar froze it; left as it is`, { target: r.target });
    try {
      const resolved = this.resolvePath(r.cgroupDir);
      if (r.identity !== undefined && resolved.cgroupIdentity !== r.identity)
        return left('ERR_CGROUP_MISMATCH', 'was removed and made again');
      if (this.holds.lostHold(r.cgroupDir) || !state(resolved, this.hostRoot).self)
        return left('ERR_NOT_PAUSED', 'was thawed by someone else');
      const target = cgroupOwnerSync(r.cgroupDir, this.resolveOptions) ?? resolved;
      return await thaw(target, { ...this.hostRoot, timeoutMs: this.limits.freezeTimeoutMs });
    } catch (err) {
      return fromSystemError(err, r.target);
    }
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
      const outcome = await this.thawLease(current);
      const who = { via: 'sidecar', pid: process.pid } as const;
      const { metrics } = this;
      const extra = { reason, leaseOwner: current.owner };
      if (outcome instanceof CgfreezeError) {
        metrics.operation('expire', outcome.code);
        this.record({
          ...this.failureRecord(who, 'unpause', current.target, undefined, outcome),
          cgroupDir: current.cgroupDir,
          ...extra,
        });
      } else {
        metrics.operation('expire', undefined);
        metrics.observeResume(outcome.elapsedMs);
        this.record({ ...successRecord(who, 'unpause', current.target, outcome), ...extra });
      }
      if (!(outcome instanceof CgfreezeError) || LEASE_ENDED_CODES.has(outcome.code)) {
        this.dropLease(current.cgroupDir);
      } else if (reason === 'expired') {
        current.expiresAt = Date.now() + EXPIRY_RETRY_MS;
        this.store.arm();
      }
    });
  }

  /** Counts and audits a refusal by the policy, and returns the error to answer with. */
  private deny(
    caller: Caller,
    action: Exclude<Action, 'unpause-any'>,
    refused: Array<{ target: string | null; leaseOwner?: string }>,
  ): CgfreezeError {
    this.metrics.deny(action);
    const named = refused.flatMap((r) => (r.target === null ? [] : [r.target]));
    const owners = [...new Set(refused.flatMap((r) => (r.leaseOwner === undefined ? [] : [r.leaseOwner])))];
    const error = new CgfreezeError(
      'ERR_POLICY_DENIED',
      `${describeCaller(caller)} may not ${action}${named.length === 0 ? '' : ` ${named.join(', ')}`}` +
        (owners.length === 0 ? '' : `: the lease is ${owners.join(', ')}'s, and no rule grants unpause-any`),
      named.length === 1 ? { target: named[0] as string } : {},
    );
    for (const { target, leaseOwner: owner } of refused) {
      this.record({
        who: caller,
        action,
        target,
        cgroupDir: null,
        version: null,
        result: 'denied',
        error: { code: error.code, message: error.message },
        latencyMs: null,
        ...(owner === undefined ? {} : { leaseOwner: owner }),
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
  r: {
    cgroupDir: string;
    labels: Record<string, string>;
    id?: string;
    engine?: string;
    name?: string;
    k8s?: K8sIdentity;
  },
): Omit<Listed, 'state'> {
  const k8s = r.k8s;
  return {
    target,
    cgroupDir: r.cgroupDir,
    labels: r.labels,
    ...(r.id !== undefined ? { id: r.id } : {}),
    ...(r.engine !== undefined ? { engine: r.engine } : {}),
    ...(r.name !== undefined ? { name: r.name } : {}),
    ...(k8s !== undefined
      ? {
          k8s: {
            namespace: k8s.namespace,
            pod: k8s.pod,
            ...(k8s.container !== undefined ? { container: k8s.container } : {}),
          },
        }
      : {}),
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
 * Each target's outcome of a freeze or thaw, in the order of `targets`: of one target, or of a group. An
 * atomic freeze that rolled back throws once; each target gets its own part of that story.
 */
async function outcomes(targets: Resolved[], run: () => Promise<FreezeResult | GroupResult>): Promise<Outcomes> {
  try {
    const done = await run();
    if (!('results' in done)) return [done];
    return targets.map((r, i) => {
      const item = done.results[i];
      if (item === undefined) return noResolution(r.ref);
      return item.ok ? item.result : item.error;
    });
  } catch (err) {
    const error = fromSystemError(err);
    return targets.map((r) => error.failures?.find((f) => f.target === r.ref)?.error ?? error);
  }
}
