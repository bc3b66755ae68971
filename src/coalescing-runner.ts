/**
 * Runs one async task debounced and one at a time: `schedule()` runs it after a quiet period,
 * `run()` runs it now; a request while it runs makes it run once more afterwards, never twice at
 * once. Errors go to `onError`; `run()` never rejects. Used by the config and certificate watchers.
 */
export class CoalescingRunner {
  readonly #task: () => Promise<void>;
  readonly #debounceMs: number;
  readonly #onError: (err: unknown) => void;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #closed = false;

  constructor(task: () => Promise<void>, debounceMs: number, onError: (err: unknown) => void) {
    this.#task = task;
    this.#debounceMs = debounceMs;
    this.#onError = onError;
  }

  get closed(): boolean {
    return this.#closed;
  }

  schedule(): void {
    if (this.#closed) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.run(), this.#debounceMs);
  }

  run(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    this.#running = this.#loop().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  /** No more runs; resolves when the one in progress (if any) has finished. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    await this.#running;
  }

  async #loop(): Promise<void> {
    do {
      this.#again = false;
      try {
        await this.#task();
      } catch (err) {
        this.#onError(err);
      }
    } while (this.#again && !this.#closed);
  }
}
