import type { Upstream } from '../registry/upstream.ts';

/** Chooses one upstream from a service's eligible list. */
export interface Balancer {
  pick(candidates: readonly Upstream[], exclude: ReadonlySet<Upstream> | undefined, now: number): Upstream | undefined;
}

/**
 * Least in-flight, ties broken round-robin. Upstreams marked failed (a recent connect failure)
 * are chosen only when no healthy candidate is left.
 */
export class LeastInFlightBalancer implements Balancer {
  #next = 0;

  pick(candidates: readonly Upstream[], exclude: ReadonlySet<Upstream> | undefined, now: number): Upstream | undefined {
    const n = candidates.length;
    if (n === 0) return undefined;
    const start = this.#next++ % n;
    if (this.#next > 1e9) this.#next = 0;
    let best: Upstream | undefined;
    let bestScore = Infinity;
    for (let i = 0; i < n; i++) {
      const u = candidates[(start + i) % n]!;
      if (exclude?.has(u)) continue;
      // A failed upstream sorts after every healthy one, whatever its load.
      const score = u.inFlight + (u.isFailed(now) ? 1e9 : 0);
      if (score < bestScore) {
        best = u;
        bestScore = score;
      }
    }
    return best;
  }
}
