import { Counter, Gauge, Histogram, Registry as PromRegistry, collectDefaultMetrics } from 'prom-client';
import type { DataPlane } from '../dataplane/data-plane.ts';
import type { RequestObserver } from '../dataplane/request-observer.ts';
import type { Registry } from '../registry/registry.ts';
import type { Service } from '../registry/service.ts';
import type { Upstream } from '../registry/upstream.ts';
import type { UpstreamState } from '../registry/upstream-state.ts';
import { registerProviderMetrics } from './provider-metrics.ts';
import type { ConfigStatusProvider, DiscoveryProvider } from './providers.ts';
import { RequestCounts, STATUS_CLASSES, classIndex } from './request-counts.ts';

/** How long the request series of a removed upstream name stay visible (a few scrape intervals). */
const FORGET_AFTER_MS = 5 * 60_000;

export interface MetricsSources {
  registry: Registry;
  dataPlane: DataPlane;
  discovery?: DiscoveryProvider | undefined;
  configStatus?: ConfigStatusProvider | undefined;
}

/**
 * `GET /metrics`: the proxy's Prometheus metrics in a private prom-client registry. Request and
 * retry counts come from the data plane's RequestObserver hook; gauges are read from the registry
 * at scrape time; drains are timed from the registry's events (draining → removed).
 */
