/**
 * Narrowing helpers for untrusted JSON (engines' state files, the sidecar's bodies, policy and lease
 * files). A leaf: it imports nothing, so every layer may use it.
 */

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

export function num(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isSafeInteger(value) ? value : undefined;
}

/** String-valued entries of a JSON object (labels, annotations). */
export function stringMap(value: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!isRecord(value)) return out;
  for (const [k, v] of Object.entries(value)) {
    // defineProperty: a `__proto__` key from JSON must stay a plain label.
    if (typeof v === 'string')
      Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
  }
  return out;
}
