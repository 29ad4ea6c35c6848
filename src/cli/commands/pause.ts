import { CgfreezeError, fromSystemError } from '../../errors.js';
import { type CgroupStatus, type FreezeResult, freeze, type GroupItem, state, thaw } from '../../index.js';
import {
  durationOption,
  durationValue,
  filterOptionSpec,
  flag,
  formatMs,
  type OptionSpecs,
  type Parsed,
  usageError,
} from '../args.js';
import { type Command, type CommandContext, exitStatus } from '../command.js';
import { ENGINE_OPTIONS, hostRootOf, resolveOptionsOf } from '../engines.js';
import { noHealthCheck, waitHealthy } from '../health.js';
import { describeError, sentence } from '../messages.js';
import { selectTargets, type Selection } from '../targets.js';

type Action = 'pause' | 'unpause';

export type Outcome =
  | { label: string; ok: true; result: FreezeResult }
  | { label: string; ok: false; error: CgfreezeError; status?: CgroupStatus };

const COMMON_OPTIONS: OptionSpecs = {
  cgroup: { type: 'string', multiple: true, arg: 'PATH', help: 'A cgroup directory to act on (repeatable)' },
  filter: filterOptionSpec('Also act on every running container that matches'),
  timeout: { type: 'string', arg: 'DURATION', help: 'How long to wait for the kernel to settle (default 10s)' },
};

/** How the noun reads in docker-style messages. */
function noun(sel: Selection): string {
  return sel.container === undefined && sel.error === undefined ? `Cgroup ${sel.label}` : `Container ${sel.label}`;
}

/**
 * Docker refuses to pause a paused container and to unpause a running one;
 * the freezer itself would accept both silently. A container the engine
 * paused is left to the engine: thawing it behind Docker's back makes
 * `docker unpause` fail. Reads the state once.
 */
function precheck(action: Action, sel: Selection, hostRoot: { hostRoot?: string }): CgroupStatus {
  if (sel.error !== undefined) {
    // docker checks "paused" before "running": unpausing a stopped container says "is not paused".
    if (action === 'unpause' && sel.error.code === 'ERR_CONTAINER_NOT_RUNNING') {
      throw new CgfreezeError('ERR_NOT_PAUSED', `${noun(sel)} is not paused`, { target: sel.label, cause: sel.error });
    }
    throw sel.error;
  }
  const status = state(sel.target, hostRoot);
  const engine = sel.container;
  if (action === 'pause' && (status.self || engine?.pausedByEngine === true)) {
    throw new CgfreezeError('ERR_ALREADY_PAUSED', `${noun(sel)} is already paused`, { target: sel.label });
  }
  // A container its engine paused is refused by thaw itself (ERR_PAUSED_BY_ENGINE).
  if (action === 'unpause' && !status.self) {
    if (status.byAncestor) {
      throw new CgfreezeError('ERR_FROZEN_BY_ANCESTOR', `${sel.label} is frozen by an ancestor`, {
        target: sel.label,
        ...(status.ancestor === undefined ? {} : { ancestor: status.ancestor }),
      });
    }
    throw new CgfreezeError('ERR_NOT_PAUSED', `${noun(sel)} is not paused`, { target: sel.label });
  }
  return status;
}

interface ChangeOptions {
  atomic: boolean;
  timeoutMs?: number;
  hostRoot?: string;
  /** Set by the automatic unpause of `--for`, recorded in the audit line. */
  reason?: string;
  /** Skip the docker-style "already paused"/"not paused" refusal (the automatic unpause of `--for`). */
  skipPrecheck?: boolean;
}

