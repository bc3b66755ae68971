import type { Logger } from 'pino';
import type { Registry } from '../registry/registry.ts';
import type { Upstream } from '../registry/upstream.ts';

/**
 * Keeps a discovered service for `retentionMs` after its last upstream left, so that requests
 * arriving in a stop-first gap (compose recreates the old container before starting the new one)
 * are held instead of answered 404; then removes it. Only services claimed here are removed.
 */
export class ServiceRetention {
  readonly #registry: Registry;
  readonly #retentionMs: number;
  readonly #log: Logger;
  readonly #owned = new Set<string>();
  readonly #timers = new Map<string, NodeJS.Timeout>();
  readonly #onRemoved = (up: Upstream): void => this.#check(up.service);

  constructor(registry: Registry, retentionMs: number, log: Logger) {
    this.#registry = registry;
    this.#retentionMs = retentionMs;
    this.#log = log;
    registry.on('upstream-removed', this.#onRemoved);
  }

  /** The service gets (or keeps) an upstream from discovery: it is ours, and it stays. */
  claim(service: string): void {
    this.#owned.add(service);
    const t = this.#timers.get(service);
    if (t) {
      clearTimeout(t);
      this.#timers.delete(service);
      this.#log.debug({ service }, 'service has an upstream again; kept');
    }
  }

  /** Services waiting for removal, with none of their upstreams left. */
  get pending(): string[] {
    return [...this.#timers.keys()];
  }

  stop(): void {
    this.#registry.off('upstream-removed', this.#onRemoved);
    for (const t of this.#timers.values()) clearTimeout(t);
    this.#timers.clear();
  }

  /** Looks again whether the service has upstreams left (its last one may have left while it was claimed). */
  recheck(service: string): void {
    this.#check(service);
  }

  #check(service: string): void {
    if (!this.#owned.has(service) || this.#timers.has(service)) return;
    const svc = this.#registry.service(service);
    if (!svc || svc.upstreams.size > 0) return;
    this.#log.info({ service, retentionMs: this.#retentionMs }, 'service has no upstream left; requests are held while it is retained');
    const timer = setTimeout(() => {
      this.#timers.delete(service);
      const s = this.#registry.service(service);
      if (!s || s.upstreams.size > 0) return;
      this.#owned.delete(service);
      this.#log.info({ service, held: s.holdQueue.size }, 'service removed after its retention period');
      this.#registry.removeService(service);
    }, this.#retentionMs);
    timer.unref();
    this.#timers.set(service, timer);
  }
}
