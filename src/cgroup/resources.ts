import { readFileSync } from 'node:fs';
import { CgfreezeError } from '../errors.js';
import { entryForMount, parseProcCgroup } from './membership.js';
import { type CgroupMount, hierarchyPathToDir, isUnder } from './mountinfo.js';

/** A cgroup's memory, as its memory controller counts it. */
export interface MemoryUsage {
  /** Bytes charged to it, page cache included (v1 `memory.usage_in_bytes`, v2 `memory.current`). */
  usageBytes: number;
  /** Its own limit (v1 `memory.limit_in_bytes`, v2 `memory.max`); null when it has none. */
  limitBytes: number | null;
}

/** What a cgroup's tasks use, read from its controllers' files. A reading that cannot be made is absent. */
export interface ResourceUsage {
  /** Absent when no memory controller accounts this cgroup (memory is not enabled where it lives). */
  memory?: MemoryUsage;
  /** CPU time of every task it holds or held, in µs (v1 `cpuacct.usage`, v2 `cpu.stat` usage_usec). */
  cpuTimeUs?: number;
}

/** A cgroup to read: the directory the freezer uses, and where its tasks are in the other hierarchies. */
export interface AccountedCgroup {
  /** Host path of the cgroup directory (v1 freezer hierarchy or cgroup2). */
  dir: string;
  version: 1 | 2;
  /** Its path in its hierarchy, as /proc/<pid>/cgroup shows it. */
  hierarchyPath: string;
  /** The text of /proc/<pid>/cgroup of one of its tasks, to find it in v1 hierarchies of other controllers. */
  procCgroup?: string;
}

/**
 * v1 writes "no limit" as the largest page count times the page size (9223372036854771712 with 4 KiB
 * pages); no real limit comes near 2^62 bytes.
 */
const V1_UNLIMITED = 2 ** 62;

/**
 * The v1 directory of `controller` for a cgroup whose own hierarchy does not account it: the same path
 * in that controller's hierarchy (runc, crun and the kubelet use one path in every hierarchy), and only
 * when the kernel places the cgroup's task there. A container its engine left in its parent's memory
 * cgroup (a unified-mode runtime on a hybrid host) is not charged there, so nothing is read.
 */
function v1ControllerDir(
  cg: AccountedCgroup,
  controller: 'memory' | 'cpuacct',
  mounts: CgroupMount[],
): string | undefined {
  const mount = mounts.find((m) => m.version === 1 && m.controllers.includes(controller));
  if (mount === undefined || cg.procCgroup === undefined || cg.hierarchyPath === '/') return undefined;
  const taskPath = entryForMount(parseProcCgroup(cg.procCgroup), mount)?.path;
  if (taskPath === undefined || !isUnder(taskPath, cg.hierarchyPath)) return undefined;
  return hierarchyPathToDir(mount, cg.hierarchyPath);
}

/** A controller file's text; undefined when it cannot be read (the cgroup is gone, the file is not there). */
function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function unexpected(path: string, text: string): CgfreezeError {
  return new CgfreezeError('ERR_KERNEL_FORMAT', `unexpected content in ${path}: ${JSON.stringify(text.slice(0, 80))}`, {
    path,
  });
}

/** A whole number of bytes (or µs, ns) as the kernel writes it. */
export function parseCount(text: string, path: string): number {
  const value = text.trim();
  if (!/^\d{1,20}$/.test(value)) throw unexpected(path, text);
  return Number(value);
}

/** The value of `key` in a flat-keyed file (`usage_usec 1234` lines of cpu.stat). */
export function parseKeyed(text: string, key: string, path: string): number {
  for (const line of text.split('\n')) {
    const space = line.indexOf(' ');
    if (space > 0 && line.slice(0, space) === key) return parseCount(line.slice(space + 1), path);
  }
  throw unexpected(path, text);
}

/** v2 `memory.max`: `max` or bytes; v1 `memory.limit_in_bytes`: bytes, near 2^63 for none. */
export function parseLimit(text: string, path: string): number | null {
  if (text.trim() === 'max') return null;
  const bytes = parseCount(text, path);
  return bytes >= V1_UNLIMITED ? null : bytes;
}

function readMemory(dir: string, version: 1 | 2, root: string): MemoryUsage | undefined {
  const [usageFile, limitFile] =
    version === 2 ? ['memory.current', 'memory.max'] : ['memory.usage_in_bytes', 'memory.limit_in_bytes'];
  const usage = readText(`${root}${dir}/${usageFile}`);
  const limit = readText(`${root}${dir}/${limitFile}`);
  if (usage === undefined || limit === undefined) return undefined;
  return {
    usageBytes: parseCount(usage, `${dir}/${usageFile}`),
    limitBytes: parseLimit(limit, `${dir}/${limitFile}`),
  };
}

function readCpuTimeUs(dir: string, version: 1 | 2, root: string): number | undefined {
  if (version === 2) {
    const text = readText(`${root}${dir}/cpu.stat`);
    return text === undefined ? undefined : parseKeyed(text, 'usage_usec', `${dir}/cpu.stat`);
  }
  const text = readText(`${root}${dir}/cpuacct.usage`);
  return text === undefined ? undefined : Math.round(parseCount(text, `${dir}/cpuacct.usage`) / 1000);
}

/**
 * Memory use and limit and CPU time of a cgroup, read with node:fs: from its own directory when its
 * hierarchy accounts them (cgroup2 with the controller enabled), else from the v1 hierarchy of the
 * controller (hybrid hosts). `mounts` are the host's cgroup mounts, `root` prefixes every path read (a
 * hostRoot). Throws ERR_KERNEL_FORMAT only for a file whose content is not what the kernel writes; a
 * reading whose files cannot be read is left out.
 */
export function readResourceUsage(cg: AccountedCgroup, mounts: CgroupMount[], root = ''): ResourceUsage {
  const read = <T>(
    controller: 'memory' | 'cpuacct',
    reader: (dir: string, version: 1 | 2, root: string) => T | undefined,
  ): T | undefined => {
    const own = cg.version === 2 ? reader(cg.dir, 2, root) : undefined;
    if (own !== undefined) return own;
    const dir = v1ControllerDir(cg, controller, mounts);
    return dir === undefined ? undefined : reader(dir, 1, root);
  };
  const memory = read('memory', readMemory);
  const cpuTimeUs = read('cpuacct', readCpuTimeUs);
  return { ...(memory === undefined ? {} : { memory }), ...(cpuTimeUs === undefined ? {} : { cpuTimeUs }) };
}