/** Applies one action to every selection, each independently unless atomic; audits each outcome. */
export async function changeState(
  ctx: CommandContext,
  action: Action,
  selections: Selection[],
  opts: ChangeOptions,
): Promise<Outcome[]> {
  const audit = ctx.audit();
  const outcomes: Array<Outcome | undefined> = selections.map(() => undefined);
  const statuses: Array<CgroupStatus | undefined> = selections.map(() => undefined);
  selections.forEach((sel, i) => {
    if (opts.skipPrecheck === true) return;
    try {
      statuses[i] = precheck(action, sel, hostRootOpt(opts));
    } catch (err) {
      outcomes[i] = { label: sel.label, ok: false, error: fromSystemError(err, sel.label) };
    }
  });
  const runnable = selections.map((_, i) => i).filter((i) => outcomes[i] === undefined);
  if (opts.atomic && runnable.length < selections.length) {
    const failed = selections.filter((_, i) => outcomes[i] !== undefined).map((sel) => sel.label);
    for (const i of runnable) {
      outcomes[i] = {
        label: selections[i]?.label ?? '',
        ok: false,
        error: new CgfreezeError(
          'ERR_ATOMIC_ROLLBACK',
          `${sentence(action)} not attempted: --atomic, and ${failed.join(', ')} failed its check`,
        ),
      };
    }
  } else if (runnable.length > 0) {
    const targets = runnable.map((i) => selections[i] as Selection);
    const items = await (action === 'pause' ? pauseGroup : unpauseGroup)(targets, opts);
    items.forEach((o, k) => (outcomes[runnable[k] ?? -1] = o));
  }
  const done = outcomes.map(
    (o, i): Outcome =>
      o ?? { label: selections[i]?.label ?? '', ok: false, error: new CgfreezeError('ERR_CANCELED', 'no result') },
  );
  done.forEach((o, i) => {
    const status = statuses[i];
    audit.record({
      who: ctx.who,
      action,
      target: o.label,
      cgroupDir: o.ok ? o.result.cgroupDir : (status?.cgroupDir ?? null),
      version: o.ok ? o.result.version : (status?.version ?? null),
      result: o.ok ? 'ok' : 'error',
      ...(o.ok
        ? { state: o.result.state }
        : { error: { code: o.error.code, message: describeError(o.error, o.label) } }),
      latencyMs: o.ok ? o.result.elapsedMs : null,
      ...(opts.reason === undefined ? {} : { reason: opts.reason }),
    });
  });
  return done;
}

function groupOptions(opts: ChangeOptions): { timeoutMs?: number; hostRoot?: string } {
  return { ...timeoutOf(opts), ...hostRootOpt(opts) };
}

function outcomesOf(selections: Selection[], results: GroupItem[]): Outcome[] {
  return results.map((r, k) => {
    const label = selections[k]?.label ?? r.target;
    return r.ok ? { label, ok: true, result: r.result } : { label, ok: false, error: r.error };
  });
}

/** The library's freeze of a group; with --atomic its ERR_ATOMIC_ROLLBACK becomes each target's outcome. */
async function pauseGroup(selections: Selection[], opts: ChangeOptions): Promise<Outcome[]> {
  try {
    const group = await freeze(
      selections.map((s) => s.target),
      { atomic: opts.atomic, ...groupOptions(opts) },
    );
    return outcomesOf(selections, group.results);
  } catch (err) {
    if (!(err instanceof CgfreezeError) || err.code !== 'ERR_ATOMIC_ROLLBACK') throw err;
    const failures = new Map((err.failures ?? []).map((f) => [f.target, f.error]));
    const names = [...failures.keys()].join(', ');
    return selections.map((sel) => ({
      label: sel.label,
      ok: false,
      error:
        failures.get(sel.label) ??
        new CgfreezeError('ERR_ATOMIC_ROLLBACK', `Pause rolled back: --atomic, and ${names} failed`, {
          target: sel.label,
        }),
    }));
  }
}

/**
 * Thaws the group. With --atomic, a failure freezes every target again: each was paused by itself
 * before (the checks made sure), and a thaw that failed may have cleared that too (a child of a frozen
 * parent stays frozen, but no longer by itself). The targets it had thawed report ERR_ATOMIC_ROLLBACK,
 * or, if the freeze back failed, that error; the failed ones their own error.
 */
