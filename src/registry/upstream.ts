import { EventEmitter } from 'node:events';
import { BluegreenError } from '../errors.ts';
import { canTransition, type UpstreamState } from './upstream-state.ts';

/** What discovery or config knows about one upstream when it registers it. */
export interface UpstreamSpec {
  /** Stable id: the container id, the task id, or `static:<service>:<address>`. */
  id: string;
  /** Human name for logs and status: the container name. */
  name: string;
  service: string;
  host: string;
  port: number;
  color?: string | undefined;
  /** Initial state; `starting` unless the caller already knows it is ready. */
  state?: 'starting' | 'ready';
  /** Drain bound used when a drain does not name its own deadline. */
  drainTimeoutMs?: number | undefined;
  /** When the container was created (ms since epoch); used to order colors. */
  createdAt?: number | undefined;
  /** Other ids the upstream is known by (a swarm task container's task id), for lookups such as /api/wait. */
  aliases?: readonly string[] | undefined;
}

/** One request or upgraded socket in flight on an upstream; `abort` ends it at a drain deadline. */
export interface InFlightHandle {
  kind: 'http' | 'websocket';
  abort(reason: Error): void;
}

export interface UpstreamEvents {
  state: [from: UpstreamState, to: UpstreamState];
  idle: [];
}

/**
 * One container's address in a service. It only counts and changes state: it knows its in-flight
 * requests and sockets (each with an abort handle) and tells when the count reaches zero.
 */
export class Upstream extends EventEmitter<UpstreamEvents> {
  readonly id: string;
  readonly name: string;
  readonly service: string;
  readonly host: string;
  readonly port: number;
  readonly color: string | undefined;
  readonly drainTimeoutMs: number | undefined;
  readonly createdAt: number;
  readonly origin: string;
  readonly aliases: readonly string[];

  #state: UpstreamState;
  #inFlight = new Set<InFlightHandle>();
  /** Until this time (ms), a connect failure makes the balancer try others first. */
  failedUntil = 0;
  /** Why it is in its state (a probe's or Docker's verdict), '' when nobody said; for the admin status. */
  stateReason = '';
  drainDeadline: number | undefined;
  requests = 0;
  failures = 0;
  retries = 0;
  abortedAtDeadline = 0;

  constructor(spec: UpstreamSpec) {
    super();
    this.id = spec.id;
    this.name = spec.name;
    this.service = spec.service;
    this.host = spec.host;
    this.port = spec.port;
    this.color = spec.color;
    this.drainTimeoutMs = spec.drainTimeoutMs;
    this.createdAt = spec.createdAt ?? Date.now();
    this.aliases = spec.aliases ?? [];
    this.#state = spec.state ?? 'starting';
    const h = this.host.includes(':') ? `[${this.host}]` : this.host;
    this.origin = `http://${h}:${this.port}`;
  }

  get state(): UpstreamState {
    return this.#state;
  }

  get inFlight(): number {
    return this.#inFlight.size;
  }

  get webSockets(): number {
    let n = 0;
    for (const h of this.#inFlight) if (h.kind === 'websocket') n++;
    return n;
  }

  get address(): string {
    return `${this.host}:${this.port}`;
  }

  setState(to: UpstreamState, reason?: string): void {
    const from = this.#state;
    if (reason !== undefined && canTransition(from, to)) this.stateReason = reason;
    if (from === to) return;
    if (!canTransition(from, to)) {
      throw new BluegreenError(
        'INVALID_TRANSITION',
        `upstream ${this.name} (${this.address}): cannot go from ${from} to ${to}`,
      );
    }
    this.#state = to;
    this.emit('state', from, to);
    if (to === 'draining' && this.#inFlight.size === 0) this.emit('idle');
  }

  /** Counts `handle` as in flight until `release(handle)`; returns that release as a function. */
  track(handle: InFlightHandle): () => void {
    this.add(handle);
    return () => this.release(handle);
  }

  /** Counts `handle` as in flight (the allocation-free form of `track`). */
  add(handle: InFlightHandle): void {
    this.#inFlight.add(handle);
    this.requests++;
  }

  /** Ends `handle`'s count; releasing twice counts once. */
  release(handle: InFlightHandle): void {
    if (this.#inFlight.delete(handle) && this.#inFlight.size === 0 && this.#state === 'draining') this.emit('idle');
  }

  /** Aborts everything still in flight; returns how many were aborted. */
  abortAll(reason: Error): number {
    const handles = [...this.#inFlight];
    for (const h of handles) h.abort(reason);
    return handles.length;
  }

  isFailed(now: number): boolean {
    return this.failedUntil > now;
  }
}
