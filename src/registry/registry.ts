import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { BluegreenError } from '../errors.ts';
import { Service, type ColorMode, type ServiceRoute } from './service.ts';
import { Upstream, type UpstreamSpec } from './upstream.ts';
import type { UpstreamState } from './upstream-state.ts';

export interface RegistryOptions {
  logger: Logger;
  holdQueueSize?: number;
  /** Drain bound when neither the caller nor the upstream names one (Docker's default: 10 s). */
  defaultDrainTimeoutMs?: number;
}

export interface RegistryEvents {
  'upstream-added': [upstream: Upstream];
  'upstream-state': [upstream: Upstream, from: UpstreamState, to: UpstreamState];
  'upstream-removed': [upstream: Upstream, reason: string];
  'service-changed': [service: Service];
  'routes-changed': [];
}

/**
 * The in-memory model of services and upstreams. Discovery and control change it; the data plane
 * reads it and reacts to its events. It also runs drains: an upstream leaves rotation at once and
 * is removed when its in-flight count reaches zero or its deadline passes.
 */
export class Registry extends EventEmitter<RegistryEvents> {
  readonly services = new Map<string, Service>();
  readonly upstreams = new Map<string, Upstream>();
  readonly #log: Logger;
  readonly #holdQueueSize: number;
  readonly #defaultDrainTimeoutMs: number;
  readonly #drainTimers = new Map<string, NodeJS.Timeout>();

  constructor(opts: RegistryOptions) {
    super();
    this.#log = opts.logger;
    this.#holdQueueSize = opts.holdQueueSize ?? 10_000;
    this.#defaultDrainTimeoutMs = opts.defaultDrainTimeoutMs ?? 10_000;
  }

  service(name: string): Service | undefined {
    return this.services.get(name);
  }

