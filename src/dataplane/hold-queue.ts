import { BluegreenError } from '../errors.ts';

/** How one wait in the hold queue ended, when it did not fail. */
export type HoldOutcome = 'released' | 'timeout';

/**
 * What ends a wait early when the client goes away: an AbortSignal, or anything with the same
 * three members (the data plane's request context, which costs a held request far less than an
 * AbortController and its signal).
 */
export interface AbortHook {
  readonly aborted: boolean;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

interface Waiter {
  resolve: (outcome: HoldOutcome) => void;
  reject: (err: Error) => void;
  /** performance.now() after which the wait ends as timed out. */
  deadline: number;
  signal: AbortHook | undefined;
  onAbort: (() => void) | undefined;
  done: boolean;
}

/**
 * How late a wait may end after its timeout: expiries that fall within this much of each other are
 * handled by one sweep of the queue, so a wave of 10,000 timeouts costs a few sweeps, not 10,000.
 */
const SWEEP_SLACK_MS = 10;

/**
 * A bounded FIFO of requests waiting for a ready upstream. Waiters end as released (in arrival
 * order), timed out, or rejected (queue full, client gone). The queue never decides where a
 * released request goes: the caller picks again.
 */
export class HoldQueue {
  readonly capacity: number;
  #waiters: Waiter[] = [];
  #live = 0;
  /**
   * One timer for the whole queue (not one per waiter: a held request costs only its Waiter),
   * armed for the earliest deadline plus the slack; `#timerAt` is when it fires.
   */
  #timer: NodeJS.Timeout | undefined;
  #timerAt = Infinity;

  constructor(capacity: number) {
    this.capacity = capacity;
  }

  get size(): number {
    return this.#live;
  }

  /** Waits until released or `timeoutMs` passes. Rejects when full or when `signal` aborts. */
  wait(timeoutMs: number, signal?: AbortHook): Promise<HoldOutcome> {
    if (signal?.aborted) return Promise.reject(new BluegreenError('CLIENT_ABORTED', 'client went away while held'));
    if (this.#live >= this.capacity) {
      return Promise.reject(
        new BluegreenError('HOLD_QUEUE_FULL', `hold queue is full (${this.capacity} requests waiting)`),
      );
    }
    return new Promise<HoldOutcome>((resolve, reject) => {
      const w: Waiter = { resolve, reject, deadline: performance.now() + Math.max(0, timeoutMs), signal, onAbort: undefined, done: false };
      if (signal) {
        w.onAbort = () => this.#fail(w, new BluegreenError('CLIENT_ABORTED', 'client went away while held'));
        signal.addEventListener('abort', w.onAbort, { once: true });
      }
      this.#waiters.push(w);
      this.#live++;
      if (w.deadline + SWEEP_SLACK_MS < this.#timerAt) this.#arm(w.deadline + SWEEP_SLACK_MS);
    });
  }

  #arm(at: number): void {
    clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(this.#sweep, Math.max(0, at - performance.now()));
  }

  /** Ends every wait whose deadline has passed, then re-arms for the next (plus the slack). */
  readonly #sweep = (): void => {
    this.#timer = undefined;
    this.#timerAt = Infinity;
    const cutoff = performance.now();
    let next = Infinity;
    const expired: Waiter[] = [];
    for (const w of this.#waiters) {
      if (w.done) continue;
      if (w.deadline <= cutoff) expired.push(w);
      else if (w.deadline < next) next = w.deadline;
    }
    for (const w of expired) this.#settle(w, 'timeout');
    if (next !== Infinity && this.#live > 0) this.#arm(next + SWEEP_SLACK_MS);
  };

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
    if (w.signal && w.onAbort) w.signal.removeEventListener('abort', w.onAbort);
    // Drop finished waiters from the head so the array does not grow without bound.
    if (this.#live === 0) {
      this.#waiters.length = 0;
      clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#timerAt = Infinity;
    } else if (this.#waiters.length > 64 && this.#waiters.length > this.#live * 2) {
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
