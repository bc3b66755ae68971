import type { ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { httpStatusOf, type ErrorCode } from '../errors.ts';
import { STATUS_CODES } from 'node:http';

/**
 * The one place where a data plane error becomes what the client sees: a status, a short text body
 * saying what happened, and the code in `x-bluegreen-error`. 503s carry Retry-After.
 */
export function sendError(res: ServerResponse, code: ErrorCode, message: string, retryAfterS = 1): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  const status = httpStatusOf(code);
  const body = `${message}\n`;
  const headers: Record<string, string | number> = {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'x-bluegreen-error': code,
    'cache-control': 'no-store',
  };
  if (status === 503) headers['retry-after'] = retryAfterS;
  res.writeHead(status, headers);
  res.end(body);
}

/** The same, on a raw socket whose upgrade could not be served. */
export function sendSocketError(socket: Duplex, code: ErrorCode, message: string): void {
  if (socket.destroyed) return;
  const status = httpStatusOf(code);
  const body = `${message}\n`;
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nContent-Type: text/plain; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nX-Bluegreen-Error: ${code}\r\nConnection: close\r\n\r\n${body}`,
  );
}
