import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import { BluegreenError } from '../errors.ts';
import type { InFlightHandle, Upstream } from '../registry/upstream.ts';
import { clientResponseHeaders } from './forwarded-headers.ts';
import type { ContinueClient } from './continue-client.ts';
import type { RequestBody } from './request-body.ts';
import { checkPeerBeforeNextWrite, cutWhileWriting, type PeerCloseWatcher } from './upstream-pools.ts';

/**
 * Where a failed attempt failed, which decides whether it may be replayed:
 * - `connect`: never reached the upstream (refused, unreachable, connect timeout, pool closed);
 * - `reset`: the connection broke before response headers (`requestSent` says if it was all written);
 * - `headers-timeout`: the upstream took the request but did not answer in time;
 * - `bad-response`: the upstream answered something that is not valid HTTP.
 */
export type FailurePhase = 'connect' | 'reset' | 'headers-timeout' | 'bad-response';

/**
 * `bodyIntact`: not one byte of the body was taken from its source (it waited for a 100 Continue
 * that never came), so even a one-shot stream body can still be sent elsewhere.
 */
export type FailedAttempt = { outcome: 'failed'; phase: FailurePhase; error: Error; requestSent: boolean; bodyIntact: boolean };
export type AttemptResult = { outcome: 'responded' } | { outcome: 'client-gone' } | FailedAttempt;

const RESPONDED: AttemptResult = Object.freeze({ outcome: 'responded' });
const CLIENT_GONE: AttemptResult = Object.freeze({ outcome: 'client-gone' });

const CONNECT_CODES = new Set([
  'ECONNREFUSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EADDRNOTAVAIL',
  'UND_ERR_CLOSED',
  'UND_ERR_DESTROYED',
]);

/**
 * Idempotent methods: the data plane may replay them after a reset. Any other is checked once more
 * before it is written, or sent with `Expect: 100-continue` when it has a body.
 */
export const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/**
 * True when a request goes upstream with `Expect: 100-continue` (ContinueClient): it has a body and
 * must not be sent twice (a non-idempotent method, or a body too large to buffer for a replay).
 */
export function needsExpect(method: string, body: RequestBody): boolean {
  return body.kind !== 'none' && (body.kind === 'stream' || !IDEMPOTENT_METHODS.has(method));
}

export function classifyFailure(err: Error): FailurePhase {
  const code = (err as { code?: string }).code ?? '';
  if (CONNECT_CODES.has(code)) return 'connect';
  if (code === 'UND_ERR_HEADERS_TIMEOUT') return 'headers-timeout';
  if (code.startsWith('HPE_') || code === 'UPSTREAM_BAD_RESPONSE' || code === 'UND_ERR_INFO' || code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH') {
    return 'bad-response';
  }
  return 'reset';
}

export interface Attempt {
  upstream: Upstream;
  dispatcher: Dispatcher;
  /**
   * Given for a request that `needsExpect` (and while Expect is on for the upstream): the request goes
   * through it, with `Expect: 100-continue`, instead of `dispatcher`.
   */
  continueClient: ContinueClient | undefined;
  req: IncomingMessage;
  res: ServerResponse;
  headers: string[];
  body: RequestBody;
}

/**
 * Sends one attempt of a request to one upstream and streams the answer back with backpressure.
 * It only moves bytes and classifies failures; the caller decides about retries. The upstream
 * counts the request from dispatch until the client response has been fully sent or aborted.
 * After response headers went out, an upstream error destroys the client socket so a truncated
 * body is never mistaken for a complete one.
 */
export function forwardAttempt(a: Attempt): Promise<AttemptResult> {
  return new Promise<AttemptResult>((resolve) => {
    const method = a.req.method ?? 'GET';
    const path = a.req.url ?? '/';
    const b = a.body;
    if (a.continueClient && b.kind !== 'none') {
      const h = new AttemptHandler(a.upstream, a.res, resolve, false, true);
      a.continueClient.dispatch({ path, method, headers: a.headers, body: b.kind === 'buffered' ? b.data : b.source }, h);
      return;
    }
    const h = new AttemptHandler(a.upstream, a.res, resolve, !IDEMPOTENT_METHODS.has(method), false);
    const body = b.kind === 'none' ? null : b.kind === 'buffered' ? b.data : b.source;
    a.dispatcher.dispatch({ path, method, headers: a.headers, body, reset: false }, h);
  });
}

