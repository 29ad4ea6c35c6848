import type { MemoryUsage } from '../cgroup/resources.js';
import { CgfreezeError, describeValue } from '../errors.js';
import type { ContainerFilter, ContainerStatus, Engine, ListedContainer, MemoryCondition } from './types.js';

/**
 * The one grammar of container filters (docker's `--filter` text, and list()'s typed filter), and the
 * one place they are matched.
 */

const STATUSES: readonly ContainerStatus[] = ['running', 'paused'];

const FILTER_HELP =
  'use label=KEY, label=KEY=VALUE, status=running, status=paused, memory<SIZE, memory>SIZE, memory<PERCENT% or memory>PERCENT%';

/** Binary multiples, as docker's `--memory` takes them: `k`, `kb` and `kib` all mean 1024. */
const UNITS: Record<string, number> = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40, p: 2 ** 50 };

/** `key` (present with any value) or `key=value`, as docker's `--filter label=` takes them. */
export function labelsMatch(labels: Record<string, string>, selectors: readonly string[]): boolean {
  return selectors.every((selector) => {
    const eq = selector.indexOf('=');
    const key = eq < 0 ? selector : selector.slice(0, eq);
    return Object.prototype.hasOwnProperty.call(labels, key) && (eq < 0 || labels[key] === selector.slice(eq + 1));
  });
}

function invalid(message: string): CgfreezeError {
  return new CgfreezeError('ERR_INVALID_ARG', message);
}

/** A size as docker writes it: `512MiB`, `512m`, `1.5GiB`, `1g`, `4096` (bytes). Undefined when it is not one. */
export function parseSize(text: string): number | undefined {
  const m = /^(\d{1,15}(?:\.\d{1,6})?) ?([kmgtp]?)(i?b)?$/i.exec(text.trim());
  if (m === null || (m[2] === '' && m[3]?.toLowerCase() === 'ib')) return undefined;
  return Math.floor(Number(m[1]) * (UNITS[(m[2] ?? '').toLowerCase()] ?? 1));
}

/** `memory<80%`, `memory>512MiB`: the part after `memory`. */
function parseMemoryCondition(text: string, rest: string): MemoryCondition {
  const op = rest.charAt(0);
  const value = rest.slice(1).trim();
  if ((op !== '<' && op !== '>') || value.startsWith('=')) {
    throw invalid(`unsupported filter ${JSON.stringify(text)}: memory compares with < or >; ${FILTER_HELP}`);
  }
  if (value.endsWith('%')) {
    const percent = /^\d{1,3}(?:\.\d{1,6})?$/.test(value.slice(0, -1)) ? Number(value.slice(0, -1)) : NaN;
    if (!(percent >= 0 && percent <= 100)) {
      throw invalid(`invalid memory share in filter ${JSON.stringify(text)}: use a percentage from 0% to 100%`);
    }
    return { op, percent };
  }
  const bytes = parseSize(value);
  if (bytes === undefined) {
    throw invalid(
      `invalid memory size in filter ${JSON.stringify(text)}: use e.g. 512MiB, 2GiB, 512m or a number of bytes`,
    );
  }
  return { op, bytes };
}

/**
 * Docker-style filter strings (`label=tier=web`, `status=paused`, `memory<80%`, `memory>512MiB`) as a
 * typed filter for list(). Throws ERR_INVALID_ARG naming the string it cannot read.
 */