async function unpauseGroup(selections: Selection[], opts: ChangeOptions): Promise<Outcome[]> {
  const targets = selections.map((s) => s.target);
  const thawed = outcomesOf(selections, (await thaw(targets, groupOptions(opts))).results);
  if (!opts.atomic || thawed.every((o) => o.ok)) return thawed;
  const names = thawed.flatMap((o) => (o.ok ? [] : [o.label])).join(', ');
  const refrozen = await freeze(targets, groupOptions(opts));
  return thawed.map((o, i): Outcome => {
    const again = refrozen.results[i];
    if (!o.ok || again === undefined) return o;
    const error = again.ok
      ? new CgfreezeError('ERR_ATOMIC_ROLLBACK', `Unpause rolled back: --atomic, and ${names} failed; paused again`, {
          target: o.label,
        })
      : new CgfreezeError(
          again.error.code,
          `Unpaused, but not paused again after ${names} failed: ${again.error.message}`,
          {
            target: o.label,
            cause: again.error,
          },
        );
    return { label: o.label, ok: false, error };
  });
}

/** Docker's output: each success's reference on stdout, each failure as `Error: ...` on stderr. */
export function printOutcomes(ctx: CommandContext, outcomes: Outcome[], printSuccess = true): void {
  for (const o of outcomes) {
    if (o.ok) {
      if (printSuccess) ctx.out.out(o.label);
    } else ctx.out.failure(describeError(o.error, o.label), o.error);
  }
}

function failures(outcomes: Outcome[]): CgfreezeError[] {
  return outcomes.flatMap((o) => (o.ok ? [] : [o.error]));
}

export function outcomeJson(o: Outcome): unknown {
  return o.ok
    ? {
        target: o.label,
        ok: true,
        state: o.result.state,
        cgroupDir: o.result.cgroupDir,
        version: o.result.version,
        elapsedMs: o.result.elapsedMs,
      }
    : { target: o.label, ok: false, error: { code: o.error.code, message: describeError(o.error, o.label) } };
}

const HOLD_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * `pause --for`: hold the pause in the foreground, then unpause when the time
 * is up or at once on SIGINT, SIGTERM or SIGHUP. The handlers are installed
 * before the freeze, so a signal that arrives mid-freeze still leads to a thaw.
 */
