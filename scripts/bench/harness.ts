/** Shared pieces of the benchmark: options, the progress line, interleaved method rounds, scratch cases. */
import { keepWarm } from '../../src/freezer/keep-warm.js';
import {
  type Method,
  type MethodRun,
  type Sample,
  type Subject,
  cgfreezePromise,
  cgfreezeSync,
  naiveNode,
  rawC,
} from './methods.js';
import { type CaseResult, methodResult } from './report.js';
import { type Mode, ScratchWorkload } from './workload.js';

export interface Options {
  quick: boolean;
  cycles: number;
  containerCycles: number;
  tasks: number[];
  modes: Mode[];
  only: Set<string>;
  methods: Set<string> | undefined;
  out: string;
  labs: string[];
  /** Containers per call in the batch case. */
  batch: number[];
  rounds: number;
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

/**
 * Runs methods against one subject in interleaved rounds (rotating order) and
 * merges each method's samples.
 */
export async function interleave(
  title: string,
  subject: Subject,
  methods: readonly Method[],
  cycles: number,
  rounds: number,
): Promise<Array<{ method: Method; samples: Sample[]; cpuPerCycleNs: number }>> {
  const acc = methods.map((method) => ({ method, samples: [] as Sample[], cpu: 0, failures: 0 }));
  const per = Math.max(1, Math.ceil(cycles / rounds));
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < acc.length; k++) {
      const a = acc[(k + r) % acc.length]!;
      progress.set(`${title} · ${a.method.label} · round ${r + 1}/${rounds}`);
      const run: MethodRun = await a.method.run(subject, per);
      a.samples.push(...run.samples);
      a.cpu += run.cpuPerCycleNs * run.samples.length;
      a.failures += run.failures ?? 0;
    }
  }
  return acc.map((a) => ({
    method: a.failures === 0 ? a.method : { ...a.method, label: `${a.method.label} (${a.failures} failed)` },
    samples: a.samples,
    cpuPerCycleNs: a.cpu / a.samples.length,
  }));
}

export function pick(methods: readonly Method[], opts: Options): Method[] {
  return opts.methods === undefined ? [...methods] : methods.filter((m) => opts.methods?.has(m.id));
}

export function warmLabel(m: Method): Method {
  return { ...m, label: `${m.label} + keepWarm` };
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
          methods: cold.map((r) => methodResult(r.method.id, r.method.label, r.samples, r.cpuPerCycleNs)),
        });
        if (mode === 'v1') {
          const warm = keepWarm();
          try {
            const hot = await interleave(
              `${title} · warm`,
              subject,
              pick([rawC, naiveNode, cgfreezeSync, cgfreezePromise], opts).map(warmLabel),
              cycles,
              opts.rounds,
            );
            cases.push({
              id: `scratch-${mode}-${tasks}-warm`,
              group: 'scratch',
              title: `${title} · keepWarm`,
              mode,
              size: tasks,
              warm: true,
              methods: hot.map((r) => methodResult(r.method.id, r.method.label, r.samples, r.cpuPerCycleNs)),
            });
          } finally {
            warm.release();
          }
        }
      } finally {
        await w.stop();
      }
    }
  }
}
