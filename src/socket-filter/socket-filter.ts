import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { ListenAddress } from '../dataplane/listener.ts';
import { refusal } from './allow-list.ts';

/**
 * A read-only filter in front of the Docker socket: it relays the GET calls bluegreen makes
 * (list, inspect, events, info, swarm services) to the socket and answers everything else 403, so
 * the proxy never holds a socket that can start containers.
 */
export class SocketFilter {
  readonly #server: Server;
  readonly #socketPath: string;
  readonly #log: Logger;

  constructor(socketPath: string, log: Logger) {
    this.#socketPath = socketPath;
    this.#log = log;
    this.#server = createServer((req, res) => this.#handle(req, res));
  }

  listen(addr: ListenAddress): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(addr.port, addr.host, () => {
        const a = this.#server.address() as AddressInfo;
        this.#log.info({ address: a.address, port: a.port, socket: this.#socketPath }, 'docker socket filter listening');
        resolve(a);
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const why = refusal(req.method, req.url);
    if (why) {
      this.#log.warn({ method: req.method, url: req.url, reason: why }, 'docker API call refused');
      const body = JSON.stringify({ message: `bluegreen socket filter: ${why}` });
      res.writeHead(403, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    const headers = { ...req.headers, host: 'docker' };
    const upstream = request({ socketPath: this.#socketPath, method: req.method, path: req.url, headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res); // /events streams for as long as the client listens
    });
    upstream.on('error', (err) => {
      this.#log.warn({ url: req.url, err: err.message }, 'docker socket unreachable');
      if (!res.headersSent) {
        res.writeHead(502, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ message: `bluegreen socket filter: ${err.message}` }));
      } else res.destroy();
    });
    res.on('close', () => upstream.destroy());
    req.pipe(upstream);
  }
}
