import { describe, expect, it } from 'vitest';
import type { RanAs } from '../../scripts/bench/methods.js';
import {
  type BenchReport,
  type CaseResult,
  engineTable,
  fullText,
  labelMisses,
  loadBound,
  methodResult,
  scratchTable,
  targetsTable,
} from '../../scripts/bench/report.js';

/** A method whose every cycle took `us` microseconds to freeze, thaw and resume. */
function method(id: string, label: string, us: number, ranAs: RanAs = {}, cycles = 10) {
  const sample = { freezeNs: us * 1e3, thawNs: us * 1e3, resumeNs: us * 1e3 };
  return methodResult({
    id,
    label,
    samples: Array.from({ length: cycles }, () => ({ ...sample })),
    cpuPerCycleNs: 1000,
    ranAs,
  });
}

function report(cases: CaseResult[]): BenchReport {
  return {
    tool: 'cgfreeze-bench',
    startedAt: 'now',
    finishedAt: 'later',
    options: {},
    machine: {},
    cases,
    stuck: [],
    notes: [],
    errors: [],
  };
}

const coldCase: CaseResult = {
  id: 'container-host',
  group: 'container',
  title: 'v1 (host lab) · busybox container',
  mode: 'v1',
  size: 1,
  warm: false,
  methods: [
    method('raw-c', 'raw C loop', 7000),
    method('cgfreeze-sync', 'cgfreeze freezeSync/thawSync', 7000),
    method('dockerode', 'Engine API via dockerode', 50_000),
  ],
};

/** The keepWarm case with raw C's and cgfreeze's count of samples that ran warm. */
function warmCase(rawWarm: number | undefined, syncWarm: number): CaseResult {
  return {
    id: 'container-host-warm',
    group: 'container',
    title: 'v1 (host lab) · busybox container · keepWarm',
    mode: 'v1',
    size: 1,
    warm: true,
    methods: [
      method('raw-c', 'raw C loop + keepWarm', 3680, rawWarm === undefined ? {} : { warmSamples: rawWarm }),
      method('cgfreeze-sync', 'cgfreeze freezeSync/thawSync + keepWarm', 65, { warmSamples: syncWarm }),
    ],
  };
}

const targetRows = (r: BenchReport): string[][] =>
  targetsTable(r)
    .split('\n')
    .slice(2)
    .map((line) => line.split(/ {2,}/));

describe('a baseline that did not run as labelled', () => {
  it('fails the comparison loudly instead of judging the ratio', () => {
    // The run of issue #13: raw C + keepWarm ran cold (3.68 ms against 65 µs) and was judged "≤ 1.25× yes".
    const r = report([coldCase, warmCase(3, 10)]);
    expect(labelMisses(r)).toEqual([
      'raw C loop + keepWarm in "v1 (host lab) · busybox container · keepWarm": 7 of 10 samples ran without ' +
        'the keepWarm cgroup frozen (cold)',
    ]);
    const warmRows = targetRows(r).filter((row) => row[1]?.endsWith('keepWarm'));
    expect(warmRows.map((row) => [row[0], row[4]])).toEqual([
      ['sync freeze p50 ÷ raw C', 'RUN FAILED: not as labelled'],
      ['sync resume p50 ÷ raw C', 'RUN FAILED: not as labelled'],
    ]);
    expect(targetsTable(r)).not.toMatch(/keepWarm +0\.02× +≤ 1\.25× +yes/);
    expect(scratchTable(r.cases)).toMatch(/cgfreeze freezeSync\/thawSync \+ keepWarm .* INVALID +INVALID$/m);
    const text = fullText(r);
    expect(text).toContain('RUN FAILED: 1 method(s) did not run as labelled');
    expect(text).toContain('7 of 10 samples ran without the keepWarm cgroup frozen');
  });

  it('voids every comparison against a method that ran cold, across cases', () => {
    // dockerode ÷ cgfreeze + keepWarm, where cgfreeze's keepWarm samples were partly cold.
    const r = report([coldCase, warmCase(10, 9)]);
    const row = targetRows(r).find((x) => x[0] === 'dockerode resume p50 ÷ cgfreeze sync + keepWarm');
    expect(row?.[4]).toBe('RUN FAILED: not as labelled');
    expect(engineTable(r.cases)).toMatch(/Engine API via dockerode .* 7\.14× +INVALID$/m);
  });

  it('fails a keepWarm method that never recorded whether it ran warm', () => {
    expect(labelMisses(report([warmCase(undefined, 10)]))).toEqual([
      'raw C loop + keepWarm in "v1 (host lab) · busybox container · keepWarm" did not record whether its ' +
        'samples ran warm',
    ]);
  });

  it('fails a keep-alive method that opened connections during its samples', () => {
    const c: CaseResult = {
      ...coldCase,
      methods: [...coldCase.methods, method('sidecar', 'sidecar (keep-alive)', 800, { newConnections: 2 })],
    };
    expect(labelMisses(report([c]))).toEqual([
      'sidecar (keep-alive) in "v1 (host lab) · busybox container": opened 2 connection(s) during its samples ' +
        '(labelled keep-alive)',
    ]);
  });

  it('judges the ratio when every sample ran as labelled', () => {
    const r = report([coldCase, warmCase(10, 10)]);
    expect(labelMisses(r)).toEqual([]);
    const warmRows = targetRows(r).filter((row) => row[1]?.endsWith('keepWarm'));
    expect(warmRows.map((row) => [row[0], row[2], row[4]])).toEqual([
      ['sync freeze p50 ÷ raw C', '0.02×', 'yes'],
      ['sync resume p50 ÷ raw C', '0.02×', 'yes'],
    ]);
    expect(fullText(r)).not.toContain('RUN FAILED');
  });
});

describe('a resume that waited for a CPU', () => {
  it('is named in a load caution, and fails nothing', () => {
    const busy = (waitUs: number) =>
      methodResult({
        id: 'raw-c',
        label: 'raw C loop',
        samples: Array.from({ length: 4 }, () => ({
          freezeNs: 50e3,
          thawNs: 30e3,
          resumeNs: 4000e3,
          cpuWaitNs: waitUs * 1e3,
        })),
        cpuPerCycleNs: 1000,
      });
    const c = (m: ReturnType<typeof busy>): CaseResult => ({ ...coldCase, methods: [m] });
    const loaded = report([c(busy(3900))]);
    expect(loadBound(loaded)).toEqual([
      'raw C loop in "v1 (host lab) · busybox container": 4 of 4 resumes spent over half their time waiting for a ' +
        'CPU (wait p50 3.90 ms, resume p50 4.00 ms)',
    ]);
    expect(labelMisses(loaded)).toEqual([]);
    expect(fullText(loaded)).toContain('Load: these resumes were mostly waiting for a CPU');
    expect(scratchTable(loaded.cases)).toMatch(/raw C loop .* 3\.90 ms +1\.00 µs/);
    expect(loadBound(report([c(busy(100))]))).toEqual([]);
    // A target that compares with it is still judged, and says whose figures they are.
    const sync = method('cgfreeze-sync', 'cgfreeze freezeSync/thawSync', 4000);
    const judged = targetRows(report([{ ...coldCase, methods: [busy(3900), sync] }]));
    expect(judged.find((row) => row[0] === 'sync resume p50 ÷ raw C')?.[4]).toBe('yes (load-bound: see Load)');
    const quiet = targetRows(report([{ ...coldCase, methods: [busy(100), sync] }]));
    expect(quiet.find((row) => row[0] === 'sync resume p50 ÷ raw C')?.[4]).toBe('yes');
  });
});
