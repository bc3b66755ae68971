import { BluegreenError } from '../errors.ts';

/** How one wait in the hold queue ended, when it did not fail. */
export type HoldOutcome = 'released' | 'timeout';

interface Waiter {
  resolve: (outcome: HoldOutcome) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout | undefined;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  done: boolean;
}

/**
 * A bounded FIFO of requests waiting for a ready upstream. Waiters end as released (in arrival
 * order), timed out, or rejected (queue full, client gone). The queue never decides where a
 * released request goes: the caller picks again.
 */
export class HoldQueue {
  readonly capacity: number;
  #waiters: Waiter[] = [];
  #live = 0;

  constructor(capacity: number) {
    this.capacity = capacity;
  }

  get size(): number {
    return this.#live;
  }

  /** Waits until released or `timeoutMs` passes. Rejects when full or when `signal` aborts. */
  wait(timeoutMs: number, signal?: AbortSignal): Promise<HoldOutcome> {
    if (signal?.aborted) return Promise.reject(new BluegreenError('CLIENT_ABORTED', 'client went away while held'));
    if (this.#live >= this.capacity) {
      return Promise.reject(
        new BluegreenError('HOLD_QUEUE_FULL', `hold queue is full (${this.capacity} requests waiting)`),
      );
    }
    return new Promise<HoldOutcome>((resolve, reject) => {
      const w: Waiter = { resolve, reject, timer: undefined, signal, onAbort: undefined, done: false };
      w.timer = setTimeout(() => this.#settle(w, 'timeout'), Math.max(0, timeoutMs));
      if (signal) {
        w.onAbort = () => this.#fail(w, new BluegreenError('CLIENT_ABORTED', 'client went away while held'));
        signal.addEventListener('abort', w.onAbort, { once: true });
      }
      this.#waiters.push(w);
      this.#live++;
    });
  }

  /** Releases every waiter, oldest first. Returns how many were released. */
  releaseAll(): number {
    if (this.#live === 0) {
      this.#waiters.length = 0;
      return 0;
    }
    const waiters = this.#waiters;
    this.#waiters = [];
    let n = 0;
    for (const w of waiters) {
      if (w.done) continue;
      this.#settle(w, 'released');
      n++;
    }
    return n;
  }

  /** Fails every waiter with `err` (used when a service is removed or the proxy stops). */
  rejectAll(err: Error): number {
    const waiters = this.#waiters;
    this.#waiters = [];
    let n = 0;
    for (const w of waiters) {
      if (w.done) continue;
      this.#fail(w, err);
      n++;
    }
    return n;
  }

  #finish(w: Waiter): boolean {
    if (w.done) return false;
    w.done = true;
    this.#live--;
    clearTimeout(w.timer);
    if (w.signal && w.onAbort) w.signal.removeEventListener('abort', w.onAbort);
    // Drop finished waiters from the head so the array does not grow without bound.
    if (this.#live === 0) this.#waiters.length = 0;
    else if (this.#waiters.length > 64 && this.#waiters.length > this.#live * 2) {
      this.#waiters = this.#waiters.filter((x) => !x.done);
    }
    return true;
  }

  #settle(w: Waiter, outcome: HoldOutcome): void {
    if (this.#finish(w)) w.resolve(outcome);
  }

  #fail(w: Waiter, err: Error): void {
    if (this.#finish(w)) w.reject(err);
  }
}
