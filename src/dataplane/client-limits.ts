import { STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { ErrorCode } from '../errors.ts';
import { sendError } from './error-response.ts';
import type { DataPlaneOptions } from './options.ts';

// What a hostile or broken client gets. Node's parser (llhttp, never lenient) already rejects
// ambiguous framing (Content-Length with Transfer-Encoding, duplicate Content-Length, a final coding
// other than chunked, bad chunk sizes, whitespace before a colon, obs-fold, bare LF...) and the
// server enforces the header size and header timeout; what Node does not check is checked here, in
// O(1) per request except one pass over the raw header names. Everything that is refused gets a
// status with a text body, `x-bluegreen-error` and `Connection: close`.

/** A request the proxy will not forward, and why. */
export interface Refusal {
  code: ErrorCode;
  message: string;
}

/** The settings these checks read, live (a config reload applies to the next request or connection). */
export type ClientLimitOptions = Pick<
  DataPlaneOptions,
  'maxConnections' | 'maxHeaderBytes' | 'maxHeaderCount' | 'maxUrlBytes' | 'clientHeaderTimeoutMs' | 'clientKeepAliveMs'
>;

/** Longest a client may take to send a whole request, body included (Node's requestTimeout). */
const REQUEST_TIMEOUT_MS = 300_000;
/** A connection above maxConnections that sends no request is closed after this long. */
const REFUSED_IDLE_MS = 1_000;
/** After an error answer, the connection is closed once the client has read it, or after this long. */
const LINGER_MS = 1_000;

/** An http(s) absolute-form target (RFC 9112 §3.2.2): authority without userinfo, then path and query. */
const ABSOLUTE_FORM = /^https?:\/\/([^/?#]*)([/?][^#]*)?$/i;
/** A host (name, IPv4 or [IPv6]) with an optional port. */
const AUTHORITY = /^(?:[a-z0-9_](?:[a-z0-9_.-]*[a-z0-9_])?\.?|\[[0-9a-f:.]+\])(?::\d{1,5})?$/i;

/**
 * Checks a parsed request against what Node's parser does not enforce: target length (414), header
 * count (431; a backstop: Node 24 itself rejects more than maxHeadersCount), exactly one Host in
 * HTTP/1.1, a Transfer-Encoding that is exactly `chunked`, and the request target's form. An
 * absolute-form target (`GET http://host/path`) is routed by its authority, as RFC 9112 requires:
 * req.url becomes the path and Host the authority, so it can only reach the upstreams of the route
 * that serves that host.
 */
export function checkRequest(req: IncomingMessage, limits: Pick<ClientLimitOptions, 'maxUrlBytes' | 'maxHeaderCount'>): Refusal | undefined {
  const url = req.url ?? '';
  if (url.length > limits.maxUrlBytes) {
    return { code: 'URI_TOO_LONG', message: `request target of ${url.length} bytes is longer than the limit of ${limits.maxUrlBytes}` };
  }
  const raw = req.rawHeaders;
  if (raw.length > 2 * limits.maxHeaderCount) {
    return { code: 'HEADERS_TOO_LARGE', message: `${raw.length / 2} header fields are more than the limit of ${limits.maxHeaderCount}` };
  }
  let hosts = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 4 && name.toLowerCase() === 'host') hosts++;
  }
  if (hosts > 1) return { code: 'BAD_REQUEST', message: `${hosts} Host header fields (a request has one)` };
  if (hosts === 0 && req.httpVersionMajor === 1 && req.httpVersionMinor >= 1) {
    return { code: 'BAD_REQUEST', message: 'HTTP/1.1 request without a Host header' };
  }
  const te = req.headers['transfer-encoding'];
  if (te !== undefined && te.toLowerCase() !== 'chunked') {
    return { code: 'BAD_REQUEST', message: `Transfer-Encoding ${JSON.stringify(te)} is not supported (only chunked)` };
  }
  if (url.charCodeAt(0) !== 47 /* '/' */) return absoluteForm(req, url);
  return undefined;
}

function absoluteForm(req: IncomingMessage, url: string): Refusal | undefined {
  const m = ABSOLUTE_FORM.exec(url);
  const authority = m?.[1]?.toLowerCase();
  if (!m || !authority || !AUTHORITY.test(authority)) {
    const shown = url.length > 80 ? `${url.slice(0, 80)}…` : url;
    return { code: 'BAD_REQUEST', message: `request target ${JSON.stringify(shown)} is neither a path nor an http(s) URL` };
  }
  const rest = m[2] ?? '';
  req.url = rest === '' ? '/' : rest.charCodeAt(0) === 63 /* '?' */ ? `/${rest}` : rest;
  const raw = req.rawHeaders;
  let hasHost = false;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() === 'host') {
      raw[i + 1] = authority;
      hasHost = true;
    }
  }
  if (!hasHost) raw.push('Host', authority); // HTTP/1.0 may omit it
  req.headers.host = authority;
  return undefined;
}

