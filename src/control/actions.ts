import { tryParseDuration } from '../config/units.ts';
import { BluegreenError } from '../errors.ts';
import type { Registry } from '../registry/registry.ts';
import type { Upstream } from '../registry/upstream.ts';
import { serviceStatus, upstreamStatus, type ServiceStatus, type UpstreamStatus } from './status.ts';

/**
 * The operator's actions on the registry, each validating its input and returning the resulting
 * state. Unknown services and upstreams throw UNKNOWN_SERVICE / UNKNOWN_UPSTREAM (404).
 */
export class ControlActions {
  readonly #registry: Registry;

  constructor(registry: Registry) {
    this.#registry = registry;
  }

  switchColor(service: string, body: Record<string, unknown>): ServiceStatus {
    const color = body.color;
    if (typeof color !== 'string' || color === '') throw new BluegreenError('BAD_REQUEST', 'body must name the color: {"color": "green"}');
    const svc = this.#registry.switchColor(service, color);
    // An operator's switch sticks: in auto mode the next membership change would switch back to
    // the newest ready color, so switching by hand also turns automatic switching off.
    if (svc.colorMode === 'auto') this.#registry.setColorMode(service, 'manual');
    return serviceStatus(svc);
  }

  pause(service: string): ServiceStatus {
    return serviceStatus(this.#registry.pause(service));
  }

  resume(service: string): ServiceStatus {
    return serviceStatus(this.#registry.resume(service));
  }

  setColorMode(service: string, body: Record<string, unknown>): ServiceStatus {
    const mode = body.mode;
    if (mode !== 'auto' && mode !== 'manual') throw new BluegreenError('BAD_REQUEST', 'body must name the mode: {"mode": "auto"} or {"mode": "manual"}');
    return serviceStatus(this.#registry.setColorMode(service, mode));
  }

  /** Drains now; `timeout` (e.g. "5s") bounds it, else the upstream's or the default drain timeout. */
  drain(idOrName: string, body: Record<string, unknown>): UpstreamStatus {
    const up = this.findUpstream(idOrName);
    let deadline: number | undefined;
    if (body.timeout !== undefined) {
      const parsed = typeof body.timeout === 'string' ? tryParseDuration(body.timeout) : { ok: false as const, reason: 'is not text' };
      if (!parsed.ok) throw new BluegreenError('BAD_REQUEST', `timeout ${JSON.stringify(body.timeout)} ${parsed.reason}`);
      deadline = Date.now() + parsed.value;
    }
    return upstreamStatus(this.#registry.drain(up.id, deadline));
  }

  /** An upstream by exact id, exact name, or unique id prefix (as `docker` accepts). */
  findUpstream(key: string): Upstream {
    const upstreams = this.#registry.upstreams;
    const exact = upstreams.get(key);
    if (exact) return exact;
    const matches = (pred: (u: Upstream) => boolean) => [...upstreams.values()].filter(pred);
    let found = matches((u) => u.name === key);
    if (found.length === 0 && key.length >= 4) found = matches((u) => u.id.startsWith(key));
    if (found.length === 1) return found[0]!;
    if (found.length > 1) {
      throw new BluegreenError('BAD_REQUEST', `${JSON.stringify(key)} matches ${found.length} upstreams (${found.map((u) => u.id).join(', ')}); give the full id`);
    }
    throw new BluegreenError('UNKNOWN_UPSTREAM', `no upstream with id or name ${JSON.stringify(key)}`);
  }
}
