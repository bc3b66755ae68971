// What the admin API may be given by other parts of the proxy, as narrow shapes so that control
// never imports discovery or config code. Both are optional: without them, the status shows
// `null` for that section and the matching metrics are absent.

/**
 * Docker discovery. `status()` is shown as-is under `discovery.status`; for metrics these fields
 * are read when present: `events` (Docker events handled, a count), `reconnects` (a count) and
 * `connected` (boolean). `rejected` lists the containers discovery refused, each shown as-is
 * (typically `{ id, name, service?, problems: string[] }`).
 */
export interface DiscoveryProvider {
  status(): unknown;
  readonly rejected: readonly unknown[];
  /** Calls `listener` whenever `rejected` may have changed (for /api/wait); returns the unsubscribe. */
  onRejectedChange?(listener: () => void): () => void;
}

/**
 * The config file watcher. `status()` is shown as-is under `config.status`; for metrics these
 * fields are read when present: `reloads` (applied reloads, a count) and `reloadFailures` (rejected
 * reloads, a count). `errors` lists the current problems (the last rejected change), each shown as-is.
 */
export interface ConfigStatusProvider {
  status(): unknown;
  readonly errors: readonly unknown[];
}

/** Calls `status()` without letting a provider's bug break the admin API. */
export function safeStatus(p: { status(): unknown }): unknown {
  try {
    return p.status();
  } catch (err) {
    return { error: `status unavailable: ${(err as Error).message}` };
  }
}

/** A numeric field of a provider's status, or undefined. */
export function numberField(status: unknown, key: string): number | undefined {
  if (typeof status !== 'object' || status === null) return undefined;
  const v = (status as Record<string, unknown>)[key];
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/** A boolean field of a provider's status, or undefined. */
export function booleanField(status: unknown, key: string): boolean | undefined {
  if (typeof status !== 'object' || status === null) return undefined;
  const v = (status as Record<string, unknown>)[key];
  return typeof v === 'boolean' ? v : undefined;
}
