import type { CgfreezeError } from '../errors.js';

/**
 * The one-line text after `Error: ` for a failed target, worded like docker's
 * where docker has an equivalent, and saying what to do where it has none.
 * `label` is the reference as the user typed it.
 */
export function describeError(e: CgfreezeError, label?: string): string {
  const name = label ?? e.target ?? '';
  return sentence(words(e, name), name);
}

/**
 * One casing for every message: a sentence, as docker's own (`No such container`, `Container web is not
 * paused`). A message that starts with the reference keeps the reference as typed.
 */
export function sentence(text: string, name = ''): string {
  if (name !== '' && text.startsWith(name)) return text;
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function words(e: CgfreezeError, name: string): string {
  switch (e.code) {
    case 'ERR_CONTAINER_NOT_FOUND':
      if (name === '') return e.message;
      // The engines' state files are root-only: without root every reference looks missing.
      return process.getuid?.() === 0
        ? `No such container: ${name}`
        : `No such container: ${name} (cgfreeze reads the engines' root-only state files: run cgfreeze as root)`;
    case 'ERR_AMBIGUOUS_REF': {
      const list =
        e.candidates !== undefined && e.candidates.length > 0
          ? ` (${e.candidates.join(', ')}); use more of the ID or the name`
          : '';
      return `Multiple IDs found with provided prefix: ${name}${list}`;
    }
    case 'ERR_CONTAINER_NOT_RUNNING':
      return `Container ${name} is not running`;
    case 'ERR_PAUSED_BY_ENGINE':
      return `Container ${e.message}`;
    case 'EACCES':
    case 'EPERM':
    case 'EROFS': {
      const what = `permission denied: ${e.path ?? name} (${e.code}${e.syscall === undefined ? '' : ` in ${e.syscall}`})`;
      // As root, the refusal came from somewhere root alone does not reach past.
      return process.getuid?.() === 0
        ? `${what}; root is not enough here: a capability this process lacks, a read-only mount, or a security module`
        : `${what}; run cgfreeze as root, e.g. sudo cgfreeze ...`;
    }
    case 'ENOENT':
      if (name.startsWith('/')) return `No such cgroup: ${name}`;
      return e.message;
    case 'ERR_NOT_A_CGROUP':
      return `${e.message}; give a cgroup directory such as /sys/fs/cgroup/freezer/docker/<id> or /sys/fs/cgroup/unified/<group>`;
    case 'ERR_FROZEN_BY_ANCESTOR':
      return `${name} is frozen by its ancestor cgroup ${e.ancestor ?? ''}; unpause that cgroup instead (cgfreeze unpause --cgroup ${e.ancestor ?? 'PATH'})`;
    case 'ERR_NATIVE_LOAD':
      // The loader's text carries the remedy on its second line; keep one line.
      return e.message.replace(/\n/g, ' ');
    default:
      return e.message;
  }
}
