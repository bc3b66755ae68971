import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import { BluegreenError } from '../errors.ts';
import type { Upstream } from '../registry/upstream.ts';
import { clientResponseHeaders } from './forwarded-headers.ts';
import type { RequestBody } from './request-body.ts';

/**
 * Where a failed attempt failed, which decides whether it may be replayed:
 * - `connect`: never reached the upstream (refused, unreachable, connect timeout, pool closed);
 * - `reset`: the connection broke before response headers (`requestSent` says if it was all written);
 * - `headers-timeout`: the upstream took the request but did not answer in time;
 * - `bad-response`: the upstream answered something that is not valid HTTP.
 */
export type FailurePhase = 'connect' | 'reset' | 'headers-timeout' | 'bad-response';

export type AttemptResult =
  | { outcome: 'responded' }
  | { outcome: 'client-gone' }
  | { outcome: 'failed'; phase: FailurePhase; error: Error; requestSent: boolean };

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
  const { upstream, req, res } = a;
  return new Promise<AttemptResult>((resolve) => {
    let controller: Dispatcher.DispatchController | undefined;
    let pendingAbort: Error | undefined;
    let headersSent = false;
    let requestSent = false;
    let settled = false;
    const abort = (reason: Error) => {
      if (controller) controller.abort(reason);
      else pendingAbort = reason;
      if (headersSent) res.destroy();
    };
    const release = upstream.track({ kind: 'http', abort });
    const settle = (r: AttemptResult) => {
      if (settled) return;
      settled = true;
      resolve(r);
    };
    const onClientClose = () => {
      // 'close' also fires after a complete response; only an unfinished one is an abort.
      if (!res.writableFinished) abort(new BluegreenError('CLIENT_ABORTED', 'client closed the connection'));
      release();
      if (!headersSent) settle({ outcome: 'client-gone' });
    };
    res.once('close', onClientClose);
    const fail = (err: Error) => {
      if (headersSent || res.destroyed) {
        res.destroy();
        settle({ outcome: headersSent ? 'responded' : 'client-gone' });
        return;
      }
      res.off('close', onClientClose);
      release();
      settle({ outcome: 'failed', phase: classifyFailure(err), error: err, requestSent });
    };

    const body = a.body.kind === 'none' ? null : a.body.kind === 'buffered' ? a.body.data : a.body.source;
    a.dispatcher.dispatch(
      { path: req.url ?? '/', method: req.method ?? 'GET', headers: a.headers, body, reset: false },
      {
        onRequestStart(c) {
          controller = c;
          if (pendingAbort) c.abort(pendingAbort);
        },
        onRequestSent() {
          requestSent = true;
        },
        onResponseStart(c, statusCode, headers, statusMessage) {
          if (statusCode < 200) return; // informational answers are not relayed
          try {
            res.writeHead(statusCode, statusMessage || undefined, clientResponseHeaders(headers));
          } catch (err) {
            c.abort(new BluegreenError('UPSTREAM_BAD_RESPONSE', `upstream ${upstream.name} sent an invalid header: ${(err as Error).message}`));
            return;
          }
          headersSent = true;
          settle({ outcome: 'responded' });
        },
        onResponseData(c, chunk) {
          if (!res.write(chunk)) {
            c.pause();
            res.once('drain', () => c.resume());
          }
        },
        onResponseEnd(_c, trailers) {
          if (trailers) {
            let any = false;
            for (const _ in trailers) {
              any = true;
              break;
            }
            if (any) res.addTrailers(trailers as Record<string, string>);
          }
          res.end();
        },
        onResponseError(_c, err) {
          if ((err as { code?: string }).code === 'UND_ERR_BODY_TIMEOUT' || headersSent) {
            res.destroy();
            settle({ outcome: 'responded' });
            return;
          }
          if (res.destroyed) {
            release();
            settle({ outcome: 'client-gone' });
            return;
          }
          fail(err);
        },
      },
    );
  });
}
