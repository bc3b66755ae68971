import type { Socket } from 'node:net';

// HTTP/1.1 by hand on a raw socket, for tests that must tell a response from a reset or a FIN.

export type Exchange = { head: string; body: string } | { ended: string };

/** Sends `GET path` on `socket` and resolves with the response head and body, or how the connection ended instead. */
export function exchange(socket: Socket, path: string, ms = 10_000): Promise<Exchange> {
  return sendRaw(socket, `GET ${path} HTTP/1.1\r\nHost: web\r\n\r\n`, ms);
}

/** Sends `bytes` (all or the rest of a request) and resolves with the next response, or how the connection ended instead. */
export function sendRaw(socket: Socket, bytes: string, ms = 10_000): Promise<Exchange> {
  return new Promise((resolve) => {
    let buf = '';
    const done = (r: Exchange) => {
      socket.off('data', onData).off('error', onError).off('end', onEnd);
      resolve(r);
    };
    const onData = (c: Buffer) => {
      buf += c.toString('latin1');
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buf.slice(0, end);
      const len = Number(/content-length: *(\d+)/i.exec(head)?.[1] ?? NaN);
      if (buf.length - end - 4 >= len) done({ head, body: buf.slice(end + 4, end + 4 + len) });
    };
    const onError = (err: Error) => done({ ended: `error ${(err as NodeJS.ErrnoException).code ?? err.message}` });
    const onEnd = () => done({ ended: 'closed before a response' });
    if (socket.destroyed || socket.readableEnded) return resolve({ ended: 'closed before the request was sent' });
    socket.on('data', onData).on('error', onError).on('end', onEnd);
    socket.write(bytes, (err) => err && onError(err));
    setTimeout(() => done({ ended: `no response within ${ms} ms` }), ms).unref();
  });
}

/** Resolves with how the server ends the connection: 'end' (a clean FIN) or the socket error's code. */
export function endOf(socket: Socket, ms = 10_000): Promise<string> {
  return new Promise((resolve) => {
    if (socket.readableEnded) return resolve('end');
    if (socket.destroyed) return resolve('destroyed');
    setTimeout(() => resolve(`still open after ${ms} ms`), ms).unref();
    socket.once('end', () => resolve('end'));
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}
