/** Shared pieces of the benchmark: errors, the progress line, interleaved method rounds, keepWarm, scratch cases. */
import { inspect } from 'node:util';
import { keepWarm } from '../../src/freezer/keep-warm.js';
import {
  type Method,
  type MethodRun,
  type RanAs,
  type Sample,
  type Subject,
  cgfreezePromise,
  cgfreezeSync,
  naiveNode,
  rawC,
} from './methods.js';
import { type CaseResult, type MethodResult, methodResult } from './report.js';
import type { Options } from './options.js';
import { ScratchWorkload, WarmAnchor } from './workload.js';

/** The error with its cause chain, so a failure inside cgfreeze shows where it started. */
export function describeError(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err, depth = 0; e !== undefined && depth < 4; depth++) {
    parts.push(e instanceof Error ? (e.stack ?? e.message) : inspect(e));
    e = e instanceof Error ? e.cause : undefined;
  }
  return parts.join('\ncaused by: ');
}

/** One progress line, rewritten in place on a terminal. */
export const progress = {
  last: '',
  set(text: string): void {
    if (process.stderr.isTTY) process.stderr.write(`\r\x1b[K${text}`);
    else if (text !== this.last) process.stderr.write(`${text}\n`);
    this.last = text;
  },
  done(): void {
    if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
  },
};

/** Adds a round's count to the total; a method reports a count in every round or in none. */
const addUp = (total: number | undefined, round: number | undefined): number | undefined =>
  round === undefined ? total : (total ?? 0) + round;

/** One method's rounds so far. */
interface Tally {
  method: Method;
  samples: Sample[];
  /** Caller CPU summed over the samples, and the daemon's where measured (ns). */
  cpu: number;
  daemonCpu: number | undefined;
  floor: number[];
  failures: number;
  ranAs: RanAs;
}

/**
 * Runs methods against one subject in interleaved rounds (rotating order) and
 * merges each method's samples, and how they ran, into its result.
 */
export async function interleave(
  title: string,
  subject: Subject,
  methods: readonly Method[],
  cycles: number,
  rounds: number,
): Promise<MethodResult[]> {
  const acc = methods.map((method): Tally => ({
    method,
    samples: [],
    cpu: 0,
    daemonCpu: undefined,
    floor: [],
    failures: 0,
    ranAs: {},
  }));
  const per = Math.max(1, Math.ceil(cycles / rounds));
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < acc.length; k++) {
      const a = acc[(k + r) % acc.length]!;
      progress.set(`${title} · ${a.method.label} · round ${r + 1}/${rounds}`);
      const run: MethodRun = await a.method.run(subject, per);
      a.samples.push(...run.samples);
      a.cpu += run.cpuPerCycleNs * run.samples.length;
      a.failures += run.failures ?? 0;
      a.daemonCpu = addUp(a.daemonCpu, run.daemonCpuNs);
      a.floor.push(...(run.floorNs ?? []));
      const warmSamples = addUp(a.ranAs.warmSamples, run.warmSamples);
      const newConnections = addUp(a.ranAs.newConnections, run.newConnections);
      a.ranAs = {
        ...(warmSamples === undefined ? {} : { warmSamples }),
        ...(newConnections === undefined ? {} : { newConnections }),
      };
    }
  }
  return acc.map((a) =>
    methodResult({
      id: a.method.id,
      label: a.method.label,
      samples: a.samples,
      cpuPerCycleNs: a.cpu / a.samples.length,
      ...(a.daemonCpu === undefined ? {} : { daemonCpuPerCycleNs: a.daemonCpu / a.samples.length }),
      ...(a.floor.length === 0 ? {} : { floorNs: a.floor }),
      failures: a.failures,
      ranAs: a.ranAs,
    }),
  );
}

export function pick(methods: readonly Method[], opts: Options): Method[] {
  return opts.methods === undefined ? [...methods] : methods.filter((m) => opts.methods?.has(m.id));
}

export function warmLabel(m: Method): Method {
  return { ...m, label: `${m.label} + keepWarm` };
}

/**
 * Runs `measure` while this process holds keepWarm, on the subject with the
 * held cgroup as its warm anchor, so every sample records whether it ran warm.
 */
export async function whileWarm<T>(subject: Subject, measure: (warm: Subject) => Promise<T>): Promise<T> {
  const warm = keepWarm();
  try {
    if (warm.cgroupDir === undefined) throw new Error('keepWarm held nothing: this machine has no v1 freezer');
    const anchor = new WarmAnchor(warm.cgroupDir);
    try {
      return await measure({ ...subject, warmAnchor: anchor });
    } finally {
      anchor.close();
    }
  } finally {
    warm.release();
  }
}

export async function scratchCases(opts: Options, cases: CaseResult[]): Promise<void> {
  for (const mode of opts.modes) {
    for (const tasks of opts.tasks) {
      const title = `${mode} · ${tasks} task${tasks === 1 ? '' : 's'}`;
      progress.set(`${title} · starting workload`);
      const w = await ScratchWorkload.start(mode, tasks);
      try {
        const subject: Subject = { mode, cgroupDir: w.dir, counter: w.counter };
        // Fewer cycles where one cycle costs milliseconds.
        const cycles = tasks >= 1000 ? Math.ceil(opts.cycles / 3) : opts.cycles;
        const cold = await interleave(
          title,
          subject,
          pick([rawC, naiveNode, cgfreezeSync, cgfreezePromise], opts),
          cycles,
          opts.rounds,
        );
        cases.push({
          id: `scratch-${mode}-${tasks}`,
          group: 'scratch',
          title,
          mode,
          size: tasks,
          warm: false,
          methods: cold,
        });
        if (mode === 'v1') {
          const hot = await whileWarm(subject, (warm) =>
            interleave(
              `${title} · warm`,
              warm,
              pick([rawC, naiveNode, cgfreezeSync, cgfreezePromise], opts).map(warmLabel),
              cycles,
              opts.rounds,
            ),
          );
          cases.push({
            id: `scratch-${mode}-${tasks}-warm`,
            group: 'scratch',
            title: `${title} · keepWarm`,
            mode,
            size: tasks,
            warm: true,
            methods: hot,
          });
        }
      } finally {
        await w.stop();
      }
    }
  }
}
