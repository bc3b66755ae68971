import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { pino } from 'pino';
import { Proxy } from '../../src/proxy.ts';
import type { DataPlaneOptions } from '../../src/dataplane/options.ts';

export const silentLogger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

export interface TestServer {
  server: Server;
  port: number;
  /** Requests received, in order, with their bodies. */
  seen: { method: string; url: string; headers: IncomingMessage['headers']; body: Buffer }[];
  close(): Promise<void>;
}

export type Handler = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void;

/** A real HTTP server on loopback port 0 that records what it receives. */
export async function startUpstream(name: string, handler?: Handler): Promise<TestServer> {
  const seen: TestServer['seen'] = [];
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      if (handler) return handler(req, res, body);
      res.setHeader('content-type', 'text/plain');
      res.end(`${name} ${req.method} ${req.url} ${body.length}`);
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    port,
    seen,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** A loopback port with nothing listening (connections are refused). */
export async function refusedPort(): Promise<number> {
  const s: NetServer = createNetServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

export async function startProxy(opts: Partial<DataPlaneOptions> = {}, drainMs?: number): Promise<{ proxy: Proxy; url: string; port: number }> {
  const proxy = new Proxy({
    logger: silentLogger,
    listen: { host: '127.0.0.1', port: 0 },
    dataPlane: opts,
    defaultDrainTimeoutMs: drainMs,
  });
  const a = await proxy.start();
  return { proxy, url: `http://127.0.0.1:${a.port}`, port: a.port };
}

let seq = 0;
/** Registers a loopback upstream on the proxy's registry. */
export function addUpstream(proxy: Proxy, service: string, port: number, state: 'starting' | 'ready' = 'ready', extra: { color?: string; createdAt?: number } = {}) {
  return proxy.registry.addUpstream({
    id: `test-${++seq}`,
    name: `${service}-${seq}`,
    service,
    host: '127.0.0.1',
    port,
    state,
    ...extra,
  });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
