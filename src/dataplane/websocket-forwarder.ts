import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { createProxyServer, type ProxyServer } from 'http-proxy-3';
import type { Upstream } from '../registry/upstream.ts';

/** A WebSocket close frame with status 1001 "going away" (server to client: unmasked). */
const GOING_AWAY = Buffer.from([0x88, 0x02, 0x03, 0xe9]);

/** How long a client may take to finish its side once its upstream has gone (its close frame, its FIN). */
const CLIENT_CLOSE_GRACE_MS = 5000;

/**
 * The upstream side is closed (http-proxy-3 then ends the client side). http-proxy-3's pipe from the
 * client to the upstream is undone when the upstream socket closes, which leaves the client socket
 * paused: what the client still sends (its close frame) would stay unread, 'end' would never come
 * and the socket, with its fd, would never be released. Read and discard it instead, so the
 * client's FIN ends the socket; a client that never sends one is cut after CLIENT_CLOSE_GRACE_MS.
 */
function releaseClient(client: Duplex): void {
  if (client.destroyed) return;
  client.unpipe();
  client.on('data', () => {});
  client.resume();
  const timer = setTimeout(() => client.destroy(), CLIENT_CLOSE_GRACE_MS);
  timer.unref();
  client.once('close', () => clearTimeout(timer));
}

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
        upstreamSocket.once('close', () => releaseClient(clientSocket));
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
