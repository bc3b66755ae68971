import type { Service } from '../registry/service.ts';
import type { Upstream } from '../registry/upstream.ts';

/** Status classes, indexed by `classIndex`: 0 is a response that never completed. */
export const STATUS_CLASSES = ['aborted', '1xx', '2xx', '3xx', '4xx', '5xx'] as const;

export function classIndex(status: number): number {
  const c = Math.floor(status / 100);
  return c >= 1 && c <= 5 ? c : 0;
}

/** Counts for one (service, upstream) label pair. */
export interface CountRow {
  readonly service: string;
  readonly upstream: string;
  readonly byClass: number[];
  retries: number;
  /** False once forgotten; a cached row that is no longer live is looked up again. */
  live: boolean;
}

const NO_ROUTE = {};

/**
 * Request and retry counts by service, upstream name and status class, kept as plain numbers so
 * the per-request cost is one WeakMap lookup and an increment; metrics read them at scrape time.
 * Rows are keyed by name, so a container recreated under the same name continues its series.
 */
export class RequestCounts {
  readonly #rows = new Map<string, CountRow>();
  readonly #cache = new WeakMap<object, CountRow>();

  row(service: Service | undefined, upstream: Upstream | undefined): CountRow {
    const owner = upstream ?? service ?? NO_ROUTE;
    let row = this.#cache.get(owner);
    if (!row?.live) {
      const s = upstream?.service ?? service?.name ?? '';
      const u = upstream?.name ?? '';
      const k = key(s, u);
      row = this.#rows.get(k);
      if (!row) this.#rows.set(k, (row = { service: s, upstream: u, byClass: [0, 0, 0, 0, 0, 0], retries: 0, live: true }));
      this.#cache.set(owner, row);
    }
    return row;
  }

  rows(): IterableIterator<CountRow> {
    return this.#rows.values();
  }

  /** Drops the series of an upstream name that no longer exists. */
  forget(service: string, upstream: string): void {
    const k = key(service, upstream);
    const row = this.#rows.get(k);
    if (row) row.live = false;
    this.#rows.delete(k);
  }
}

function key(service: string, upstream: string): string {
  return `${service}\u0000${upstream}`;
}
