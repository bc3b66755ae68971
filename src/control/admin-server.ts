import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { DataPlane } from '../dataplane/data-plane.ts';
import { BluegreenError } from '../errors.ts';
import type { Registry } from '../registry/registry.ts';
import { ControlActions } from './actions.ts';
import { AdminAuth } from './auth.ts';
import { assertAdminBindingAllowed } from './binding.ts';
import { DASHBOARD_HEADERS, loadDashboardAssets, type Asset } from './dashboard-assets.ts';
import { readJsonBody, sendApiError, sendJson } from './http-io.ts';
import { ProxyMetrics } from './metrics.ts';
import { numberField, safeStatus, type ConfigStatusProvider, type DiscoveryProvider } from './providers.ts';
import { StatusFeed } from './status-feed.ts';
import { buildStatus, type StatusSnapshot } from './status.ts';
import { Waits } from './wait.ts';
import { parseWaitQuery } from './wait-query.ts';

export { assertAdminBindingAllowed, isLoopbackHost } from './binding.ts';
export type { ConfigStatusProvider, DiscoveryProvider } from './providers.ts';

export interface AdminServerOptions {
  registry: Registry;
  dataPlane: DataPlane;
  logger: Logger;
  /** Bearer token; required for a listener on a non-loopback address. */
  token?: string | undefined;
  discovery?: DiscoveryProvider | undefined;
  configStatus?: ConfigStatusProvider | undefined;
}

const SERVICE_ACTION = /^\/api\/services\/([^/]+)\/(switch|pause|resume|color-mode)$/;
const DRAIN = /^\/api\/upstreams\/([^/]+)\/drain$/;

/**
 * The admin listener: JSON API (`/api/status`, `/api/events`, POST actions), Prometheus
 * `/metrics`, and the dashboard at `/`. Creating it starts collecting metrics from the data plane.
 */
export class AdminServer {
  readonly metrics: ProxyMetrics;
  readonly #opts: AdminServerOptions;
  readonly #auth: AdminAuth;
  readonly #actions: ControlActions;
  readonly #feed: StatusFeed;
  readonly #waits: Waits;
  readonly #assets: Map<string, Asset>;
  readonly #server: Server;
  #address: AddressInfo | undefined;

  constructor(opts: AdminServerOptions) {
    this.#opts = opts;
    this.#auth = new AdminAuth(opts.token || undefined);
    this.#actions = new ControlActions(opts.registry);
    this.#assets = loadDashboardAssets();
    this.metrics = new ProxyMetrics(opts);
    this.#feed = new StatusFeed(opts.registry, () => this.status());
    this.#waits = new Waits(opts.registry, opts.discovery);
    this.#server = createServer({ keepAliveTimeout: 5_000, requestTimeout: 30_000 }, (req, res) => {
      this.#handle(req, res).catch((err: unknown) => sendApiError(res, err));
    });
  }

  get address(): AddressInfo | undefined {
    return this.#address;
  }

  /** `GET /api/wait` requests in progress. */
  get waiting(): number {
    return this.#waits.size;
  }

  status(): StatusSnapshot {
    return buildStatus(this.#opts);
  }

  /** Refuses (BAD_CONFIG) a non-loopback address without a token, like the proxy's startup does. */
  async listen(addr: { host: string; port: number }): Promise<AddressInfo> {
    assertAdminBindingAllowed(addr.host, this.#opts.token || undefined);
    return new Promise<AddressInfo>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen({ host: addr.host, port: addr.port }, () => {
        this.#server.off('error', reject);
        this.#address = this.#server.address() as AddressInfo;
        this.#opts.logger.info(
          { address: this.#address.address, port: this.#address.port, token: this.#auth.tokenRequired },
          'admin API listening',
        );
        resolve(this.#address);
      });
    });
  }

  async close(): Promise<void> {
    this.#feed.close();
    this.#waits.close();
    this.metrics.dispose();
    if (!this.#server.listening) return;
    const closed = new Promise<void>((r) => this.#server.close(() => r()));
    this.#server.closeAllConnections();
    await closed;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://admin').pathname;
    const method = req.method ?? 'GET';
    if (path === '/healthz') {
      // Readiness for the image's HEALTHCHECK and for upgrades (a new instance beside the old one is
      // ready once it serves with Docker's containers known): no token, nothing beyond that.
      allow(req, 'GET');
      const plane = this.#opts.dataPlane;
      const d = this.#opts.discovery;
      const synced = !d || numberField(safeStatus(d), 'lastSyncAt') !== undefined;
      const ok = plane.listening && !plane.closing && synced;
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain', 'cache-control': 'no-store' });
      res.end(ok ? 'ok\n' : plane.listening && !plane.closing ? 'not ready: no sync with Docker yet\n' : 'not serving\n');
      return;
    }
    const asset = method === 'GET' || method === 'HEAD' ? this.#assets.get(path) : undefined;
    this.#auth.check(req, asset === undefined);
    if (asset) {
      res.writeHead(200, { ...DASHBOARD_HEADERS, 'content-type': asset.contentType, 'content-length': asset.body.length });
      res.end(method === 'HEAD' ? undefined : asset.body);
      return;
    }
    if (path === '/api/status') {
      allow(req, 'GET');
      return sendJson(res, 200, this.status());
    }
    if (path === '/api/events') {
      if (method !== 'GET') throw new BluegreenError('METHOD_NOT_ALLOWED', `${method} is not allowed here; use GET`);
      return this.#feed.add(res);
    }
    if (path === '/api/wait') {
      // A read: it changes nothing, so it needs what GET /api/status needs (the token when one is set).
      allow(req, 'GET');
      return this.#waits.add(parseWaitQuery(new URL(req.url ?? '/', 'http://admin').searchParams), res);
    }
    if (path === '/metrics') {
      allow(req, 'GET');
      const text = await this.metrics.metrics();
      res.writeHead(200, { 'content-type': this.metrics.contentType, 'cache-control': 'no-store' });
      res.end(text);
      return;
    }
    const svc = SERVICE_ACTION.exec(path);
    if (svc) {
      allow(req, 'POST');
      const [name, action] = [decode(svc[1]!), svc[2]!];
      const body = await readJsonBody(req);
      const result =
        action === 'switch'
          ? this.#actions.switchColor(name, body)
          : action === 'pause'
            ? this.#actions.pause(name)
            : action === 'resume'
              ? this.#actions.resume(name)
              : this.#actions.setColorMode(name, body);
      this.#audit(req, action, name, body);
      return sendJson(res, 200, result);
    }
    const drain = DRAIN.exec(path);
    if (drain) {
      allow(req, 'POST');
      const body = await readJsonBody(req);
      const result = this.#actions.drain(decode(drain[1]!), body);
      this.#audit(req, 'drain', result.id, body);
      return sendJson(res, 200, result);
    }
    throw new BluegreenError('NOT_FOUND', `no admin endpoint ${method} ${path}`);
  }

  #audit(req: IncomingMessage, action: string, target: string, body: Record<string, unknown>): void {
    this.#opts.logger.info({ action, target, body, remote: req.socket.remoteAddress }, 'admin action');
  }
}

function allow(req: IncomingMessage, method: 'GET' | 'POST'): void {
  if (req.method === method || (method === 'GET' && req.method === 'HEAD')) return;
  throw new BluegreenError('METHOD_NOT_ALLOWED', `${req.method} is not allowed here; use ${method}`);
}

function decode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new BluegreenError('BAD_REQUEST', `bad path segment ${JSON.stringify(segment)}`);
  }
}
