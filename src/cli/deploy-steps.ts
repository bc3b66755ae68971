// Prints each step of a deploy on one line when it ends, with what it found and how long it took:
//   ok    1.52 s  compose up -d --no-deps --force-recreate web-green: 1 container
//   FAIL 10.00 s  wait for green ready: web-green-1 (0123456789ab): unhealthy

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(2)} s`;
}

/** A step failed; its message is the reason deploy reports. */
export class StepFailed extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StepFailed';
  }
}

export class StepLog {
  readonly #write: (line: string) => void;
  readonly #now: () => number;
  readonly #start: number;

  constructor(write: (line: string) => void, now: () => number = () => performance.now()) {
    this.#write = write;
    this.#now = now;
    this.#start = now();
  }

  /** Milliseconds since this log began. */
  get elapsedMs(): number {
    return this.#now() - this.#start;
  }

  line(text: string): void {
    this.#write(`${text}\n`);
  }

  /** Runs fn, prints `ok` with `summary(result)` or `FAIL` with the error's message, returns or rethrows. */
  async step<T>(title: string, fn: () => Promise<T>, summary?: (v: T) => string): Promise<T> {
    const t0 = this.#now();
    try {
      const v = await fn();
      const said = summary?.(v);
      this.#print('ok', t0, said ? `${title}: ${said}` : title);
      return v;
    } catch (err) {
      this.#print('FAIL', t0, `${title}: ${(err as Error).message}`);
      throw err;
    }
  }

  /** A step that did not run, e.g. `skip  compose stop web-blue: --keep-old`. */
  skip(title: string, why: string): void {
    this.#write(`  skip ${''.padStart(9)}  ${title}: ${why}\n`);
  }

  #print(tag: string, t0: number, text: string): void {
    this.#write(`  ${tag.padEnd(4)} ${formatDuration(this.#now() - t0).padStart(9)}  ${text}\n`);
  }
}
