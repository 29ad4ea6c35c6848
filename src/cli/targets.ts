import type { Target } from '../index.js';
import { type Parsed, stringList, usageError } from './args.js';

/** One thing to act on, with the text that names it in output (the reference as typed). */
export interface Selection {
  label: string;
  target: Target;
}

/**
 * Positional references (container references, or cgroup directories when they
 * look like `/a/b`) followed by every `--cgroup PATH`, in command-line order.
 */
export function explicitSelections(command: string, args: Parsed): Selection[] {
  const fromRefs = args.positionals.map((ref): Selection => ({ label: ref, target: ref }));
  const fromPaths = stringList(args.values, 'cgroup').map((path): Selection => {
    if (!path.startsWith('/')) throw usageError(command, `--cgroup needs an absolute cgroup directory, such as /sys/fs/cgroup/unified/${path}`);
    return { label: path, target: { cgroup: path } };
  });
  return [...fromRefs, ...fromPaths];
}

export function requireSome(command: string, selections: Selection[], what = 'CONTAINER'): void {
  if (selections.length === 0) {
    throw usageError(command, `'cgfreeze ${command}' requires at least 1 ${what} argument, a --cgroup PATH or a --filter`);
  }
}
