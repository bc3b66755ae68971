import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { BluegreenError, isBluegreenError } from '../errors.ts';
import type { Registry } from '../registry/registry.ts';
import type { Service } from '../registry/service.ts';
import type { Upstream } from '../registry/upstream.ts';
import { acquireUpstream } from './acquire.ts';
import { LeastInFlightBalancer, type Balancer } from './balancer.ts';
import { watchBodyIdle } from './client-limits.ts';
import { sendError, sendSocketError } from './error-response.ts';
import { TrustedProxies, scrubUntrustedForwarded, upstreamRequestHeaders } from './forwarded-headers.ts';
import { IDEMPOTENT_METHODS, forwardAttempt, needsExpect, type AttemptResult, type FailedAttempt } from './forwarder.ts';
import type { AbortHook } from './hold-queue.ts';
import { DEFAULT_DATAPLANE_OPTIONS, type DataPlaneOptions } from './options.ts';
import { NO_BODY, hasRequestBody, isReplayable, readRequestBody, type RequestBody } from './request-body.ts';
import type { RequestObserver } from './request-observer.ts';
import { Router } from './router.ts';
import { UpstreamPools } from './upstream-pools.ts';
import { WebSocketForwarder } from './websocket-forwarder.ts';

/** Failures after the request may have reached an upstream are retried at most this many times. */
const MAX_RESET_RETRIES = 2;

/** Counters the admin API and metrics read. */
export interface DataPlaneStats {
  requests: number;
  active: number;
  retries: number;
  failed: number;
  held: number;
  holdTimeouts: number;
  /** Requests that waited for discovery's first sync (held, not answered 404). */
  heldBeforeSync: number;
}

/**
 * Router → service → balancer → forwarder. Turns each client request into attempts on upstreams,
 * holds it while its service has no ready upstream, and replays it where that is safe.
 */
export class DataPlane {
  readonly registry: Registry;
  readonly options: DataPlaneOptions;
  readonly stats: DataPlaneStats = { requests: 0, active: 0, retries: 0, failed: 0, held: 0, holdTimeouts: 0, heldBeforeSync: 0 };
  /** Told about every request's outcome, retry and hold (metrics); none by default. */
  observer: RequestObserver | undefined;
  #router: Router;
  readonly #log: Logger;
  readonly #pools: UpstreamPools;
  readonly #balancer: Balancer = new LeastInFlightBalancer();
  #trusted: TrustedProxies;
  readonly #ws: WebSocketForwarder;
  #closing = false;
  readonly #optionsWatchers: (() => void)[] = [];
  #idleWaiters: (() => void)[] = [];
  /** Requests that arrive before discovery's first sync are held, not answered 404. */
  #ready: Promise<void> = Promise.resolve();
  #synced = true;

