import { BluegreenError } from '../errors.ts';
import type { Service } from '../registry/service.ts';
import type { Upstream } from '../registry/upstream.ts';
import type { Balancer } from './balancer.ts';
import type { AbortHook } from './hold-queue.ts';

/** How long a request whose every eligible upstream already failed waits before trying them again. */
const RETRY_PAUSE_MS = 250;

export interface AcquireContext {
  balancer: Balancer;
  /** Upstreams this request already failed on; cleared when it has to try them again. */
  tried: Set<Upstream> | undefined;
  /** Absolute time (ms) after which the request stops waiting. */
  deadline: number;
  /** Ends the wait when the client goes away. */
  signal: AbortHook;
  /** Called once, when the request first has to wait. */
  onHold?: () => void;
}

/**
 * "Which upstream, or hold": returns a ready upstream of the service, waiting in its hold queue
 * while there is none (or the service is paused) until one becomes ready or the deadline passes.
 */
export async function acquireUpstream(svc: Service, ctx: AcquireContext): Promise<Upstream> {
  let held = false;
  for (;;) {
    let eligibleCount = 0;
    if (!svc.paused) {
      const eligible = svc.eligible();
      eligibleCount = eligible.length;
      const up = ctx.balancer.pick(eligible, ctx.tried, Date.now());
      if (up) return up;
    }
    const remaining = ctx.deadline - Date.now();
    if (remaining <= 0) {
      throw new BluegreenError(
        'HOLD_TIMEOUT',
        svc.paused
          ? `service ${svc.name} is paused; no upstream was released in time`
          : `service ${svc.name} has no ready upstream; gave up after waiting`,
      );
    }
    if (!held) {
      held = true;
      ctx.onHold?.();
    }
    // Every eligible upstream already failed this request: pause briefly, then try them again.
    const retrying = eligibleCount > 0;
    const outcome = await svc.holdQueue.wait(retrying ? Math.min(remaining, RETRY_PAUSE_MS) : remaining, ctx.signal);
    if (retrying || outcome === 'released') ctx.tried?.clear();
  }
}