async function pauseFor(
  ctx: CommandContext,
  selections: Selection[],
  holdMs: number,
  opts: ChangeOptions,
): Promise<number> {
  let wake: (reason: string) => void = () => undefined;
  const woken = new Promise<string>((resolve) => (wake = resolve));
  const handlers = HOLD_SIGNALS.map((sig) => {
    const handler = (): void => wake(sig);
    process.on(sig, handler);
    return [sig, handler] as const;
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    const paused = await changeState(ctx, 'pause', selections, opts);
    const held = paused.flatMap((o, i) => (o.ok ? [selections[i] as Selection] : []));
    if (!ctx.json) printOutcomes(ctx, paused);
    const started = performance.now();
    let reason = 'none';
    let unpaused: Outcome[] = [];
    if (held.length > 0) {
      ctx.out.note(
        `Paused ${held.map((s) => s.label).join(', ')} for ${formatMs(holdMs)}; press Ctrl-C to unpause now.`,
      );
      timer = setTimeout(() => wake('timer'), holdMs);
      reason = await woken;
      unpaused = await changeState(ctx, 'unpause', held, {
        atomic: false,
        reason,
        skipPrecheck: true,
        ...timeoutOf(opts),
        ...hostRootOpt(opts),
      });
      ctx.out.note(
        `Unpaused after ${formatMs(performance.now() - started)} (${reason === 'timer' ? 'time is up' : reason}).`,
      );
    }
    const failed = [...failures(paused), ...failures(unpaused)];
    if (ctx.json) {
      ctx.out.json({
        ok: failed.length === 0,
        reason,
        heldMs: Math.round(performance.now() - started),
        paused: paused.map(outcomeJson),
        unpaused: unpaused.map(outcomeJson),
      });
    } else printOutcomes(ctx, unpaused, false);
    return exitStatus(failed);
  } finally {
    if (timer !== undefined) clearTimeout(timer);
    for (const [sig, handler] of handlers) process.off(sig, handler);
  }
}

function timeoutOf(opts: ChangeOptions): { timeoutMs?: number } {
  return opts.timeoutMs === undefined ? {} : { timeoutMs: opts.timeoutMs };
}

function hostRootOpt(opts: ChangeOptions): { hostRoot?: string } {
  return opts.hostRoot === undefined ? {} : { hostRoot: opts.hostRoot };
}

function makeCommand(action: Action): Command {
  const options: OptionSpecs =
    action === 'pause'
      ? {
          ...COMMON_OPTIONS,
          atomic: { type: 'boolean', help: 'All or none: if any target fails, leave every target as it was' },
          for: {
            type: 'string',
            arg: 'DURATION',
            help: 'Stay in the foreground and unpause after DURATION (or on Ctrl-C/SIGTERM)',
          },
          ...ENGINE_OPTIONS,
        }
      : {
          ...COMMON_OPTIONS,
          atomic: {
            type: 'boolean',
            help: 'All or none: if any target fails, pause again those it unpaused',
          },
          'wait-healthy': {
            type: 'boolean',
            help: 'After the thaw, wait until Docker or Podman reports each container healthy (bounded by --timeout, default 60s)',
          },
          ...ENGINE_OPTIONS,
        };
  return {
    name: action,
    summary:
      action === 'pause'
        ? 'Pause all processes within one or more containers or cgroups'
        : 'Unpause all processes within one or more containers or cgroups',
    usage: `${action} [OPTIONS] CONTAINER [CONTAINER...]`,
    options,
    details:
      action === 'pause'
        ? 'Each target is handled on its own: its name is printed on success, an error line\non failure, and the exit status is 1 if any failed.\n\nExamples:\n  cgfreeze pause web db\n  cgfreeze pause --cgroup /sys/fs/cgroup/unified/batch\n  cgfreeze pause --for 30s web'
        : 'Examples:\n  cgfreeze unpause web db\n  cgfreeze unpause --cgroup /sys/fs/cgroup/unified/batch\n' +
          "  cgfreeze unpause --filter label=auto_resume=true --filter status=paused --filter 'memory<80%'",
    async run(ctx: CommandContext, args: Parsed): Promise<number> {
      // CGFREEZE_TIMEOUT sets the default, for scripts on hosts that are known to be slow.
      const timeoutMs =
        durationOption(action, args.values, 'timeout') ??
        durationValue(action, 'CGFREEZE_TIMEOUT', ctx.env['CGFREEZE_TIMEOUT']);
      const holdMs = action === 'pause' ? durationOption(action, args.values, 'for') : undefined;
      if (holdMs !== undefined && holdMs <= 0) throw usageError(action, '--for needs a positive duration');
      const ropts = resolveOptionsOf(action, args.values);
      const selections = selectTargets(action, args, ropts);
      const opts: ChangeOptions = {
        atomic: flag(args.values, 'atomic'),
        ...(timeoutMs === undefined ? {} : { timeoutMs }),
        ...hostRootOf(args.values),
      };
      if (holdMs !== undefined) return pauseFor(ctx, selections, holdMs, opts);
      let outcomes = await changeState(ctx, action, selections, opts);
      const health: Array<string | undefined> = outcomes.map(() => undefined);
      if (flag(args.values, 'wait-healthy')) {
        outcomes = await Promise.all(
          outcomes.map(async (o, i): Promise<Outcome> => {
            const container = selections[i]?.container;
            if (!o.ok) return o;
            if (container === undefined) {
              health[i] = 'none';
              return o;
            }
            try {
              const waited = await waitHealthy(o.label, container, ropts, timeoutMs ?? 60_000);
              health[i] = waited ? 'healthy' : 'none';
              if (!waited && !ctx.json) ctx.out.warn(`${o.label} ${noHealthCheck(container)}; not waiting`);
              return o;
            } catch (err) {
              return { label: o.label, ok: false, error: fromSystemError(err, o.label) };
            }
          }),
        );
      }
      if (ctx.json) {
        const results = outcomes.map((o, i) => ({
          ...(outcomeJson(o) as object),
          ...(health[i] === undefined ? {} : { health: health[i] }),
        }));
        ctx.out.json({ ok: outcomes.every((o) => o.ok), results });
      } else printOutcomes(ctx, outcomes);
      return exitStatus(failures(outcomes));
    },
  };
}

export const pauseCommand = makeCommand('pause');
export const unpauseCommand = makeCommand('unpause');
