import { request as httpsRequest, type Agent as HttpsAgent } from 'node:https';
import { connect, type PeerCertificate, type TLSSocket } from 'node:tls';
import { pino, type Logger } from 'pino';
import { Proxy } from '../../src/proxy.ts';
import { sleep } from '../support/servers.ts';

export interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

/** A pino logger whose lines are kept, parsed, in `lines`. */
export function captureLogger(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as LogLine) });
  return { logger, lines };
}

export interface TlsProxy {
  proxy: Proxy;
  httpPort: number;
  tlsPort: number;
}

/** A proxy on loopback with an HTTPS listener serving the certificates in `dir`. */
export async function startTlsProxy(dir: string, opts: { logger: Logger; redirectHttp?: boolean; debounceMs?: number }): Promise<TlsProxy> {
  const proxy = new Proxy({
    logger: opts.logger,
    listen: { host: '127.0.0.1', port: 0 },
    tls: { dir, listen: { host: '127.0.0.1', port: 0 }, redirectHttp: opts.redirectHttp, debounceMs: opts.debounceMs ?? 100 },
  });
  const a = await proxy.start();
  return { proxy, httpPort: a.port, tlsPort: proxy.tlsAddress!.port };
}

export interface Handshake {
  serial: string;
  fingerprint256: string;
  names: string;
  alpn: string | false;
}

function describe(socket: TLSSocket): Handshake {
  const c: PeerCertificate = socket.getPeerCertificate();
  return { serial: c.serialNumber, fingerprint256: c.fingerprint256, names: c.subjectaltname ?? '', alpn: socket.alpnProtocol ?? false };
}

/**
 * One TLS handshake to 127.0.0.1:port, verified against `ca` (chain always; the name too when
 * servername is given, unless checkName is false). No servername: the client sends no SNI.
 */
export function handshake(port: number, opts: { ca: string | string[]; servername?: string; checkName?: boolean }): Promise<Handshake> {
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: '127.0.0.1',
      port,
      ca: opts.ca,
      ALPNProtocols: ['h2', 'http/1.1'],
      ...(opts.servername !== undefined ? { servername: opts.servername } : {}),
      ...(opts.servername === undefined || opts.checkName === false ? { checkServerIdentity: () => undefined } : {}),
    });
    socket.once('secureConnect', () => {
      const h = describe(socket);
      socket.end();
      resolve(h);
    });
    socket.once('error', reject);
  });
}

export interface HttpsReply {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
  /** The certificate the server presented on this request's connection. */
  serial: string;
  socket: TLSSocket;
}

/** One HTTPS request, its connection verified against `ca` for `servername`; a new connection unless `agent` keeps one. */
export function httpsGet(port: number, opts: { ca: string | string[]; servername: string; path?: string; agent?: HttpsAgent }): Promise<HttpsReply> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port,
        path: opts.path ?? '/',
        servername: opts.servername,
        headers: { host: opts.servername },
        ca: opts.ca,
        agent: opts.agent ?? false,
      },
      (res) => {
        const socket = res.socket as TLSSocket;
        const serial = socket.getPeerCertificate().serialNumber;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString(), headers: res.headers, serial, socket }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

export async function until<T>(fn: () => Promise<T | undefined> | T | undefined, ms: number, what: string): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await Promise.resolve()
      .then(fn)
      .catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(25);
  }
}
