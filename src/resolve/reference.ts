import { CgfreezeError } from '../errors.js';
import type { Engine } from './types.js';

/** What a container reference asks for, before any state is read. */
export type ParsedRef =
  | { kind: 'plain'; value: string; engine?: Engine; namespace?: string }
  | { kind: 'k8s-container'; namespace: string; pod: string; container: string }
  | { kind: 'k8s-pod'; namespace: string; pod: string };

/** Longest reference accepted; real IDs are 64 chars, k8s names at most 253 each. */
export const MAX_REF_LENGTH = 800;

/**
 * One token: Docker's name rule (which also covers Podman names, hex IDs,
 * containerd IDs, CRI-O `k8s_…` names and Kubernetes names). It starts with a
 * letter or digit and excludes `/` and control characters, so a token can
 * never be `..` or form a path.
 */
const TOKEN = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

const SCHEMES: Record<string, Engine | 'k8s'> = {
  'docker://': 'docker',
  'podman://': 'podman',
  'cri-o://': 'cri-o',
  'containerd://': 'containerd',
  'k8s://': 'k8s',
};

function invalid(ref: string, why: string): CgfreezeError {
  const shown = ref.length > 80 ? JSON.stringify(ref.slice(0, 77) + '...') : JSON.stringify(ref);
  return new CgfreezeError('ERR_INVALID_ARG', `invalid container reference ${shown}: ${why}`, { target: ref });
}

function token(ref: string, part: string, what: string): string {
  if (part === '') throw invalid(ref, `empty ${what}`);
  if (!TOKEN.test(part))
    throw invalid(ref, `${what} ${JSON.stringify(part)} may only contain letters, digits, '.', '_' and '-'`);
  return part;
}

/**
 * Parses a container reference: an ID, a unique ID prefix, a name (one
 * leading `/` allowed), `namespace/pod/container`, `namespace/pod`, or one of
 * those behind `docker://`, `podman://`, `cri-o://`, `containerd://[ns/]`,
 * `k8s://`. Case-sensitive, like Docker.
 */
export function parseReference(ref: unknown): ParsedRef {
  if (typeof ref !== 'string')
    throw new CgfreezeError('ERR_INVALID_ARG', `a container reference must be a string, got ${typeof ref}`);
  if (ref === '') throw invalid(ref, 'value is empty');
  if (ref.length > MAX_REF_LENGTH) throw invalid(ref, `longer than ${MAX_REF_LENGTH} characters`);
  let rest = ref;
  let scheme: Engine | 'k8s' | undefined;
  for (const [prefix, engine] of Object.entries(SCHEMES)) {
    if (ref.startsWith(prefix)) {
      scheme = engine;
      rest = ref.slice(prefix.length);
      break;
    }
  }
  if (scheme === 'k8s' || (scheme === undefined && rest.indexOf('/', 1) > 0)) {
    const parts = rest.split('/');
    if (parts.length === 3) {
      return {
        kind: 'k8s-container',
        namespace: token(ref, parts[0] ?? '', 'namespace'),
        pod: token(ref, parts[1] ?? '', 'pod'),
        container: token(ref, parts[2] ?? '', 'container'),
      };
    }
    if (parts.length === 2) {
      return {
        kind: 'k8s-pod',
        namespace: token(ref, parts[0] ?? '', 'namespace'),
        pod: token(ref, parts[1] ?? '', 'pod'),
      };
    }
    throw invalid(ref, 'a Kubernetes reference is namespace/pod or namespace/pod/container');
  }
  if (scheme === 'containerd' && rest.includes('/')) {
    const parts = rest.split('/');
    if (parts.length !== 2) throw invalid(ref, 'expected containerd://<id> or containerd://<namespace>/<id>');
    return {
      kind: 'plain',
      engine: 'containerd',
      namespace: token(ref, parts[0] ?? '', 'namespace'),
      value: token(ref, parts[1] ?? '', 'id'),
    };
  }
  // Docker strips exactly one leading '/' from names; IDs never start with one.
  const value = scheme === undefined || scheme === 'docker' || scheme === 'podman' ? rest.replace(/^\//, '') : rest;
  return scheme === undefined
    ? { kind: 'plain', value: token(ref, value, 'name or ID') }
    : { kind: 'plain', engine: scheme, value: token(ref, value, 'name or ID') };
}