export class ProxyMetrics implements RequestObserver {
  readonly register = new PromRegistry();
  readonly #src: MetricsSources;
  readonly #counts = new RequestCounts();
  readonly #hold: Histogram<'service'>;
  readonly #drain: Histogram<'service' | 'outcome'>;
  readonly #drainAborted: Counter<'service'>;
  readonly #drainStarted = new Map<string, number>();
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #onState = (up: Upstream, _from: UpstreamState, to: UpstreamState) => {
    if (to === 'draining') this.#drainStarted.set(up.id, performance.now());
  };
  readonly #onRemoved = (up: Upstream, reason: string) => this.#removed(up, reason);

  constructor(src: MetricsSources) {
    this.#src = src;
    const registers = [this.register];
    const counts = this.#counts;
    const services = () => src.registry.services.values();
    const upstreams = () => src.registry.upstreams.values();

    const requests: Counter<'service' | 'upstream' | 'status_class'> = new Counter({
      name: 'bluegreen_requests_total',
      help: 'Client requests by service, upstream (last one tried; empty when none) and status class ("aborted": the response never completed).',
      labelNames: ['service', 'upstream', 'status_class'],
      registers,
      collect() {
        requests.reset();
        for (const r of counts.rows()) {
          r.byClass.forEach((n, i) => {
            if (n > 0) requests.inc({ service: r.service, upstream: r.upstream, status_class: STATUS_CLASSES[i] }, n);
          });
        }
      },
    });
    const retries: Counter<'service' | 'upstream'> = new Counter({
      name: 'bluegreen_retries_total',
      help: 'Requests replayed after an attempt on this upstream failed.',
      labelNames: ['service', 'upstream'],
      registers,
      collect() {
        retries.reset();
        for (const r of counts.rows()) if (r.retries > 0) retries.inc({ service: r.service, upstream: r.upstream }, r.retries);
      },
    });
    const inFlight: Gauge<'service' | 'upstream' | 'color'> = new Gauge({
      name: 'bluegreen_upstream_in_flight',
      help: 'Requests and WebSockets in flight on each upstream.',
      labelNames: ['service', 'upstream', 'color'],
      registers,
      collect() {
        inFlight.reset();
        for (const u of upstreams()) inFlight.set({ service: u.service, upstream: u.name, color: u.color ?? '' }, u.inFlight);
      },
    });
    const states: Gauge<'service' | 'state'> = new Gauge({
      name: 'bluegreen_upstreams',
      help: 'Upstreams by service and state.',
      labelNames: ['service', 'state'],
      registers,
      collect() {
        states.reset();
        for (const u of upstreams()) states.inc({ service: u.service, state: u.state });
      },
    });
    const held: Gauge<'service'> = new Gauge({
      name: 'bluegreen_held_requests',
      help: 'Requests waiting in a service hold queue now.',
      labelNames: ['service'],
      registers,
      collect() {
        held.reset();
        for (const s of services()) held.set({ service: s.name }, s.holdQueue.size);
      },
    });
    const holdTimeouts: Counter<'service'> = new Counter({
      name: 'bluegreen_hold_timeouts_total',
      help: 'Held requests that gave up waiting for a ready upstream (answered 503).',
      labelNames: ['service'],
      registers,
      collect() {
        holdTimeouts.reset();
        for (const s of services()) holdTimeouts.inc({ service: s.name }, s.holdTimeouts);
      },
    });
    const paused: Gauge<'service'> = new Gauge({
      name: 'bluegreen_service_paused',
      help: '1 while a service is paused (its requests are held).',
      labelNames: ['service'],
      registers,
      collect() {
        paused.reset();
        for (const s of services()) paused.set({ service: s.name }, s.paused ? 1 : 0);
      },
    });
    const active: Gauge<'service' | 'color'> = new Gauge({
      name: 'bluegreen_service_active_color',
      help: '1 for the active color of each blue/green service.',
      labelNames: ['service', 'color'],
      registers,
      collect() {
        active.reset();
        for (const s of services()) if (s.activeColor !== undefined) active.set({ service: s.name, color: s.activeColor }, 1);
      },
    });
    const conflicts: Gauge = new Gauge({
      name: 'bluegreen_router_conflicts',
      help: 'Routing conflicts (two services claiming the same host and path).',
      registers,
      collect() {
        conflicts.set(src.dataPlane.router.conflicts.length);
      },
    });
    void [requests, retries, inFlight, states, held, holdTimeouts, paused, active, conflicts];

    this.#hold = new Histogram({
      name: 'bluegreen_hold_duration_seconds',
      help: 'How long requests waited in a hold queue for a ready upstream.',
      labelNames: ['service'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.#drain = new Histogram({
      name: 'bluegreen_drain_duration_seconds',
      help: 'From an upstream starting to drain to its removal; outcome drained, deadline (what was left was aborted) or removed (it went away first).',
      labelNames: ['service', 'outcome'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
      registers,
    });
    this.#drainAborted = new Counter({
      name: 'bluegreen_drain_aborted_total',
      help: 'In-flight requests and WebSockets aborted because a drain deadline passed.',
      labelNames: ['service'],
      registers,
    });
    registerProviderMetrics(registers, src.discovery, src.configStatus);
    // prom-client's process and Node.js metrics (RSS, heap, open fds, event loop lag, GC), under
    // the same prefix as ours: bluegreen_process_resident_memory_bytes, bluegreen_nodejs_heap_size_used_bytes...
    collectDefaultMetrics({ register: this.register, prefix: 'bluegreen_' });

    src.registry.on('upstream-state', this.#onState);
    src.registry.on('upstream-removed', this.#onRemoved);
    src.dataPlane.observer = this;
  }

  get contentType(): string {
    return this.register.contentType;
  }

  metrics(): Promise<string> {
    return this.register.metrics();
  }

  onResponse(service: Service | undefined, upstream: Upstream | undefined, status: number): void {
    this.#counts.row(service, upstream).byClass[classIndex(status)]!++;
  }

  onRetry(service: Service, upstream: Upstream): void {
    this.#counts.row(service, upstream).retries++;
  }

  onHold(service: Service, ms: number): void {
    this.#hold.observe({ service: service.name }, ms / 1000);
  }

  /** Stops observing the data plane and the registry. */
  dispose(): void {
    const { registry, dataPlane } = this.#src;
    registry.off('upstream-state', this.#onState);
    registry.off('upstream-removed', this.#onRemoved);
    if (dataPlane.observer === this) dataPlane.observer = undefined;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
  }

  #removed(up: Upstream, reason: string): void {
    const started = this.#drainStarted.get(up.id);
    if (started !== undefined) {
      this.#drainStarted.delete(up.id);
      // Aborting at the deadline can empty the upstream synchronously, so the registry may report
      // it as 'drained' from inside the abort: a passed deadline decides.
      const late = reason === 'drain deadline' || (up.drainDeadline !== undefined && Date.now() >= up.drainDeadline);
      const outcome = late ? 'deadline' : reason === 'drained' ? 'drained' : 'removed';
      this.#drain.observe({ service: up.service, outcome }, (performance.now() - started) / 1000);
    }
    // The registry adds to abortedAtDeadline right after the aborts, which may be after this event.
    queueMicrotask(() => {
      if (up.abortedAtDeadline > 0) this.#drainAborted.inc({ service: up.service }, up.abortedAtDeadline);
    });
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      for (const u of this.#src.registry.upstreams.values()) if (u.service === up.service && u.name === up.name) return;
      this.#counts.forget(up.service, up.name);
    }, FORGET_AFTER_MS);
    timer.unref();
    this.#timers.add(timer);
  }
}
