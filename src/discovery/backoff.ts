// Reconnect delays: exponential from `initialMs`, doubling per failed attempt, capped at `maxMs`.

export const DEFAULT_INITIAL_BACKOFF_MS = 250;
export const DEFAULT_MAX_BACKOFF_MS = 5_000;

/** Delay before retry number `attempt` (0 = the first retry). */
export function backoffDelay(attempt: number, initialMs = DEFAULT_INITIAL_BACKOFF_MS, maxMs = DEFAULT_MAX_BACKOFF_MS): number {
  if (!(attempt > 0)) return Math.min(initialMs, maxMs);
  return Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30));
}
