import { CgfreezeError } from '../errors.js';

interface Waiter {
  start(): void;
  fail(error: CgfreezeError): void;
  timer: NodeJS.Timeout;
}

/**
 * The operations' slots, shared fairly: at most `slots` operations run at once, and at most
 * `perCaller` of them for one caller. The others wait, first come first served within a caller, the
 * callers in turn, so one caller's burst never pushes another's request behind all of its own. A
 * request that has waited `maxWaitMs` for a slot is refused with ERR_BUSY.
 */
export class FairSlots {
  private running = 0;
  private readonly runningBy = new Map<string, number>();
  /** Waiting requests per caller; the map's order is the callers' turn order. */
  private readonly waiting = new Map<string, Waiter[]>();
  private waiters = 0;

  constructor(
    readonly slots: number,
    readonly perCaller: number,
    readonly maxWaitMs: number,
  ) {}

  /** Requests waiting for a slot. */
  get queued(): number {
    return this.waiters;
  }

  /**
   * Takes a slot for `caller`: at once (undefined) when one is free to it and none of its own
   * requests wait, else a promise that settles when its turn comes or it has waited too long.
   * `watchGone` gives, only for a request that has to wait, a signal that aborts its wait when its
   * client goes away.
   */
  acquire(caller: string, watchGone?: () => AbortSignal): Promise<void> | undefined {
    if (this.running < this.slots && this.runningOf(caller) < this.perCaller && !this.waiting.has(caller)) {
      this.take(caller);
      return undefined;
    }
    const gone = watchGone?.();
    return new Promise<void>((resolve, reject) => {
      const leave = (): void => {
        const queue = this.waiting.get(caller);
        const i = queue?.indexOf(waiter) ?? -1;
        if (queue === undefined || i < 0) return;
        queue.splice(i, 1);
        this.waiters--;
        if (queue.length === 0) this.waiting.delete(caller);
      };
      const onGone = (): void => {
        clearTimeout(waiter.timer);
        leave();
        reject(new CgfreezeError('ECONNRESET', 'the client went away while its request waited for a slot'));
      };
      const waiter: Waiter = {
        start: () => {
          gone?.removeEventListener('abort', onGone);
          resolve();
        },
        fail: reject,
        timer: setTimeout(() => {
          gone?.removeEventListener('abort', onGone);
          leave();
          reject(
            new CgfreezeError(
              'ERR_BUSY',
              `no operation slot came free within ${this.maxWaitMs} ms (${this.running} running, ${this.waiters} waiting); retry`,
            ),
          );
        }, this.maxWaitMs),
      };
      gone?.addEventListener('abort', onGone, { once: true });
      const queue = this.waiting.get(caller);
      if (queue === undefined) this.waiting.set(caller, [waiter]);
      else queue.push(waiter);
      this.waiters++;
    });
  }

  release(caller: string): void {
    this.running--;
    const left = this.runningOf(caller) - 1;
    if (left === 0) this.runningBy.delete(caller);
    else this.runningBy.set(caller, left);
    this.next();
  }

  /** Refuses every waiting request (shutdown). */
  drain(error: CgfreezeError): void {
    for (const queue of this.waiting.values()) {
      for (const waiter of queue) {
        clearTimeout(waiter.timer);
        waiter.fail(error);
      }
    }
    this.waiting.clear();
    this.waiters = 0;
  }

  private runningOf(caller: string): number {
    return this.runningBy.get(caller) ?? 0;
  }

  private take(caller: string): void {
    this.running++;
    this.runningBy.set(caller, this.runningOf(caller) + 1);
  }

  /** Hands free slots to the callers in turn; a caller served goes to the end of the line. */
  private next(): void {
    for (const [caller, queue] of this.waiting) {
      if (this.running >= this.slots) return;
      if (this.runningOf(caller) >= this.perCaller) continue;
      const waiter = queue.shift() as Waiter;
      this.waiters--;
      this.waiting.delete(caller);
      if (queue.length > 0) this.waiting.set(caller, queue);
      clearTimeout(waiter.timer);
      this.take(caller);
      waiter.start();
    }
  }
}
