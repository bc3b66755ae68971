import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { createProxyServer, type ProxyServer } from 'http-proxy-3';
import type { Upstream } from '../registry/upstream.ts';

/** A WebSocket close frame with status 1001 "going away" (server to client: unmasked). */
const GOING_AWAY = Buffer.from([0x88, 0x02, 0x03, 0xe9]);

/**
 * Relays upgraded connections with http-proxy-3. Each open WebSocket counts as in flight on its
 * upstream until either side closes it; at a drain deadline it is ended with a 1001 close frame.
 */
export class WebSocketForwarder {
  readonly #proxy: ProxyServer;
  readonly #upstreamSockets = new WeakMap<Duplex, Socket>();
  readonly #log: Logger;

  constructor(log: Logger) {
    this.#log = log;
    this.#proxy = createProxyServer({ ws: true, xfwd: true });
    this.#proxy.on('proxyReqWs', (proxyReq, _req, clientSocket) => {
      proxyReq.once('upgrade', (_res, upstreamSocket: Socket) => {
        this.#upstreamSockets.set(clientSocket, upstreamSocket);
      });
    });
    // Errors are reported per call; this keeps an unexpected one from crashing the process.
    this.#proxy.on('error', (err) => this.#log.warn({ err: err.message }, 'websocket proxy error'));
  }

  /** Forwards the upgrade to `upstream`; resolves once the client socket has closed. */
  forward(up: Upstream, req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const release = up.track({
      kind: 'websocket',
      abort: () => this.#goAway(socket),
    });
    socket.once('close', release);
    this.#proxy.ws(req, socket, head, { target: up.origin }, (err) => {
      up.failures++;
      this.#log.warn({ upstream: up.name, service: up.service, err: err.message }, 'websocket upgrade failed');
      release();
    });
  }

  #goAway(socket: Duplex): void {
    const upstreamSocket = this.#upstreamSockets.get(socket);
    if (upstreamSocket) {
      upstreamSocket.unpipe(socket);
      upstreamSocket.destroy();
      socket.end(GOING_AWAY);
    } else {
      socket.destroy();
    }
    setTimeout(() => socket.destroy(), 1000).unref();
  }

  close(): void {
    this.#proxy.close();
  }
}