/**
 * Only WebSocket upgrades are relayed (http-proxy-3 would drop any other without a word): `h2c` or
 * a POST with `Upgrade: websocket` get a 400 that says so.
 */
export function checkUpgrade(req: IncomingMessage): Refusal | undefined {
  const upgrade = req.headers.upgrade ?? '';
  if (req.method === 'GET' && upgrade.toLowerCase() === 'websocket') return undefined;
  return { code: 'BAD_REQUEST', message: `only WebSocket upgrades (GET with Upgrade: websocket) are proxied, not ${req.method} with Upgrade: ${JSON.stringify(upgrade)}` };
}

/** Answers a refused request with `Connection: close`; its body (if any) is never read or forwarded. */
export function refuseRequest(res: ServerResponse, r: Refusal): void {
  if (!res.headersSent) res.setHeader('connection', 'close');
  sendError(res, r.code, r.message);
}

/**
 * Bounds the silence between two bytes of a request body: after `ms` without one, a 408 (or, once
 * response headers went out, a cut connection) and the connection closed. Silence while the proxy
 * itself is not reading (the upstream applies backpressure) does not count.
 */
export function watchBodyIdle(req: IncomingMessage, res: ServerResponse, ms: number): void {
  if (req.complete) return;
  const socket = req.socket;
  req.on('timeout', () => {
    if (req.complete) return;
    if (res.writableFinished) {
      // Answered already (the upstream did not need the rest): nobody waits for this body.
      socket.destroy();
      return;
    }
    if (req.readableLength >= req.readableHighWaterMark) {
      socket.setTimeout(ms); // we are not reading: wait again
      return;
    }
    if (res.headersSent) {
      res.destroy();
      return;
    }
    refuseRequest(res, { code: 'REQUEST_TIMEOUT', message: `no request body bytes for ${ms} ms` });
  });
  socket.setTimeout(ms);
  // Once the body is in, the socket's timeout is free again (Node uses it for keep-alive after the
  // response; when the response finished first, that timeout is Node's and stays).
  req.once('end', () => {
    if (!res.writableFinished) socket.setTimeout(0);
  });
}

/**
 * One listener's share: counts its connections (maxConnections), answers what Node's parser
 * rejects (clientError) and CONNECT, and keeps the server's own limits in step with the settings.
 */
export class ClientLimits {
  readonly #server: Server | HttpsServer;
  readonly #tls: boolean;
  readonly #log: Logger;
  readonly #opts: ClientLimitOptions;
  #open = 0;
  /** Connections accepted above maxConnections (plain HTTP): their requests get 503. */
  readonly #refused = new WeakSet<Socket>();
  #refusedOpen = 0;
  /** Sockets already answered after a parse error: later errors on them only destroy. */
  readonly #answered = new WeakSet<Duplex>();

