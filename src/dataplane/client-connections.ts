import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Socket } from 'node:net';

/** One HTTP connection: requests in progress on it, and when and at which byte count it last went idle. */
interface HttpConnection {
  requests: number;
  /** Requests it has carried; a connection that has carried none is a client about to send its first. */
  served: number;
  upgraded: boolean;
  idleSince: number;
  bytesAtIdle: number;
  /** Listens for the end of each of its responses: one function per connection, not a closure per request. */
  onResponseClose: () => void;
}

/** A connection that has not carried a request yet gets at least this long to send its first one. */
const FIRST_REQUEST_MS = 2_000;

/**
 * The client connections of one listener, and which of them are idle: no request in progress and
 * not a byte read since the last response ended (a request that has begun to arrive is not idle,
 * even before Node has parsed its headers). A stopping listener closes an idle connection only once
 * it has been idle long enough that no client is about to send on it.
 */
export class ClientConnections {
  /** Every accepted TCP connection (for TLS: the raw socket, also during the handshake). */
  readonly #sockets = new Set<Socket>();
  /** The sockets HTTP runs on (for TLS: the TLS sockets). */
  readonly #http = new Map<Socket, HttpConnection>();
  #upgraded = 0;

  constructor(server: Server | HttpsServer, tls: boolean) {
    server.on('connection', (socket: Socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
      if (!tls) this.#add(socket);
    });
    if (tls) server.on('secureConnection', (socket: Socket) => this.#add(socket));
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      const c = this.#http.get(req.socket);
      if (!c) return;
      c.requests++;
      c.served++;
      // A response emits 'close' once: `on` with the connection's own listener (no `once` wrapper).
      res.on('close', c.onResponseClose);
    });
    server.on('upgrade', (req: IncomingMessage) => {
      const c = this.#http.get(req.socket);
      if (!c || c.upgraded) return;
      c.upgraded = true;
      this.#upgraded++;
    });
  }

  #add(socket: Socket): void {
    const c: HttpConnection = {
      requests: 0,
      served: 0,
      upgraded: false,
      idleSince: Date.now(),
      bytesAtIdle: socket.bytesRead,
      onResponseClose: () => {
        if (--c.requests > 0) return;
        c.idleSince = Date.now();
        c.bytesAtIdle = socket.bytesRead;
      },
    };
    this.#http.set(socket, c);
    socket.once('close', () => {
      this.#http.delete(socket);
      if (c.upgraded) this.#upgraded--;
    });
  }

  /** Open connections that are not upgraded (WebSockets): HTTP ones, and TLS ones still in their handshake. */
  get open(): number {
    return this.#sockets.size - this.#upgraded;
  }

  /**
   * Closes every HTTP connection that has been idle for at least `idleMs` (one that has not carried
   * a request yet: at least FIRST_REQUEST_MS). A connection that read bytes since it went idle has a
   * request on its way and stays open, so that request is answered (with `Connection: close` while
   * the proxy stops); the header timeout or the stop's deadline bounds a client that never finishes.
   */
  closeIdle(idleMs: number, now = Date.now()): number {
    let closed = 0;
    for (const [socket, c] of this.#http) {
      // Bytes read since the last response ended: a request is arriving (headers not complete yet).
      if (c.requests > 0 || c.upgraded || socket.bytesRead !== c.bytesAtIdle) continue;
      if (now - c.idleSince >= (c.served > 0 ? idleMs : Math.max(idleMs, FIRST_REQUEST_MS))) {
        socket.destroy();
        closed++;
      }
    }
    return closed;
  }

  /** Destroys every HTTP connection that is not upgraded (WebSockets end with their own close frame). */
  destroyHttp(): void {
    for (const [socket, c] of this.#http) if (!c.upgraded) socket.destroy();
  }

  /** Destroys whatever is still open: stalled TLS handshakes, upgraded sockets that did not close. */
  destroyAll(): void {
    for (const socket of this.#sockets) socket.destroy();
  }
}
