import type { Service } from '../registry/service.ts';
import type { Upstream } from '../registry/upstream.ts';

/**
 * Per-request notifications from the data plane, for metrics. Called synchronously on the hot
 * path: implementations must be cheap and must not throw.
 */
export interface RequestObserver {
  /**
   * A client request ended. `service` is undefined when no route matched; `upstream` is the last
   * upstream tried (undefined when none was). `status` is the status sent, or 0 when the response
   * did not complete (the client went away, or the upstream broke off mid-body).
   */
  onResponse(service: Service | undefined, upstream: Upstream | undefined, status: number, durationMs: number): void;
  /** An attempt on `upstream` failed and the request is replayed on another (or the same) one. */
  onRetry(service: Service, upstream: Upstream): void;
  /** A request waited `ms` in the service's hold queue (reported once the wait ends). */
  onHold(service: Service, ms: number): void;
}