  constructor(server: Server | HttpsServer, tls: boolean, log: Logger, opts: ClientLimitOptions) {
    this.#server = server;
    this.#tls = tls;
    this.#log = log;
    this.#opts = opts;
    this.apply();
    server.on('connection', (socket: Socket) => this.#connection(socket));
    server.on('drop', (d?: { remoteAddress?: string }) =>
      this.#log.debug({ client: d?.remoteAddress, limit: this.#opts.maxConnections }, 'connection closed at accept: twice limits.maxConnections reached'),
    );
    server.on('clientError', (err: Error & { code?: string }, socket: Duplex) => this.#clientError(err, socket));
    server.on('connect', (req: IncomingMessage, socket: Duplex) => {
      socket.on('error', () => {});
      this.#log.debug({ client: req.socket.remoteAddress, target: req.url }, 'CONNECT refused');
      this.#closeWith(socket, 405, 'METHOD_NOT_ALLOWED', 'CONNECT is not supported: this is a reverse proxy, not a forward proxy', 'Allow: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS\r\n');
    });
  }

  /** Node server options for createServer; `apply()` keeps them in step later. */
  static serverOptions(o: ClientLimitOptions) {
    return {
      keepAliveTimeout: o.clientKeepAliveMs,
      headersTimeout: o.clientHeaderTimeoutMs,
      requestTimeout: Math.max(REQUEST_TIMEOUT_MS, o.clientHeaderTimeoutMs),
      maxHeaderSize: o.maxHeaderBytes,
      // How often Node looks for connections past their header (or request) timeout.
      connectionsCheckingInterval: Math.min(1_000, Math.max(50, Math.floor(o.clientHeaderTimeoutMs / 4))),
      // Checked by checkRequest, which answers with a body (Node's own 400 has none).
      requireHostHeader: false,
      insecureHTTPParser: false,
    };
  }

  /** Applies the current settings to the server (new connections; timeouts at once). */
  apply(): void {
    const o = this.#opts;
    const s = this.#server as Server & { maxHeaderSize?: number };
    s.keepAliveTimeout = o.clientKeepAliveMs;
    s.requestTimeout = Math.max(REQUEST_TIMEOUT_MS, o.clientHeaderTimeoutMs);
    s.headersTimeout = o.clientHeaderTimeoutMs;
    s.maxHeaderSize = o.maxHeaderBytes;
    // Node 24's parser rejects a request with more fields than this (HPE_HEADER_OVERFLOW, answered
    // 431 below); older versions dropped the excess from req.headers silently, which checkRequest
    // catches from rawHeaders.
    s.maxHeadersCount = o.maxHeaderCount;
    s.maxConnections = 2 * o.maxConnections;
  }

  /** A refusal for a request on a connection accepted above maxConnections, or one checkRequest finds. */
  check(req: IncomingMessage): Refusal | undefined {
    if (this.#refusedOpen > 0 && this.#refused.has(req.socket)) {
      return { code: 'TOO_MANY_CONNECTIONS', message: `too many client connections (limit ${this.#opts.maxConnections}); try again` };
    }
    return checkRequest(req, this.#opts);
  }

  #connection(socket: Socket): void {
    this.#open++;
    const over = this.#open > this.#opts.maxConnections;
    if (over && this.#tls) {
      // No HTTP before the handshake: closed at once.
      this.#log.debug({ client: socket.remoteAddress, limit: this.#opts.maxConnections }, 'TLS connection closed: limits.maxConnections reached');
      socket.once('close', () => this.#open--);
      socket.destroy();
      return;
    }
    if (!over) {
      socket.once('close', () => this.#open--);
      return;
    }
    this.#refusedOpen++;
    this.#refused.add(socket);
    socket.setTimeout(REFUSED_IDLE_MS);
    this.#log.debug({ client: socket.remoteAddress, limit: this.#opts.maxConnections }, 'connection above limits.maxConnections: answered 503');
    socket.once('close', () => {
      this.#open--;
      this.#refusedOpen--;
    });
  }

  #clientError(err: Error & { code?: string; rawPacket?: Buffer; bytesParsed?: number }, socket: Duplex): void {
    const code = err.code ?? '';
    const inProgress = (socket as { _httpMessage?: ServerResponse | null })._httpMessage;
    const parseOrTimeout = code.startsWith('HPE_') || code === 'ERR_HTTP_REQUEST_TIMEOUT';
    if (this.#answered.has(socket) || !parseOrTimeout || !socket.writable || inProgress?.headersSent) {
      socket.destroy();
      return;
    }
    let status = 400;
    let ecode: ErrorCode = 'BAD_REQUEST';
    let reason = `malformed request: ${err.message.replace(/^Parse Error: /, '')}`;
    if (code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      status = 408;
      ecode = 'REQUEST_TIMEOUT';
      reason = `request not received within limits.headerTimeout (${this.#opts.clientHeaderTimeoutMs} ms)`;
    } else if (code === 'HPE_HEADER_OVERFLOW') {
      const inRequestLine = overflowInRequestLine(err.rawPacket, err.bytesParsed);
      status = inRequestLine ? 414 : 431;
      ecode = inRequestLine ? 'URI_TOO_LONG' : 'HEADERS_TOO_LARGE';
      reason = inRequestLine
        ? `request line longer than limits.maxHeaderSize (${this.#opts.maxHeaderBytes} bytes)`
        : `request headers larger than limits.maxHeaderSize (${this.#opts.maxHeaderBytes} bytes) or more than limits.maxHeaderCount (${this.#opts.maxHeaderCount} fields)`;
    }
    const client = (socket as Partial<Socket>).remoteAddress;
    this.#log.debug({ client, status, code, reason }, 'client request refused');
    this.#closeWith(socket, status, ecode, reason);
  }

  /** Writes a complete error response and closes: at once once flushed and the client closes, at the latest after LINGER_MS. */
  #closeWith(socket: Duplex, status: number, code: ErrorCode, message: string, extraHeaders = ''): void {
    this.#answered.add(socket);
    const body = `${message}\n`;
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nContent-Type: text/plain; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nX-Bluegreen-Error: ${code}\r\nCache-Control: no-store\r\n${extraHeaders}Connection: close\r\n\r\n${body}`,
    );
    const t = setTimeout(() => socket.destroy(), LINGER_MS).unref();
    socket.once('close', () => clearTimeout(t));
  }
}

/**
 * Whether a header overflow happened before the request line ended: the bytes parsed in the
 * overflowing read start with a method and hold no line end. (A request line split over many reads
 * can overflow in a later read that does not show its method: that one is answered 431.)
 */
function overflowInRequestLine(packet: Buffer | undefined, parsed: number | undefined): boolean {
  if (!packet) return false;
  const seen = packet.subarray(0, parsed ?? packet.length);
  return seen.indexOf(10) === -1 && /^[A-Z][A-Z-]* /.test(seen.subarray(0, 24).toString('latin1'));
}
