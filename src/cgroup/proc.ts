import { readFileSync } from 'node:fs';

/** The fields cgfreeze uses of /proc/<pid>/stat (proc(5)). */
export interface ProcStat {
  pid: number;
  /** The command name between the parentheses (it may itself contain `)` and spaces). */
  comm: string;
  /** The state letter: `R`, `S`, `D`, `T`, … */
  state: string;
  ppid: number;
  /** Start time in clock ticks since boot: with the pid, it names one process for its lifetime. */
  startTime: number;
}

/**
 * Parses the text of /proc/<pid>/stat. The command name may contain anything, so the fields after it
 * are found from the last `)`. Undefined when the text is not a stat line.
 */
export function parseProcStat(text: string): ProcStat | undefined {
  const open = text.indexOf(' (');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  // Fields from 3 (state) on; field n is at index n - 3.
  const fields = text.slice(close + 2).split(' ');
  const pid = Number(text.slice(0, open));
  const ppid = Number(fields[1]);
  const startTime = Number(fields[19]);
  const state = fields[0] ?? '';
  if (!Number.isSafeInteger(pid) || !Number.isSafeInteger(ppid) || !Number.isSafeInteger(startTime) || state === '') {
    return undefined;
  }
  return { pid, comm: text.slice(open + 2, close), state, ppid, startTime };
}

/** /proc/<pid>/stat of a process, undefined once it is gone (or unreadable). */
export function readProcStat(pid: number | 'self', procRoot = '/proc'): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`${procRoot}/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  return parseProcStat(text);
}