  /** Creates the service if needed and sets its route. */
  defineService(name: string, route?: ServiceRoute): Service {
    let svc = this.services.get(name);
    const created = !svc;
    if (!svc) {
      svc = new Service(name, this.#holdQueueSize);
      this.services.set(name, svc);
    }
    if (route) {
      const hosts = [...new Set(route.hosts.map((h) => h.toLowerCase()))].sort();
      const changed =
        hosts.join(',') !== svc.route.hosts.join(',') || (route.pathPrefix || undefined) !== svc.route.pathPrefix;
      if (changed) svc.route = { hosts, pathPrefix: route.pathPrefix || undefined };
      if (changed || created) this.emit('routes-changed');
    } else if (created) {
      this.emit('routes-changed');
    }
    return svc;
  }

  /** Removes a service with no upstreams left; requests still held on it get a 404. */
  removeService(name: string): void {
    const svc = this.services.get(name);
    if (!svc) return;
    if (svc.upstreams.size > 0) {
      throw new BluegreenError('INVALID_TRANSITION', `service ${name} still has ${svc.upstreams.size} upstreams`);
    }
    this.services.delete(name);
    svc.holdQueue.rejectAll(new BluegreenError('NO_ROUTE', `service ${name} was removed`));
    this.emit('routes-changed');
  }

  addUpstream(spec: UpstreamSpec): Upstream {
    if (this.upstreams.has(spec.id)) {
      throw new BluegreenError('DUPLICATE_UPSTREAM', `upstream ${spec.name} (${spec.id}) is already registered`);
    }
    const svc = this.defineService(spec.service);
    const up = new Upstream(spec);
    this.upstreams.set(up.id, up);
    svc.upstreams.set(up.id, up);
    up.on('state', (from, to) => this.#onState(up, from, to));
    up.on('idle', () => this.#onIdle(up));
    this.#log.info(
      { upstream: up.name, id: up.id, service: up.service, address: up.address, color: up.color, state: up.state },
      'upstream added',
    );
    this.emit('upstream-added', up);
    this.#membershipChanged(svc);
    return up;
  }

  upstream(id: string): Upstream {
    const up = this.upstreams.get(id);
    if (!up) throw new BluegreenError('UNKNOWN_UPSTREAM', `no upstream with id ${id}`);
    return up;
  }

  /** `reason` (a probe's or Docker's verdict) is shown in the admin status. */
  setState(id: string, state: UpstreamState, reason?: string): void {
    this.upstream(id).setState(state, reason);
  }

  /**
   * Takes the upstream out of rotation at once; removes it when its last request or socket ends,
   * or at `deadline` (ms since epoch), when what remains is aborted. A second drain never extends
   * the first one's deadline.
   */
  drain(id: string, deadline?: number): Upstream {
    const up = this.upstream(id);
    if (up.state === 'gone') return up;
    const at = deadline ?? Date.now() + (up.drainTimeoutMs ?? this.#defaultDrainTimeoutMs);
    if (up.state === 'draining' && up.drainDeadline !== undefined && up.drainDeadline <= at) return up;
    up.drainDeadline = at;
    clearTimeout(this.#drainTimers.get(id));
    const timer = setTimeout(() => this.#onDrainDeadline(up), Math.max(0, at - Date.now()));
    timer.unref();
    this.#drainTimers.set(id, timer);
    if (up.state !== 'draining') {
      this.#log.info(
        { upstream: up.name, id: up.id, service: up.service, inFlight: up.inFlight, deadline: new Date(at).toISOString() },
        'upstream draining',
      );
      up.setState('draining'); // emits 'idle' at once when nothing is in flight
    }
    return up;
  }

  /** Removes an upstream now (its container died or was destroyed). */
  remove(id: string, reason: string): void {
    const up = this.upstreams.get(id);
    if (!up) return;
    clearTimeout(this.#drainTimers.get(id));
    this.#drainTimers.delete(id);
    this.upstreams.delete(id);
    const svc = this.services.get(up.service);
    svc?.upstreams.delete(id);
    if (up.state !== 'gone') up.setState('gone');
    up.removeAllListeners();
    this.#log.info({ upstream: up.name, id: up.id, service: up.service, reason, inFlight: up.inFlight }, 'upstream removed');
    this.emit('upstream-removed', up, reason);
    if (svc) this.#membershipChanged(svc);
  }

  pause(name: string): Service {
    const svc = this.#mustService(name);
    if (!svc.paused) {
      svc.paused = true;
      this.#log.info({ service: name }, 'service paused');
      this.emit('service-changed', svc);
    }
    return svc;
  }

  resume(name: string): Service {
    const svc = this.#mustService(name);
    if (svc.paused) {
      svc.paused = false;
      this.#log.info({ service: name, held: svc.holdQueue.size }, 'service resumed');
      this.emit('service-changed', svc);
      this.#releaseIfServable(svc);
    }
    return svc;
  }

  /** Manual color switch; an unknown color of the service is refused. */
  switchColor(name: string, color: string): Service {
    const svc = this.#mustService(name);
    if (!svc.colors().includes(color)) {
      throw new BluegreenError('UNKNOWN_UPSTREAM', `service ${name} has no upstream of color ${color}`);
    }
    this.#setActiveColor(svc, color, 'switched by operator');
    return svc;
  }

  setColorMode(name: string, mode: ColorMode): Service {
    const svc = this.#mustService(name);
    svc.colorMode = mode;
    this.emit('service-changed', svc);
    if (mode === 'auto') this.#membershipChanged(svc);
    return svc;
  }

  #mustService(name: string): Service {
    const svc = this.services.get(name);
    if (!svc) throw new BluegreenError('UNKNOWN_SERVICE', `no service named ${name}`);
    return svc;
  }

  #onState(up: Upstream, from: UpstreamState, to: UpstreamState): void {
    this.#log.info({ upstream: up.name, id: up.id, service: up.service, from, to }, 'upstream state');
    this.emit('upstream-state', up, from, to);
    const svc = this.services.get(up.service);
    if (svc) this.#membershipChanged(svc);
  }

  #membershipChanged(svc: Service): void {
    svc.invalidate();
    if (svc.colorMode === 'auto' && svc.colored) {
      const next = svc.autoColor();
      if (next !== svc.activeColor) this.#setActiveColor(svc, next, 'newest ready color');
    }
    this.#releaseIfServable(svc);
  }

  #setActiveColor(svc: Service, color: string | undefined, why: string): void {
    const from = svc.activeColor;
    svc.activeColor = color;
    svc.switchNote = why;
    svc.invalidate();
    this.#log.info({ service: svc.name, from, to: color, why }, 'active color switched');
    this.emit('service-changed', svc);
    this.#releaseIfServable(svc);
  }

  #releaseIfServable(svc: Service): void {
    if (svc.paused || svc.holdQueue.size === 0) return;
    if (svc.eligible().length > 0) svc.holdQueue.releaseAll();
  }

  #onIdle(up: Upstream): void {
    if (up.state === 'draining') this.remove(up.id, 'drained');
  }

  #onDrainDeadline(up: Upstream): void {
    if (!this.upstreams.has(up.id)) return;
    // Aborting releases the handles; the removal below, not 'idle', must account for it.
    up.removeAllListeners('idle');
    const aborted = up.abortAll(
      new BluegreenError('UPSTREAM_DRAIN_DEADLINE', `upstream ${up.name}: drain deadline passed`),
    );
    up.abortedAtDeadline += aborted;
    if (aborted > 0) {
      this.#log.warn({ upstream: up.name, id: up.id, service: up.service, aborted }, 'drain deadline passed; in-flight aborted');
    }
    this.remove(up.id, 'drain deadline');
  }
}
