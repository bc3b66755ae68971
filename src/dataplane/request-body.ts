import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { BluegreenError } from '../errors.ts';

/**
 * A request body as the forwarder sees it. `buffered` can be sent again on another upstream;
 * `stream` can be sent once (it was larger than the retry buffer).
 */
export type RequestBody =
  | { kind: 'none' }
  | { kind: 'buffered'; data: Buffer }
  | { kind: 'stream'; source: Readable };

export function isReplayable(body: RequestBody): boolean {
  return body.kind !== 'stream';
}

export const NO_BODY: RequestBody = Object.freeze({ kind: 'none' });

/** True when the request declares a body (a Content-Length above zero, or a Transfer-Encoding). */
export function hasRequestBody(req: IncomingMessage): boolean {
  const len = req.headers['content-length'];
  if (len !== undefined) return len !== '0';
  return req.headers['transfer-encoding'] !== undefined;
}

/**
 * Buffers a request body up to `limit` bytes so it can be replayed; a larger body (declared or
 * discovered while reading) becomes a one-shot stream that starts with what was already read.
 */
export function readRequestBody(req: IncomingMessage, limit: number): Promise<RequestBody> {
  if (!hasRequestBody(req)) {
    req.resume(); // consume any stray bytes so 'end' fires
    return Promise.resolve({ kind: 'none' });
  }
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    return Promise.resolve({ kind: 'stream', source: req });
  }
  return new Promise<RequestBody>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onGone);
      req.off('close', onClose);
    };
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      total += chunk.length;
      if (total > limit) {
        cleanup();
        req.pause();
        resolve({ kind: 'stream', source: Readable.from(prefixThen(chunks, req), { objectMode: false }) });
      }
    };
    const onEnd = () => {
      cleanup();
      resolve({ kind: 'buffered', data: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total) });
    };
    const onGone = () => {
      cleanup();
      reject(new BluegreenError('CLIENT_ABORTED', 'client went away while sending the request body'));
    };
    const onClose = () => {
      if (!req.complete) onGone();
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onGone);
    req.on('close', onClose);
  });
}

async function* prefixThen(prefix: Buffer[], rest: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  yield* prefix;
  yield* rest;
}
