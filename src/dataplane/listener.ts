import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { Server as NetServer, type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TlsOptions } from 'node:tls';
import type { Logger } from 'pino';
import { ClientConnections } from './client-connections.ts';
import { ClientLimits, checkUpgrade, refuseRequest } from './client-limits.ts';
import type { DataPlane } from './data-plane.ts';
import { sendSocketError } from './error-response.ts';

/** How often a stopping listener looks for connections that have become idle long enough to close. */
const STOP_POLL_MS = 50;

export interface ListenAddress {
  host: string;
  port: number;
}

/** Parses `HOST:PORT`, `[v6]:PORT` or `:PORT`. */
export function parseListenAddress(text: string): ListenAddress {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new Error(`listen address ${JSON.stringify(text)} is not HOST:PORT`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

export interface ListenerOptions {
  /**
   * Serve HTTPS instead: HTTP/1.1 over TLS (ALPN http/1.1). SNICallback picks each handshake's
   * certificate; cert/key (or setSecureContext later) serve clients that send no SNI.
   */
  tls?: Pick<TlsOptions, 'SNICallback' | 'cert' | 'key'>;
  /** Answer requests and upgrades with these instead of the data plane (the HTTP to HTTPS redirect). */
  handlers?: {
    request: (req: IncomingMessage, res: ServerResponse) => void;
    upgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
  };
}

/**
 * The client-facing HTTP (or HTTPS) listener. On stop it stops accepting, closes idle keep-alive
 * connections, lets in-flight requests finish within the grace period, then aborts the rest.
 */
export class Listener {
  readonly server: Server | HttpsServer;
  readonly tls: boolean;
  readonly #plane: DataPlane;
  readonly #log: Logger;
  /** Tracked from the first listen(), so that a stop knows which connections are idle and since when. */
  #connections: ClientConnections | undefined;

  constructor(plane: DataPlane, log: Logger, opts: ListenerOptions = {}) {
    this.#plane = plane;
    this.#log = log;
    this.tls = opts.tls !== undefined;
    const http = ClientLimits.serverOptions(plane.options);
    const handleRequest = opts.handlers?.request ?? plane.handleRequest;
    const handleUpgrade = opts.handlers?.upgrade ?? plane.handleUpgrade;
    // Requests that break a client limit or are not well formed never reach the data plane.
    const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
      const refusal = limits.check(req);
      if (refusal) return refuseRequest(res, refusal);
      handleRequest(req, res);
    };
    this.server = opts.tls
      ? createHttpsServer({ ...http, ...opts.tls, handshakeTimeout: plane.options.clientHeaderTimeoutMs, ALPNProtocols: ['http/1.1'] }, onRequest)
      : createServer(http, onRequest);
    // Connection limit, parse errors (clientError), CONNECT, and the server's own limits, kept in
    // step with the settings (client-limits.ts).
    const limits = new ClientLimits(this.server, this.tls, log, plane.options);
    plane.onOptionsChanged(() => limits.apply());
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const refusal = limits.check(req) ?? checkUpgrade(req);
      if (refusal) return sendSocketError(socket, refusal.code, refusal.message);
      handleUpgrade(req, socket, head);
    });
    // Failed handshakes (no certificate for the name, a client that distrusts it or gives up) are
    // the clients' business: logged at debug level; the socket is destroyed either way.
    if (opts.tls) this.server.on('tlsClientError', (err, socket) => this.#log.debug({ err: err.message, client: socket.remoteAddress }, 'TLS handshake failed'));
  }

  listen(addr: ListenAddress): Promise<AddressInfo> {
    this.#connections ??= new ClientConnections(this.server, this.tls);
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ host: addr.host, port: addr.port, reusePort: true }, () => {
        this.server.off('error', reject);
        // After listening, an error is an accept failure (EMFILE: out of file descriptors): logged, never fatal.
        if (this.server.listenerCount('error') === 0) this.server.on('error', (err) => this.#log.error({ err: err.message }, 'listener error'));
        this.#plane.listening = true;
        const a = this.server.address() as AddressInfo;
        this.#log.info({ address: a.address, port: a.port, ...(this.tls ? { protocol: 'https' } : {}) }, 'listening');
        resolve(a);
      });
    });
  }

  /**
   * Graceful stop, for SIGTERM and for upgrades (a new process on the same address takes the new
   * connections, thanks to SO_REUSEPORT):
   * 1. stop accepting at once (the socket leaves the reuseport group; what is still queued on it
   *    is moved to the other listener when net.ipv4.tcp_migrate_req=1, and reset otherwise);
   * 2. every response from now on carries `Connection: close`, so a connection that carries one
   *    more request closes right after it, without a race;
   * 3. idle keep-alive connections stay open until they have been idle for `shutdownIdleClose`
   *    (default: the keep-alive time clients were told), then close; one that has begun to receive
   *    a request is not idle;
   * 4. once nothing is in flight and no connection is left, or at the grace deadline, what remains
   *    is aborted (held requests 503, WebSockets a 1001 close) and the connections are closed.
   */
  async stop(graceMs: number): Promise<void> {
    const started = Date.now();
    this.#plane.beginClosing();
    this.#plane.listening = false;
    // net.Server's close, not http.Server's: that one also destroys every idle keep-alive
    // connection at once, under a client that may be sending a request on it right now.
    const closed = new Promise<void>((resolve) => {
      if (this.server.listening) NetServer.prototype.close.call(this.server, () => resolve());
      else resolve();
    });
    const conns = this.#connections;
    const idleMs = this.#plane.options.shutdownIdleCloseMs ?? this.#plane.options.clientKeepAliveMs;
    const deadline = started + graceMs;
    let outcome: 'idle' | 'timeout' = 'timeout';
    let idleClosed = 0;
    for (;;) {
      if (conns) idleClosed += conns.closeIdle(idleMs);
      if (this.#plane.stats.active === 0 && (conns?.open ?? 0) === 0) {
        outcome = 'idle';
        break;
      }
      const left = deadline - Date.now();
      if (left <= 0) break;
      await new Promise((r) => setTimeout(r, Math.min(left, STOP_POLL_MS)));
    }
    const aborted = await this.#plane.abortRemaining();
    conns?.destroyHttp();
    await Promise.race([closed, new Promise((r) => setTimeout(r, 1100).unref())]);
    conns?.destroyAll();
    // http.Server's close now only stops its header-timeout timer: no connection is left.
    this.server.close();
    this.#log.info(
      { outcome, aborted, idleClosed, ms: Date.now() - started, ...(this.tls ? { protocol: 'https' } : {}) },
      'listener stopped',
    );
  }
}
