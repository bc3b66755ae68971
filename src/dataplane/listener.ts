import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { DataPlane } from './data-plane.ts';

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

/**
 * The client-facing HTTP listener. On stop it stops accepting, closes idle keep-alive
 * connections, lets in-flight requests finish within the grace period, then aborts the rest.
 */
export class Listener {
  readonly server: Server;
  readonly #plane: DataPlane;
  readonly #log: Logger;

  constructor(plane: DataPlane, log: Logger) {
    this.#plane = plane;
    this.#log = log;
    this.server = createServer(
      {
        keepAliveTimeout: plane.options.clientKeepAliveMs,
        requestTimeout: 300_000,
        headersTimeout: 60_000,
        insecureHTTPParser: false,
      },
      plane.handleRequest,
    );
    this.server.on('upgrade', plane.handleUpgrade);
    this.server.on('clientError', (err, socket) => {
      if (!socket.writable) return socket.destroy();
      const code = (err as { code?: string }).code;
      const status = code === 'HPE_HEADER_OVERFLOW' ? 431 : code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
      const body = `bad request: ${err.message}\n`;
      socket.end(
        `HTTP/1.1 ${status} ${status === 431 ? 'Request Header Fields Too Large' : status === 408 ? 'Request Timeout' : 'Bad Request'}\r\n` +
          `Content-Type: text/plain\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
      );
    });
  }

  listen(addr: ListenAddress): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ host: addr.host, port: addr.port, reusePort: true }, () => {
        this.server.off('error', reject);
        this.#plane.listening = true;
        const a = this.server.address() as AddressInfo;
        this.#log.info({ address: a.address, port: a.port }, 'listening');
        resolve(a);
      });
    });
  }

  async stop(graceMs: number): Promise<void> {
    const started = Date.now();
    this.#plane.beginClosing();
    this.#plane.listening = false;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), graceMs).unref());
    const outcome = await Promise.race([this.#plane.idle().then(() => 'idle' as const), timer]);
    const aborted = await this.#plane.abortRemaining();
    this.server.closeAllConnections();
    await Promise.race([closed, new Promise((r) => setTimeout(r, 1000).unref())]);
    this.#log.info({ outcome, aborted, ms: Date.now() - started }, 'listener stopped');
  }
}