/**
 * One object per attempt: it is the undici dispatch handler, the in-flight handle counted on the
 * upstream, and the client-close listener, so an attempt costs one allocation, not a closure each.
 */
class AttemptHandler implements Dispatcher.DispatchHandler, InFlightHandle, PeerCloseWatcher {
  readonly kind = 'http' as const;
  readonly #upstream: Upstream;
  readonly #res: ServerResponse;
  #resolve: ((r: AttemptResult) => void) | undefined;
  #controller: Dispatcher.DispatchController | undefined;
  #pendingAbort: Error | undefined;
  #headersSent = false;
  #requestSent = false;
  /** Not replayed once written: check the connection is still open right before writing. */
  readonly #checkBeforeWrite: boolean;
  #closedBeforeWrite = false;
  /** Sent by a ContinueClient: the body is taken from its source only once onRequestSent was called. */
  readonly #viaContinue: boolean;
  readonly #onClientClose = (): void => this.#clientClosed();
  #onDrain: (() => void) | undefined;

  constructor(upstream: Upstream, res: ServerResponse, resolve: (r: AttemptResult) => void, checkBeforeWrite: boolean, viaContinue: boolean) {
    this.#upstream = upstream;
    this.#checkBeforeWrite = checkBeforeWrite;
    this.#viaContinue = viaContinue;
    this.#res = res;
    this.#resolve = resolve;
    upstream.add(this);
    res.once('close', this.#onClientClose);
  }

  /** Drain deadline or shutdown: stop this attempt; after headers, cut the client connection. */
  abort(reason: Error): void {
    if (this.#controller) this.#controller.abort(reason);
    else this.#pendingAbort = reason;
    if (this.#headersSent) this.#res.destroy();
  }

  #settle(r: AttemptResult): void {
    const resolve = this.#resolve;
    if (!resolve) return;
    this.#resolve = undefined;
    resolve(r);
  }

  #clientClosed(): void {
    // 'close' also fires after a complete response; only an unfinished one is an abort.
    if (!this.#res.writableFinished) this.abort(new BluegreenError('CLIENT_ABORTED', 'client closed the connection'));
    this.#upstream.release(this);
    if (!this.#headersSent) this.#settle(CLIENT_GONE);
  }

  onRequestStart(c: Dispatcher.DispatchController): void {
    this.#controller = c;
    if (this.#pendingAbort) c.abort(this.#pendingAbort);
    else if (this.#checkBeforeWrite) checkPeerBeforeNextWrite(this);
  }

  peerClosedBeforeWrite(): void {
    this.#closedBeforeWrite = true;
  }

  onRequestSent(): void {
    this.#requestSent = true;
  }

  onResponseStart(c: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>, statusMessage?: string): void {
    if (statusCode < 200) return; // informational answers are not relayed
    try {
      this.#res.writeHead(statusCode, statusMessage || undefined, clientResponseHeaders(headers));
    } catch (err) {
      c.abort(new BluegreenError('UPSTREAM_BAD_RESPONSE', `upstream ${this.#upstream.name} sent an invalid header: ${(err as Error).message}`));
      return;
    }
    this.#headersSent = true;
    this.#settle(RESPONDED);
  }

  onResponseData(c: Dispatcher.DispatchController, chunk: Buffer): void {
    if (!this.#res.write(chunk)) {
      c.pause();
      this.#onDrain ??= () => this.#controller?.resume();
      this.#res.once('drain', this.#onDrain);
    }
  }

  onResponseEnd(_c: Dispatcher.DispatchController, trailers: Record<string, string | string[] | undefined>): void {
    if (trailers) {
      for (const _ in trailers) {
        this.#res.addTrailers(trailers as Record<string, string>);
        break;
      }
    }
    this.#res.end();
  }

  onResponseError(_c: Dispatcher.DispatchController, err: Error): void {
    const res = this.#res;
    if (this.#headersSent || (err as { code?: string }).code === 'UND_ERR_BODY_TIMEOUT') {
      res.destroy();
      this.#settle(RESPONDED);
      return;
    }
    if (res.destroyed) {
      this.#upstream.release(this);
      this.#settle(CLIENT_GONE);
      return;
    }
    res.off('close', this.#onClientClose);
    this.#upstream.release(this);
    const requestSent = this.#requestSent && !this.#closedBeforeWrite && !cutWhileWriting(err);
    const bodyIntact = this.#viaContinue && !this.#requestSent;
    this.#settle({ outcome: 'failed', phase: classifyFailure(err), error: err, requestSent, bodyIntact });
  }
}
