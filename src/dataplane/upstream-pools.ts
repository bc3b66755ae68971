import { Pool } from 'undici';
import type { Registry } from '../registry/registry.ts';
import type { Upstream } from '../registry/upstream.ts';

export interface PoolOptions {
  connectTimeoutMs: number;
  headersTimeoutMs: number;
  /** Longest silence between two body chunks from the upstream. */
  bodyTimeoutMs: number;
  /** Longest an idle keep-alive connection to an upstream is kept. */
  keepAliveTimeoutMs: number;
  connectionsPerUpstream: number;
}

/**
 * One undici Pool per upstream (keep-alive, bounded connections, connect timeout). A draining
 * upstream's pool is closed at once: undici closes its idle sockets and lets running requests end.
 */
export class UpstreamPools {
  readonly #pools = new Map<string, Pool>();
  readonly #opts: () => PoolOptions;

  /** `opts` is read each time a pool is created, so changed settings apply to new pools. */
  constructor(registry: Registry, opts: () => PoolOptions) {
    this.#opts = opts;
    registry.on('upstream-state', (up, _from, to) => {
      if (to === 'draining' || to === 'gone') this.#close(up.id);
    });
    registry.on('upstream-removed', (up) => this.#close(up.id));
  }

  get(up: Upstream): Pool {
    let pool = this.#pools.get(up.id);
    if (!pool) {
      const o = this.#opts();
      pool = new Pool(up.origin, {
        connections: o.connectionsPerUpstream,
        pipelining: 1,
        connectTimeout: o.connectTimeoutMs,
        headersTimeout: o.headersTimeoutMs,
        bodyTimeout: o.bodyTimeoutMs,
        keepAliveTimeout: o.keepAliveTimeoutMs,
        keepAliveMaxTimeout: o.keepAliveTimeoutMs,
      });
      this.#pools.set(up.id, pool);
    }
    return pool;
  }

  #close(id: string): void {
    const pool = this.#pools.get(id);
    if (!pool) return;
    this.#pools.delete(id);
    // close() waits for running requests; idle sockets go now. Errors here only mean "already closed".
    pool.close().catch(() => {});
  }

  async closeAll(): Promise<void> {
    const pools = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.allSettled(pools.map((p) => p.close()));
  }
}
