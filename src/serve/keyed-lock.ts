/** Serializes work per key (a cgroup): requests on one target run in arrival order, so the last one wins. */
export class KeyedLock {
  private readonly tails = new Map<string, Promise<void>>();

  /** Whether some work holds or waits for `key`. */
  busy(key: string): boolean {
    return this.tails.has(key);
  }

  async run<T>(keys: string[], fn: () => Promise<T>): Promise<T> {
    const unique = [...new Set(keys)];
    let release = (): void => undefined;
    const mine = new Promise<void>((r) => {
      release = r;
    });
    // Taking every key in one synchronous step keeps multi-target requests free of deadlock.
    const before = unique.flatMap((k) => this.tails.get(k) ?? []);
    for (const k of unique) this.tails.set(k, mine);
    if (before.length > 0) await Promise.all(before);
    try {
      return await fn();
    } finally {
      release();
      for (const k of unique) if (this.tails.get(k) === mine) this.tails.delete(k);
    }
  }
}
