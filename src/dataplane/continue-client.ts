import { Agent, request as httpRequest, type ClientRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';

export interface ContinueClientOptions {
  connectTimeoutMs: number;
  headersTimeoutMs: number;
  bodyTimeoutMs: number;
  keepAliveTimeoutMs: number;
  connections: number;
  /** How long to wait for `100 Continue` before sending the body anyway. */
  continueTimeoutMs: number;
}

export interface ContinueRequest {
  path: string;
  method: string;
  /** Flat [name, value, ...] list, Host included. */
  headers: string[];
  body: Buffer | Readable;
}

/** An error with the code the forwarder classifies failures by (the same codes undici uses). */
class CodedError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

/**
 * HTTP/1.1 to one upstream for requests that must not be sent twice: each is sent with
 * `Expect: 100-continue`, its headers first, and its body only after the upstream answered
 * `100 Continue`. A connection that breaks before that answer proves the upstream never took the
 * request (an app closing its idle keep-alive connections at SIGTERM, or its listener with
 * connections still in the accept queue), so the request may go to another upstream, whatever its
 * method. undici refuses `Expect` on HTTP/1.1, hence node:http here, with its own keep-alive pool.
 *
 * Drives the same dispatch handler interface as undici (onRequestStart, onRequestSent once the
 * body starts, onResponseStart/Data/End, onResponseError), so the forwarder has one response path.
 * An upstream that lets `continueTimeoutMs` pass without any answer gets the body anyway; if it
 * never answered 100 at all it is remembered (`ignoresExpect`) and later requests to it go the
 * ordinary way.
 */
export class ContinueClient {
  readonly #agent: Agent;
  readonly #host: string;
  readonly #port: number;
  readonly #opts: ContinueClientOptions;
  #closed = false;
  /** The upstream let a continue timeout pass and never answered 100: it does not answer Expect. */
  ignoresExpect = false;
  /**
   * The upstream has answered 100 at least once: it knows Expect, and a later timeout only means it
   * answers when its handler reads the body (Go's net/http does), so it keeps getting Expect.
   */
  answered100 = false;

  constructor(origin: string, opts: ContinueClientOptions) {
    const u = new URL(origin);
    this.#host = u.hostname.replace(/^\[|\]$/g, '');
    this.#port = Number(u.port || 80);
    this.#opts = opts;
    this.#agent = new Agent({ keepAlive: true, maxSockets: opts.connections, timeout: opts.keepAliveTimeoutMs, scheduling: 'lifo' });
    this.#agent.on('free', (socket: Socket) => {
      if (this.#closed) socket.destroy();
    });
  }

  dispatch(r: ContinueRequest, handler: Dispatcher.DispatchHandler): void {
    new ContinueExchange(this, r, handler).start();
  }

  /** @internal */
  open(r: ContinueRequest): ClientRequest {
    return httpRequest({
      agent: this.#agent,
      host: this.#host,
      port: this.#port,
      method: r.method,
      path: r.path,
      headers: withExpect(r.headers, r.body),
    });
  }

  /** @internal */
  get options(): ContinueClientOptions {
    return this.#opts;
  }

  /** Idle connections close now; busy ones when their request ends. */
  close(): void {
    this.#closed = true;
    for (const list of Object.values(this.#agent.freeSockets)) for (const s of list ?? []) s.destroy();
  }

  destroy(): void {
    this.#closed = true;
    this.#agent.destroy();
  }
}

/** The request headers plus `Expect: 100-continue`, and a Content-Length for a buffered body. */
function withExpect(headers: string[], body: Buffer | Readable): string[] {
  const out = headers.slice();
  if (Buffer.isBuffer(body)) {
    let hasLength = false;
    for (let i = 0; i < headers.length; i += 2) {
      if (headers[i]!.length === 14 && headers[i]!.toLowerCase() === 'content-length') hasLength = true;
    }
    if (!hasLength) out.push('content-length', String(body.length));
  }
  out.push('expect', '100-continue');
  return out;
}

/** undici's shape of response headers: lower-case names, repeated ones as arrays. */
function headerRecord(raw: string[]): IncomingHttpHeaders {
  const out: Record<string, string | string[]> = {};
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i]!.toLowerCase();
    const v = raw[i + 1]!;
    const prev = out[k];
    if (prev === undefined) out[k] = v;
    else if (Array.isArray(prev)) prev.push(v);
    else out[k] = [prev, v];
  }
  return out as IncomingHttpHeaders;
}