  constructor(registry: Registry, log: Logger, options: Partial<DataPlaneOptions> = {}) {
    this.registry = registry;
    this.options = { ...DEFAULT_DATAPLANE_OPTIONS, ...options };
    this.#log = log;
    this.#trusted = new TrustedProxies(this.options.trustedProxies);
    this.#pools = new UpstreamPools(registry, () => ({
      connectTimeoutMs: this.options.connectTimeoutMs,
      headersTimeoutMs: this.options.headersTimeoutMs,
      bodyTimeoutMs: this.options.bodyTimeoutMs,
      keepAliveTimeoutMs: this.options.upstreamKeepAliveMs,
      connectionsPerUpstream: this.options.connectionsPerUpstream,
      continueTimeoutMs: this.options.expectContinueTimeoutMs,
    }));
    this.#ws = new WebSocketForwarder(log);
    this.#router = new Router();
    this.#rebuildRoutes();
    registry.on('routes-changed', () => this.#rebuildRoutes());
  }

  /**
   * Applies changed settings live (config reload). Hold, retry, failure and timeout settings take
   * effect for the next request; pool settings for pools created from now on.
   */
  updateOptions(partial: Partial<DataPlaneOptions>): void {
    if (partial.trustedProxies) this.#trusted = new TrustedProxies(partial.trustedProxies);
    const defaultChanged = 'defaultService' in partial && partial.defaultService !== this.options.defaultService;
    Object.assign(this.options, partial);
    if (defaultChanged) this.#rebuildRoutes();
    for (const f of this.#optionsWatchers) f();
  }

  /** `f` runs after every updateOptions (the listeners apply client limits to their servers). */
  onOptionsChanged(f: () => void): void {
    this.#optionsWatchers.push(f);
  }

  get router(): Router {
    return this.#router;
  }

  get closing(): boolean {
    return this.#closing;
  }

  /** Holds routing until `ready` settles (discovery's first sync), bounded by the hold timeout. */
  waitForSync(ready: Promise<void>): void {
    this.#synced = false;
    this.#ready = ready.then(
      () => {
        this.#synced = true;
      },
      () => {
        this.#synced = true;
      },
    );
  }

  #rebuildRoutes(): void {
    this.#router = new Router(this.registry.services.values(), this.options.defaultService);
    for (const c of this.#router.conflicts) this.#log.warn({ conflict: c }, 'routing conflict');
  }

  readonly handleRequest = (req: IncomingMessage, res: ServerResponse): void => {
    this.stats.requests++;
    this.stats.active++;
    const ctx = new RequestContext(req, res);
    res.on('close', () => this.#closed(ctx)); // 'close' is emitted once: no once() wrapper per request
    if (this.#closing) res.setHeader('connection', 'close');
    void this.#handle(req, res, ctx);
  };

  /** A bug, not a client or upstream failure: logged, and the client gets a 502 rather than a hang. */
  #unexpected(err: unknown, ctx: RequestContext): void {
    this.#log.error({ err, url: ctx.req.url }, 'unexpected error handling request');
    sendError(ctx.res, 'UPSTREAM_BAD_RESPONSE', 'internal proxy error');
  }

  #closed(ctx: RequestContext): void {
    this.stats.active--;
    if (this.stats.active === 0 && this.#idleWaiters.length) this.#notifyIdle();
    const res = ctx.res;
    if (!res.writableFinished) ctx.abort();
    const status = res.writableFinished ? res.statusCode : 0;
    this.observer?.onResponse(ctx.service, ctx.upstream, status, performance.now() - ctx.started);
    if (this.options.accessLog) {
      const req = ctx.req;
      this.#log.info(
        {
          method: req.method,
          url: req.url,
          host: req.headers.host,
          client: req.socket.remoteAddress,
          status,
          ms: Math.round((performance.now() - ctx.started) * 10) / 10,
          service: ctx.service?.name,
          upstream: ctx.upstream?.name,
        },
        'access',
      );
    }
  }

  /** Before discovery's first sync: known routes are served, others wait for the sync (bounded). */
  async #routeBeforeSync(host: string | undefined, url: string, signal: AbortHook): Promise<Service | BluegreenError> {
    // A request for a route already known (static upstreams) is served at once, also while the
    // Docker Engine is unreachable; any other may be for a service discovery has not synced yet:
    // it waits, bounded by the hold timeout.
    const early = this.#router.match(host, url);
    if (early.service && (!early.service.isDefault || early.service.eligible().length > 0)) return early.service;
    this.stats.heldBeforeSync++;
    await waitOrAbort(this.#ready, this.options.holdTimeoutMs, signal);
    return this.#routeNow(host, url);
  }

  #routeNow(host: string | undefined, url: string): Service | BluegreenError {
    const m = this.#router.match(host, url);
    return m.service ?? new BluegreenError('NO_ROUTE', m.reason);
  }

  /** Never rejects: every error ends in a response (or a destroyed socket). */
  async #handle(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): Promise<void> {
    try {
      const url = req.url ?? '/';
      const routed = this.#synced
        ? this.#routeNow(req.headers.host, url)
        : await this.#routeBeforeSync(req.headers.host, url, ctx);
      if (routed instanceof BluegreenError) return sendError(res, routed.code, routed.message);
      const svc = routed;
      ctx.service = svc;

      let body: RequestBody = NO_BODY;
      if (hasRequestBody(req)) {
        watchBodyIdle(req, res, this.options.clientBodyIdleTimeoutMs);
        try {
          body = await readRequestBody(req, this.options.retryBufferBytes);
        } catch {
          return; // the client went away mid-body
        }
      } else req.resume();
      // Made for the first attempt, not before: a held request does not keep them while it waits.
      let headers: string[] | undefined;
      let tried: Set<Upstream> | undefined;
      let resetRetries = 0;
      let last: FailedAttempt | undefined;
      for (;;) {
        // Fast path: a ready upstream at once, no allocation. Otherwise hold (or retry elsewhere).
        let up = tried === undefined && !svc.paused ? this.#balancer.pick(svc.eligible(), undefined, Date.now()) : undefined;
        if (!up) {
          let holdStart = 0;
          try {
            up = await acquireUpstream(svc, {
              balancer: this.#balancer,
              tried,
              deadline: Date.now() + this.options.holdTimeoutMs - (performance.now() - ctx.started),
              signal: ctx,
              onHold: () => {
                holdStart = Date.now();
                svc.held++;
                this.stats.held++;
              },
            });
          } catch (err) {
            if (isBluegreenError(err, 'CLIENT_ABORTED')) return;
            if (isBluegreenError(err, 'HOLD_TIMEOUT')) {
              svc.holdTimeouts++;
              this.stats.holdTimeouts++;
            }
            this.stats.failed++;
            if (last && isBluegreenError(err, 'HOLD_TIMEOUT')) {
              return sendError(res, 'UPSTREAM_CONNECT_FAILED', `service ${svc.name}: ${last.error.message}; no other upstream answered in time`);
            }
            const e = err as BluegreenError;
            return sendError(res, e.code, e.message, Math.max(1, Math.ceil(this.options.holdTimeoutMs / 10_000)));
          } finally {
            if (holdStart) {
              const held = Date.now() - holdStart;
              if (held > svc.maxHoldMs) svc.maxHoldMs = held;
              this.observer?.onHold(svc, held);
            }
          }
        }
        ctx.upstream = up;
        const r = await forwardAttempt({
          upstream: up,
          dispatcher: this.#pools.get(up),
          continueClient: this.options.expectContinueTimeoutMs > 0 && needsExpect(req.method ?? 'GET', body) ? this.#pools.continueClient(up) : undefined,
          req,
          res,
          headers: (headers ??= upstreamRequestHeaders(req, (req.socket as { encrypted?: boolean }).encrypted === true, this.#trusted)),
          body,
        });
        if (r.outcome !== 'failed') return;
        last = r;
        const method = req.method ?? 'GET';
        const replayable = isReplayable(body) || r.bodyIntact;
        up.failures++;
        if (r.phase === 'connect') up.failedUntil = Date.now() + this.options.failDurationMs;
        const safe =
          replayable &&
          !res.destroyed &&
          (r.phase === 'connect' ||
            (r.phase === 'reset' && (IDEMPOTENT_METHODS.has(method) || !r.requestSent) && resetRetries++ < MAX_RESET_RETRIES));
        this.#log.warn(
          { upstream: up.name, service: svc.name, method, url, phase: r.phase, err: r.error.message, retry: safe },
          safe ? 'upstream attempt failed; retrying' : 'upstream attempt failed',
        );
        if (!safe) {
          this.stats.failed++;
          return sendError(res, failureCode(r), failureMessage(up, r, replayable));
        }
        (tried ??= new Set()).add(up);
        up.retries++;
        this.stats.retries++;
        this.observer?.onRetry(svc, up);
      }
  
    } catch (err) {
      this.#unexpected(err, ctx);
    }
  }

  readonly handleUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', () => {});
    this.#upgrade(req, socket, head).catch((err: unknown) => {
      this.#log.error({ err, url: req.url }, 'unexpected error handling upgrade');
      socket.destroy();
    });
  };

  async #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const ac = new AbortController();
    socket.once('close', () => ac.abort());
    const url = req.url ?? '/';
    const routed = this.#synced ? this.#routeNow(req.headers.host, url) : await this.#routeBeforeSync(req.headers.host, url, ac.signal);
    if (routed instanceof BluegreenError) return sendSocketError(socket, routed.code, routed.message);
    let up: Upstream;
    try {
      up = await acquireUpstream(routed, {
        balancer: this.#balancer,
        tried: new Set(),
        deadline: Date.now() + this.options.holdTimeoutMs,
        signal: ac.signal,
      });
    } catch (err) {
      const e = err as BluegreenError;
      if (e.code !== 'CLIENT_ABORTED') sendSocketError(socket, e.code, e.message);
      return;
    }
    scrubUntrustedForwarded(req, this.#trusted);
    this.#ws.forward(up, req, socket, head);
  }

  /** Resolves when no client request is in progress. */
  idle(): Promise<void> {
    if (this.stats.active === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  #notifyIdle(): void {
    const w = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const f of w) f();
  }

  /** Set by the listener while it accepts connections. */
  listening = false;

  /** Stop phase 1: answer everything from now on with `Connection: close`. */
  beginClosing(): void {
    this.#closing = true;
  }

  /** Stop phase 2: abort what is left (held requests get 503) and close upstream pools. */
  async abortRemaining(): Promise<number> {
    let aborted = 0;
    const reason = new BluegreenError('SHUTTING_DOWN', 'proxy is shutting down');
    for (const svc of this.registry.services.values()) aborted += svc.holdQueue.rejectAll(reason);
    for (const up of this.registry.upstreams.values()) aborted += up.abortAll(reason);
    this.#ws.close();
    await this.#pools.closeAll();
    return aborted;
  }
}

