import type { ServerResponse } from 'node:http';
import { BluegreenError } from '../errors.ts';
import type { Registry, RegistryEvents } from '../registry/registry.ts';
import type { Upstream } from '../registry/upstream.ts';
import { sendApiError, sendJson } from './http-io.ts';
import type { DiscoveryProvider } from './providers.ts';
import { look, type Look, type Removal } from './wait-lookup.ts';
import type { WaitQuery } from './wait-query.ts';

// `GET /api/wait`: answers once a container is routed (or ready, or gone), or at its timeout with
// why not. Waiters react to the registry's events and to discovery's rejections; nothing here asks
// Docker. A client that disconnects frees its waiter.

/** Waits at once; more are refused with 503 (each holds a socket and a timer). */
export const MAX_WAITERS = 1_000;
/** Removed upstreams remembered, so that a wait can say "it stopped" rather than "unknown". */
const REMOVALS_KEPT = 256;

/** Besides 'upstream-removed', which is remembered first (one listener does both). */
const EVENTS: readonly (keyof RegistryEvents)[] = ['upstream-added', 'upstream-state', 'service-changed'];

interface Waiter {
  query: WaitQuery;
  res: ServerResponse;
  startedAt: number;
  timer: NodeJS.Timeout | undefined;
}

export class Waits {
  readonly #registry: Registry;
  readonly #discovery: DiscoveryProvider | undefined;
  readonly #waiters = new Set<Waiter>();
  readonly #removals: Removal[] = [];
  readonly #onEvent = () => this.#schedule();
  readonly #onRemoved = (up: Upstream, reason: string) => {
    this.#remember(up, reason);
    this.#schedule();
  };
  readonly #unsubscribe: (() => void) | undefined;
  #scheduled = false;

  constructor(registry: Registry, discovery: DiscoveryProvider | undefined) {
    this.#registry = registry;
    this.#discovery = discovery;
    registry.on('upstream-removed', this.#onRemoved);
    for (const e of EVENTS) registry.on(e, this.#onEvent);
    this.#unsubscribe = discovery?.onRejectedChange?.(this.#onEvent);
  }

  /** Waits in progress. */
  get size(): number {
    return this.#waiters.size;
  }

  /** Where the container stands now, as the wait's answer would say. */
  look(query: WaitQuery, since = Date.now()): Look {
    return look({ registry: this.#registry, rejected: this.#discovery?.rejected ?? [], removals: this.#removals }, query, since);
  }

  /** Answers on `res` now if the wait is already decided, else when it is or at its timeout. */
  add(query: WaitQuery, res: ServerResponse): void {
    const w: Waiter = { query, res, startedAt: Date.now(), timer: undefined };
    if (this.#settle(w, false)) return;
    if (this.#waiters.size >= MAX_WAITERS) {
      throw new BluegreenError('TOO_MANY_WAITERS', `${MAX_WAITERS} waits are already in progress; try again later`);
    }
    this.#waiters.add(w);
    w.timer = setTimeout(() => this.#settle(w, true), query.timeoutMs);
    res.once('close', () => this.#forget(w));
  }

  /** Ends every wait (503) and stops listening. */
  close(): void {
    for (const w of [...this.#waiters]) {
      this.#forget(w);
      sendApiError(w.res, new BluegreenError('SHUTTING_DOWN', 'the admin API is closing'));
    }
    this.#registry.off('upstream-removed', this.#onRemoved);
    for (const e of EVENTS) this.#registry.off(e, this.#onEvent);
    this.#unsubscribe?.();
  }

  #forget(w: Waiter): void {
    clearTimeout(w.timer);
    this.#waiters.delete(w);
  }

  /**
   * Registry events arrive in the middle of a change (a state event comes before the service's
   * rotation is recomputed): look once the change is complete, once for a burst of events.
   */
  #schedule(): void {
    if (this.#scheduled || this.#waiters.size === 0) return;
    this.#scheduled = true;
    queueMicrotask(() => {
      this.#scheduled = false;
      for (const w of [...this.#waiters]) this.#settle(w, false);
    });
  }

  /** Answers when the wait is decided (or `timedOut`); returns whether it answered. */
  #settle(w: Waiter, timedOut: boolean): boolean {
    let l: Look;
    try {
      l = this.look(w.query, w.startedAt);
    } catch (err) {
      // An id prefix that became ambiguous: a 400 now, as it would have been at the start.
      this.#forget(w);
      sendApiError(w.res, err);
      return true;
    }
    if (l.outcome === 'waiting' && !timedOut && w.query.timeoutMs > 0) return false;
    this.#forget(w);
    if (w.res.writableEnded || w.res.destroyed) return true;
    const { key, state } = w.query;
    const waitedMs = Date.now() - w.startedAt;
    const facts = { container: key, state, reason: l.reason, waitedMs, upstream: l.upstream, service: l.service, rejected: l.rejected, removed: l.removed };
    if (l.outcome === 'reached') sendJson(w.res, 200, { ...facts, message: l.message });
    else if (l.outcome === 'failed') sendJson(w.res, 409, { code: 'WAIT_FAILED', message: l.message, ...facts });
    else {
      const message = `not ${state} after ${formatMs(w.query.timeoutMs)}: ${l.message}`;
      sendJson(w.res, 504, { code: 'WAIT_TIMEOUT', message, ...facts });
    }
    return true;
  }

  #remember(up: Upstream, reason: string): void {
    this.#removals.push({
      id: up.id,
      name: up.name,
      aliases: up.aliases,
      service: up.service,
      color: up.color ?? null,
      reason,
      at: Date.now(),
      abortedAtDeadline: up.abortedAtDeadline,
    });
    if (this.#removals.length > REMOVALS_KEPT) this.#removals.shift();
  }
}

function formatMs(ms: number): string {
  return ms < 1000 ? `${ms}ms` : `${+(ms / 1000).toFixed(3)}s`;
}