/** One request on a ContinueClient; it is also the controller handed to the dispatch handler. */
class ContinueExchange implements Dispatcher.DispatchController {
  readonly #client: ContinueClient;
  readonly #r: ContinueRequest;
  readonly #h: Dispatcher.DispatchHandler;
  #req: ClientRequest | undefined;
  #res: IncomingMessage | undefined;
  #timer: NodeJS.Timeout | undefined;
  #bodyStarted = false;
  #done = false;
  #aborted = false;
  #paused = false;
  #reason: Error | null = null;
  #lastData = 0;

  constructor(client: ContinueClient, r: ContinueRequest, h: Dispatcher.DispatchHandler) {
    this.#client = client;
    this.#r = r;
    this.#h = h;
  }

  get aborted(): boolean {
    return this.#aborted;
  }

  get paused(): boolean {
    return this.#paused;
  }

  get reason(): Error | null {
    return this.#reason;
  }

  start(): void {
    this.#h.onRequestStart?.(this, {});
    if (this.#aborted) return;
    const req = this.#client.open(this.#r);
    this.#req = req;
    req.on('error', (err) => this.#fail(err));
    req.on('continue', () => {
      this.#client.answered100 = true;
      this.#sendBody();
    });
    req.on('response', (res) => this.#response(res));
    req.on('socket', (socket: Socket) => {
      if (socket.connecting) {
        this.#arm(this.#client.options.connectTimeoutMs, () =>
          this.#fail(new CodedError('UND_ERR_CONNECT_TIMEOUT', `connect timeout after ${this.#client.options.connectTimeoutMs} ms`)),
        );
        socket.once('connect', () => this.#waitForContinue());
      } else this.#waitForContinue();
    });
  }

  #arm(ms: number, f: () => void): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(f, ms);
  }

  #waitForContinue(): void {
    if (this.#bodyStarted || this.#res || this.#done) return;
    this.#arm(this.#client.options.continueTimeoutMs, () => {
      if (!this.#client.answered100) this.#client.ignoresExpect = true;
      this.#sendBody();
    });
  }

  #sendBody(): void {
    if (this.#bodyStarted || this.#done || this.#res) return;
    this.#bodyStarted = true;
    const ms = this.#client.options.headersTimeoutMs;
    this.#arm(ms, () => this.#fail(new CodedError('UND_ERR_HEADERS_TIMEOUT', `no response headers within ${ms} ms`)));
    this.#h.onRequestSent?.();
    const req = this.#req!;
    const body = this.#r.body;
    if (Buffer.isBuffer(body)) req.end(body);
    else {
      body.once('error', (err: Error) => this.#fail(err));
      body.pipe(req);
    }
  }

  #response(res: IncomingMessage): void {
    if (this.#done) return;
    clearTimeout(this.#timer);
    this.#res = res;
    // A final answer before 100 Continue (413, 417, 401...): the body is never sent, and the
    // connection, which still expects it, is closed once the answer has been read.
    const withheld = !this.#bodyStarted;
    this.#h.onResponseStart?.(this, res.statusCode ?? 502, headerRecord(res.rawHeaders), res.statusMessage);
    if (this.#done) return;
    this.#lastData = Date.now();
    this.#watchBody();
    res.on('data', (chunk: Buffer) => {
      this.#lastData = Date.now();
      if (!this.#done) this.#h.onResponseData?.(this, chunk);
    });
    res.on('end', () => {
      if (this.#done) return;
      this.#done = true;
      clearTimeout(this.#timer);
      this.#h.onResponseEnd?.(this, headerRecord(res.rawTrailers));
      if (withheld) this.#req?.destroy();
    });
    res.on('error', (err) => this.#fail(err));
    res.on('aborted', () => this.#fail(new CodedError('ECONNRESET', 'the upstream closed the connection mid-response')));
  }

  /** The body timeout: silence between chunks, not counting time the client made us pause. */
  #watchBody(): void {
    const ms = this.#client.options.bodyTimeoutMs;
    const check = (): void => {
      if (this.#done) return;
      const idle = Date.now() - this.#lastData;
      if (!this.#paused && idle >= ms) {
        this.#fail(new CodedError('UND_ERR_BODY_TIMEOUT', `no response body data for ${ms} ms`));
        return;
      }
      this.#timer = setTimeout(check, this.#paused ? ms : ms - idle);
    };
    this.#arm(ms, check);
  }

  #fail(err: Error): void {
    if (this.#done) return;
    this.#done = true;
    clearTimeout(this.#timer);
    this.#req?.destroy();
    this.#h.onResponseError?.(this, err);
  }

  abort(reason: Error): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason;
    if (!this.#req) {
      // aborted from onRequestStart: nothing was opened
      this.#done = true;
      this.#h.onResponseError?.(this, reason);
      return;
    }
    this.#fail(reason);
  }

  pause(): void {
    this.#paused = true;
    this.#res?.pause();
  }

  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#lastData = Date.now();
    this.#res?.resume();
  }
}