/**
 * Per-request state shared by the handler and the close listener. It is also the abort hook of a
 * request that waits (one listener: a request waits for one thing at a time, the first sync or its
 * hold queue), so waiting costs no AbortController.
 */
class RequestContext implements AbortHook {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly started = performance.now();
  service: Service | undefined;
  upstream: Upstream | undefined;
  #aborted = false;
  #onAbort: (() => void) | undefined;

  constructor(req: IncomingMessage, res: ServerResponse) {
    this.req = req;
    this.res = res;
  }

  /** True once the client went away before its response was complete. */
  get aborted(): boolean {
    return this.#aborted || (this.res.destroyed && !this.res.writableFinished);
  }

  addEventListener(_type: 'abort', listener: () => void): void {
    this.#onAbort = listener;
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    if (this.#onAbort === listener) this.#onAbort = undefined;
  }

  /** The client went away before its response was complete. */
  abort(): void {
    if (this.#aborted) return;
    this.#aborted = true;
    const f = this.#onAbort;
    this.#onAbort = undefined;
    f?.();
  }
}

function failureCode(r: Extract<AttemptResult, { outcome: 'failed' }>) {
  if (r.phase === 'headers-timeout') return 'UPSTREAM_HEADERS_TIMEOUT' as const;
  if (r.phase === 'connect') return 'UPSTREAM_CONNECT_FAILED' as const;
  if (r.phase === 'bad-response') return 'UPSTREAM_BAD_RESPONSE' as const;
  return 'UPSTREAM_RESET' as const;
}

function failureMessage(up: Upstream, r: Extract<AttemptResult, { outcome: 'failed' }>, replayable: boolean): string {
  const what = {
    connect: 'could not connect to',
    reset: 'lost the connection to',
    'headers-timeout': 'timed out waiting for response headers from',
    'bad-response': 'got an invalid response from',
  }[r.phase];
  const why = !replayable && r.phase !== 'headers-timeout' ? ' (request body too large to replay)' : '';
  return `${what} upstream ${up.name} (${up.address}) of service ${up.service}: ${r.error.message}${why}`;
}

function waitOrAbort(p: Promise<void>, ms: number, signal: AbortHook): Promise<void> {
  return new Promise<void>((resolve) => {
    // The timeout ends the wait like the sync or an abort: the listener is removed either way (a
    // request context has one listener slot, which its hold queue wait uses next).
    const done = () => {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    void p.then(done);
  });
}
