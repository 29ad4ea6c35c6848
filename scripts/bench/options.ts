/**
 * The bench's options: one table that the parser and `--help` both read, so
 * an option cannot exist in one and not the other.
 */
import { join } from 'node:path';
import { inspect, parseArgs } from 'node:util';
import type { Mode } from './workload.js';

export const PARTS = ['scratch', 'containers', 'batch', 'stuck', 'resolve'] as const;
export const LABS = ['host', 'v2'] as const;
export const MODES = ['v1', 'v2'] as const;
/** Every method the bench can run; `--methods` keeps a subset. */
export const METHOD_IDS = [
  'raw-c',
  'node-naive',
  'cgfreeze-sync',
  'cgfreeze-promise',
  'cgfreeze-ref',
  'sidecar',
  'sidecar-ttl',
  'docker-cli',
  'dockerode',
  'ctr',
  'podman',
  'cgfreeze-group',
  'cgfreeze-group-sync',
] as const;
export type MethodId = (typeof METHOD_IDS)[number];

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
  /** Where the sidecar writes its V8 CPU profile (`node --cpu-prof`), if asked. */
  sidecarCpuProf: string | undefined;
}

interface OptionSpec {
  type: 'boolean' | 'string';
  /** The value's name in the help, e.g. `N`. */
  arg?: string;
  help: string;
}

const OPTIONS = {
  quick: { type: 'boolean', help: 'CI size: 40 cycles (containers 8), 1 and 100 tasks, batch 1,10, 2 rounds' },
  cycles: { type: 'string', arg: 'N', help: 'cycles per method and scratch case (default 1000)' },
  'container-cycles': {
    type: 'string',
    arg: 'N',
    help: 'cycles per engine method and container (default 100; cgfreeze, raw C and the sidecar run 10×)',
  },
  tasks: { type: 'string', arg: 'LIST', help: 'tasks per scratch cgroup (default 1,10,100,1000)' },
  modes: {
    type: 'string',
    arg: 'LIST',
    help: `hierarchies of the scratch and stuck cases: ${MODES.join(',')} (default both)`,
  },
  only: { type: 'string', arg: 'LIST', help: `parts to run: ${PARTS.join(',')} (default all)` },
  methods: { type: 'string', arg: 'LIST', help: 'method ids to keep (default all; listed below)' },
  labs: {
    type: 'string',
    arg: 'LIST',
    help: `labs (scripts/lab/lab.sh) for the containers and batch parts: ${LABS.join(',')} (default both)`,
  },
  batch: { type: 'string', arg: 'LIST', help: 'containers per call in the batch case (default 1,10,50)' },
  out: { type: 'string', arg: 'DIR', help: 'where results.{json,md} and the plots go (default bench-results/<time>)' },
  'sidecar-cpu-prof': {
    type: 'string',
    arg: 'DIR',
    help: "write the sidecar's V8 CPU profile (node --cpu-prof) to DIR when it stops",
  },
  help: { type: 'boolean', help: 'print this help and exit' },
} satisfies Record<string, OptionSpec>;

export function helpText(): string {
  const rows = Object.entries(OPTIONS).map(([name, spec]: [string, OptionSpec]) => [
    `  --${name}${spec.arg === undefined ? '' : ` ${spec.arg}`}`,
    spec.help,
  ]);
  const width = Math.max(...rows.map(([left]) => (left ?? '').length));
  return [
    'Usage: npm run bench [-- options]',
    '',
    'Pause and resume, side by side in one run: cgfreeze, a raw C loop on the same cgroup, the',
    'sidecar, and the engines (docker, dockerode, ctr, podman). Needs root. See docs/performance.md.',
    '',
    'Options:',
    ...rows.map(([left, help]) => `${(left ?? '').padEnd(width)}   ${help}`),
    '',
    ...wrap(`Methods: ${METHOD_IDS.join(', ')}`, 100),
    'LIST is comma-separated. Exit status: 0 done; 1 an error, or a method that did not run as',
    'labelled (e.g. a keepWarm sample that ran cold), so no comparison with it may be read; 2 bad options.',
    '',
  ].join('\n');
}

function wrap(text: string, columns: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > columns) {
      lines.push(line);
      line = ' ';
    }
    line = line === '' ? word : `${line} ${word}`;
  }
  return [...lines, line];
}

/** A bad command line: the message is for the terminal, the exit status 2. */
export class UsageError extends Error {}

function positive(name: string, text: string): number {
  if (!/^[1-9]\d*$/.test(text))
    throw new UsageError(`--${name} takes whole numbers from 1, got ${JSON.stringify(text)}`);
  return Number(text);
}

function list(name: string, text: string | undefined): string[] | undefined {
  if (text === undefined) return undefined;
  const items = text.split(',').filter((s) => s !== '');
  if (items.length === 0) throw new UsageError(`--${name} needs at least one value`);
  return items;
}

function oneOf<T extends string>(name: string, text: string | undefined, allowed: readonly T[]): T[] | undefined {
  const items = list(name, text);
  for (const item of items ?? [])
    if (!(allowed as readonly string[]).includes(item))
      throw new UsageError(`--${name}: unknown ${JSON.stringify(item)} (known: ${allowed.join(', ')})`);
  return items as T[] | undefined;
}

/** Parses the command line; `undefined` means `--help` was asked for. */
export function parseOptions(argv: readonly string[], now = new Date()): Options | undefined {
  const parse = () => parseArgs({ args: [...argv], options: OPTIONS, strict: true, allowPositionals: false });
  let values: ReturnType<typeof parse>['values'];
  try {
    ({ values } = parse());
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : inspect(err));
  }
  if (values.help === true) return undefined;
  const quick = values.quick === true;
  const number = (name: 'cycles' | 'container-cycles', dflt: number): number => {
    const text = values[name];
    return text === undefined ? dflt : positive(name, text);
  };
  const numbers = (name: 'tasks' | 'batch', dflt: number[]): number[] =>
    list(name, values[name])?.map((t) => positive(name, t)) ?? dflt;
  const methods = oneOf('methods', values.methods, METHOD_IDS);
  return {
    quick,
    cycles: number('cycles', quick ? 40 : 1000),
    containerCycles: number('container-cycles', quick ? 8 : 100),
    tasks: numbers('tasks', quick ? [1, 100] : [1, 10, 100, 1000]),
    modes: oneOf('modes', values.modes, MODES) ?? [...MODES],
    only: new Set(oneOf('only', values.only, PARTS) ?? PARTS),
    methods: methods === undefined ? undefined : new Set(methods),
    out: values.out ?? join('bench-results', now.toISOString().replace(/[:.]/g, '-')),
    labs: oneOf('labs', values.labs, LABS) ?? [...LABS],
    batch: numbers('batch', quick ? [1, 10] : [1, 10, 50]),
    rounds: quick ? 2 : 5,
    sidecarCpuProf: values['sidecar-cpu-prof'],
  };
}
