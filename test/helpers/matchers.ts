import { expect } from 'vitest';

/** Matches a thrown or rejected error that has these properties (`code`, `ancestor`, …); typed for toThrow(). */
export function errorWith(props: Record<string, unknown>): Error {
  const matcher: unknown = expect.objectContaining(props);
  return matcher as Error;
}