export function parseContainerFilter(texts: readonly string[]): ContainerFilter {
  const label: string[] = [];
  const status: ContainerStatus[] = [];
  const memory: MemoryCondition[] = [];
  for (const text of texts) {
    if (text.startsWith('memory') && (text.charAt(6) === '<' || text.charAt(6) === '>' || text.charAt(6) === ' ')) {
      memory.push(parseMemoryCondition(text, text.slice(6).trimStart()));
      continue;
    }
    const eq = text.indexOf('=');
    const key = eq < 0 ? text : text.slice(0, eq);
    const value = eq < 0 ? '' : text.slice(eq + 1);
    if (key === 'label' && value !== '') label.push(value);
    else if (key === 'status' && STATUSES.includes(value as ContainerStatus)) status.push(value as ContainerStatus);
    else if (key === 'status') {
      throw invalid(`unsupported status in filter ${JSON.stringify(text)}; use status=running or status=paused`);
    } else throw invalid(`unsupported filter ${JSON.stringify(text)}; ${FILTER_HELP}`);
  }
  return {
    ...(label.length > 0 ? { label } : {}),
    ...(status.length > 0 ? { status } : {}),
    ...(memory.length > 0 ? { memory } : {}),
  };
}

function list<T>(value: T | T[] | undefined): T[] {
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}

function checkCondition(c: unknown): MemoryCondition {
  const { op, bytes, percent } = (typeof c === 'object' && c !== null ? c : {}) as Record<string, unknown>;
  const okBytes = typeof bytes === 'number' && bytes >= 0 && percent === undefined;
  const okPercent = typeof percent === 'number' && percent >= 0 && percent <= 100 && bytes === undefined;
  if ((op !== '<' && op !== '>') || !(okBytes || okPercent)) {
    throw invalid(
      `a memory filter is { op: '<' | '>', bytes } or { op: '<' | '>', percent } (0-100), got ${describeValue(c)}`,
    );
  }
  return c as MemoryCondition;
}

function memoryMatches(memory: MemoryUsage | undefined, c: MemoryCondition): boolean {
  if (memory === undefined) return false;
  let value: number;
  let bound: number;
  if ('percent' in c) {
    if (memory.limitBytes === null || memory.limitBytes === 0) return false;
    value = (memory.usageBytes / memory.limitBytes) * 100;
    bound = c.percent;
  } else {
    value = memory.usageBytes;
    bound = c.bytes;
  }
  return c.op === '<' ? value < bound : value > bound;
}

/** Paused: its cgroup is frozen or freezing (by cgfreeze, its engine or an ancestor), or its engine paused it. */
function statusOf(c: ListedContainer): ContainerStatus | undefined {
  if (!c.running) return undefined;
  return c.pausedByEngine || c.freezer === 'frozen' || c.freezer === 'freezing' ? 'paused' : 'running';
}

/** A filter checked once and split where list() can apply it: before reading a container's cgroup, and after. */
export interface CompiledFilter {
  /** On what the engine's state says (engine, labels): decides before the cgroup is read. */
  before(engine: Engine, labels: Record<string, string>): boolean;
  /** On what the kernel says (running, freezer state, memory). */
  after(c: ListedContainer): boolean;
}

/** Checks a typed filter (ERR_INVALID_ARG for a bad one) and returns its matcher. */
export function compileFilter(filter: ContainerFilter | undefined): CompiledFilter {
  if (filter !== undefined && (typeof filter !== 'object' || filter === null || Array.isArray(filter)))
    throw invalid(`filter must be an object, got ${describeValue(filter)}`);
  const labels = list(filter?.label);
  if (labels.some((l) => typeof l !== 'string')) throw invalid('filter.label takes strings: KEY or KEY=VALUE');
  const statuses = list(filter?.status);
  for (const s of statuses) {
    if (!STATUSES.includes(s)) throw invalid(`filter.status takes 'running' or 'paused', got ${describeValue(s)}`);
  }
  const memory = list(filter?.memory).map(checkCondition);
  const engine = filter?.engine;
  const running = filter?.running;
  return {
    before: (e, l) => (engine === undefined || e === engine) && labelsMatch(l, labels),
    after(c) {
      if (running !== undefined && c.running !== running) return false;
      if (statuses.length > 0 && !statuses.includes(statusOf(c) as ContainerStatus)) return false;
      return memory.every((m) => memoryMatches(c.memory, m));
    },
  };
}
