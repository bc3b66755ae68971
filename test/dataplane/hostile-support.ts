// Raw-socket clients and a byte-counting upstream for the hostile-client tests.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect, createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';

export interface RawReply {
  /** Everything the proxy sent, as latin1 text. */
  text: string;
  /** The first response's status, or 0 when nothing came. */
  status: number;
  /** True when the proxy closed the connection (FIN or reset) before `waitMs` passed. */
  closed: boolean;
  /** From connect to close (or to the end of waitMs). */
  ms: number;
  error: string | undefined;
}

export const statusOf = (text: string): number => Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1] ?? 0);

/** Body of the first response in `text` (what follows the blank line). */
export const bodyOf = (text: string): string => text.slice(text.indexOf('\r\n\r\n') + 4);

/**
 * Connects, writes `chunks` (with `gapMs` between them), and collects what comes back until the
 * proxy closes the connection or `waitMs` passes.
 */
export function rawRequest(port: number, chunks: string | (string | Buffer)[], opts: { gapMs?: number; waitMs?: number } = {}): Promise<RawReply> {
  const list = typeof chunks === 'string' ? [chunks] : chunks;
  const waitMs = opts.waitMs ?? 5_000;
  return new Promise((resolve) => {
    const started = performance.now();
    const parts: Buffer[] = [];
    let error: string | undefined;
    let timer: NodeJS.Timeout | undefined;
    const s = connect(port, '127.0.0.1', () => {
      let i = 0;
      const next = () => {
        if (s.destroyed || i >= list.length) return;
        s.write(list[i++]!);
        if (i < list.length) timer = setTimeout(next, opts.gapMs ?? 0);
      };
      next();
    });
    const done = (closed: boolean) => {
      clearTimeout(timer);
      clearTimeout(wait);
      const text = Buffer.concat(parts).toString('latin1');
      resolve({ text, status: statusOf(text), closed, ms: performance.now() - started, error });
      s.destroy();
    };
    const wait = setTimeout(() => done(false), waitMs);
    s.on('data', (d: Buffer) => parts.push(d));
    s.on('error', (e: NodeJS.ErrnoException) => (error = e.code ?? e.message));
    s.on('close', () => done(true));
  });
}

/** A raw client connection that stays open: send requests on it, read complete responses. */
export class RawConnection {
  readonly socket: Socket;
  readonly closed: Promise<number>;
  #buf = '';
  #waiters: (() => void)[] = [];
  readonly #opened = performance.now();

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      this.#buf += d;
      for (const w of this.#waiters.splice(0)) w();
    });
    socket.on('error', () => {});
    this.closed = new Promise((r) =>
      socket.on('close', () => {
        for (const w of this.#waiters.splice(0)) w();
        r(performance.now() - this.#opened);
      }),
    );
  }

  static open(port: number): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const s = connect(port, '127.0.0.1', () => resolve(new RawConnection(s)));
      s.once('error', reject);
    });
  }

  /** Sends one request and resolves with its complete response (Content-Length framed), or what came before a close. */
  async request(text: string, timeoutMs = 5_000): Promise<string> {
    this.socket.write(text);
    return this.response(timeoutMs);
  }

  async response(timeoutMs = 5_000): Promise<string> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const head = this.#buf.indexOf('\r\n\r\n');
      if (head >= 0) {
        const len = Number(/\r\ncontent-length: *(\d+)/i.exec(this.#buf.slice(0, head))?.[1] ?? 0);
        if (this.#buf.length >= head + 4 + len) {
          const out = this.#buf.slice(0, head + 4 + len);
          this.#buf = this.#buf.slice(head + 4 + len);
          return out;
        }
      }
      if (this.socket.destroyed || performance.now() > deadline) {
        const out = this.#buf;
        this.#buf = '';
        return out;
      }
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.max(1, deadline - performance.now()));
        this.#waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  close(): void {
    this.socket.destroy();
  }
}

export interface CountingUpstream {
  port: number;
  /** TCP connections the upstream accepted. */
  connections(): number;
  /** Bytes it received, over all connections. */
  bytes(): number;
  seen: { method: string; url: string; rawHeaders: string[]; body: string }[];
  close(): Promise<void>;
}

/** An HTTP upstream that counts every connection and byte it receives (answers `up <method> <url> <body length>`). */
export async function countingUpstream(handler?: (req: IncomingMessage, res: ServerResponse, body: string) => void): Promise<CountingUpstream> {
  const sockets = new Set<Socket>();
  let closedBytes = 0;
  let connections = 0;
  const seen: CountingUpstream['seen'] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('latin1');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, rawHeaders: req.rawHeaders, body });
      if (handler) return handler(req, res, body);
      res.end(`up ${req.method} ${req.url} ${body.length}`);
    });
  });
  server.on('connection', (s: Socket) => {
    connections++;
    sockets.add(s);
    s.on('close', () => {
      closedBytes += s.bytesRead;
      sockets.delete(s);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    connections: () => connections,
    bytes: () => closedBytes + [...sockets].reduce((n, s) => n + s.bytesRead, 0),
    seen,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** A TCP server that must receive nothing: counts connections and bytes, answers nothing. */
export async function bystander(): Promise<{ port: number; connections(): number; bytes(): number; close(): Promise<void> }> {
  let connections = 0;
  let bytes = 0;
  const sockets = new Set<Socket>();
  const server = createNetServer((s) => {
    connections++;
    sockets.add(s);
    s.on('data', (d: Buffer) => (bytes += d.length));
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    connections: () => connections,
    bytes: () => bytes,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** A raw upstream that answers every connection with `reply` (then closes after a moment), for malformed responses. */
export async function rawUpstream(reply: string): Promise<{ port: number; connections(): number; close(): Promise<void> }> {
  let connections = 0;
  const sockets = new Set<Socket>();
  const server = createNetServer((s) => {
    connections++;
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
    s.once('data', () => {
      s.write(reply);
      setTimeout(() => s.end(), 200);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    connections: () => connections,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
