import { readSync } from 'node:fs';
import type { Socket } from 'node:net';
import { Pool, buildConnector } from 'undici';
import type { Registry } from '../registry/registry.ts';
import type { Upstream } from '../registry/upstream.ts';
import { ContinueClient } from './continue-client.ts';

export interface PoolOptions {
  connectTimeoutMs: number;
  headersTimeoutMs: number;
  /** Longest silence between two body chunks from the upstream. */
  bodyTimeoutMs: number;
  /** Longest an idle keep-alive connection to an upstream is kept. */
  keepAliveTimeoutMs: number;
  connectionsPerUpstream: number;
  /** How long a request sent with `Expect: 100-continue` waits for the 100 before its body goes anyway. */
  continueTimeoutMs: number;
}

/** Told when the request it armed the check for found its connection already closed by the peer. */
export interface PeerCloseWatcher {
  peerClosedBeforeWrite(): void;
}

let armed: PeerCloseWatcher | undefined;
const disarm = (): void => {
  armed = undefined;
};

/**
 * Arms a last check on the connection the current request is about to be written on: undici calls
 * the dispatch handler's onRequestStart synchronously right before it writes the request, so the
 * next write (or cork) on an upstream socket in this same tick is this request's. If the upstream
 * has already closed that connection (its FIN or RST is in the kernel but not yet read by the event
 * loop: an app closing idle keep-alive connections on SIGTERM), nothing is written, the socket is
 * destroyed, and `w` is told, so the request can be sent elsewhere whatever its method.
 * undici's own idle-socket validation reads pending events before a reused socket is written, but
 * not a close that arrives while the event loop is busy between that read and the write.
 */
export function checkPeerBeforeNextWrite(w: PeerCloseWatcher): void {
  armed = w;
  queueMicrotask(disarm);
}

const ONE_BYTE = Buffer.alloc(1);

/** True when the peer has closed or reset the connection, or sent bytes nobody asked for. */
function peerHasClosed(socket: Socket): boolean {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) return false;
  // The usual answer is an EAGAIN exception: no stack trace for it (a quarter of its cost).
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    // Non-blocking fd: EAGAIN when the connection is open and idle; 0 at end of stream. A byte
    // read means the upstream sent something unsolicited: the connection is unusable anyway.
    readSync(fd, ONE_BYTE, 0, 1, null);
    return true;
  } catch (err) {
    const code = (err as { code?: string }).code;
    return code !== 'EAGAIN' && code !== 'EWOULDBLOCK';
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/** Raised on a connection found closed before a request was written on it. */
class ClosedBeforeWriteError extends Error {
  readonly code = 'UPSTREAM_CLOSED_BEFORE_WRITE';
}

const CUT_WHILE_WRITING = Symbol('bluegreen.cutWhileWriting');

/**
 * True when the connection broke while part of the request was still waiting to be written: EPIPE
 * or an error reported by a write, or any error while the socket still held unwritten bytes. undici
 * reports a request "sent" once it is handed to the socket, not once the kernel took all of it, so
 * a large body can fail this way after onRequestSent: the upstream never received all of it.
 */
export function cutWhileWriting(err: Error): boolean {
  const e = err as { code?: string; syscall?: string; [CUT_WHILE_WRITING]?: boolean };
  return e[CUT_WHILE_WRITING] === true || e.code === 'EPIPE' || e.syscall === 'write';
}

function guardedWrites(socket: Socket): void {
  const check = (): void => {
    const w = armed;
    if (!w) return;
    armed = undefined;
    if (!socket.destroyed && peerHasClosed(socket)) {
      w.peerClosedBeforeWrite();
      socket.destroy(new ClosedBeforeWriteError('the upstream closed the connection before the request was written'));
    }
  };
  const write = socket.write;
  const cork = socket.cork;
  socket.write = function (this: Socket, ...args: unknown[]): boolean {
    check();
    return (write as (...a: unknown[]) => boolean).apply(this, args);
  } as Socket['write'];
  socket.cork = function (this: Socket): void {
    check();
    cork.call(this);
  };
  // Node (a read or write error) and undici destroy the socket with the error the request fails
  // with; whether bytes were still queued is known only now (destroy discards them).
  const destroy = socket.destroy;
  socket.destroy = function (this: Socket, err?: Error): Socket {
    if (err && typeof err === 'object' && this.writableLength > 0) {
      try {
        Object.defineProperty(err, CUT_WHILE_WRITING, { value: true });
      } catch {
        // a frozen error object: it is then classified by its code alone
      }
    }
    return destroy.call(this, err);
  };
}

/** undici's default connector, with the pre-write check on every socket it makes. */
function guardedConnector(timeoutMs: number): buildConnector.connector {
  const connect = buildConnector({ timeout: timeoutMs });
  return (opts, cb) =>
    connect(opts, (...args) => {
      if (args[1]) guardedWrites(args[1]);
      cb(...args);
    });
}

/**
 * One undici Pool per upstream (keep-alive, bounded connections, connect timeout), and for requests
 * that must not be sent twice one ContinueClient (made on first use). A draining upstream's pools
 * are closed at once: idle sockets close, running requests end.
 */
export class UpstreamPools {
  readonly #pools = new Map<string, Pool>();
  readonly #continue = new Map<string, ContinueClient>();
  readonly #opts: () => PoolOptions;

  /** `opts` is read each time a pool is created, so changed settings apply to new pools. */
  constructor(registry: Registry, opts: () => PoolOptions) {
    this.#opts = opts;
    registry.on('upstream-state', (up, _from, to) => {
      if (to === 'draining' || to === 'gone') this.#close(up.id);
    });
    registry.on('upstream-removed', (up) => this.#close(up.id));
  }

  get(up: Upstream): Pool {
    let pool = this.#pools.get(up.id);
    if (!pool) {
      const o = this.#opts();
      pool = new Pool(up.origin, {
        connections: o.connectionsPerUpstream,
        pipelining: 1,
        connect: guardedConnector(o.connectTimeoutMs),
        headersTimeout: o.headersTimeoutMs,
        bodyTimeout: o.bodyTimeoutMs,
        keepAliveTimeout: o.keepAliveTimeoutMs,
        keepAliveMaxTimeout: o.keepAliveTimeoutMs,
      });
      this.#pools.set(up.id, pool);
    }
    return pool;
  }

  /**
   * The upstream's `Expect: 100-continue` client (made on first use); undefined once the upstream
   * has shown it ignores Expect. The caller decides whether Expect is on.
   */
  continueClient(up: Upstream): ContinueClient | undefined {
    let c = this.#continue.get(up.id);
    if (!c) {
      const o = this.#opts();
      c = new ContinueClient(up.origin, {
        connectTimeoutMs: o.connectTimeoutMs,
        headersTimeoutMs: o.headersTimeoutMs,
        bodyTimeoutMs: o.bodyTimeoutMs,
        keepAliveTimeoutMs: o.keepAliveTimeoutMs,
        connections: o.connectionsPerUpstream,
        continueTimeoutMs: o.continueTimeoutMs,
      });
      this.#continue.set(up.id, c);
    }
    return c.ignoresExpect ? undefined : c;
  }

  #close(id: string): void {
    const c = this.#continue.get(id);
    if (c) {
      this.#continue.delete(id);
      c.close();
    }
    const pool = this.#pools.get(id);
    if (!pool) return;
    this.#pools.delete(id);
    // close() waits for running requests; idle sockets go now. Errors here only mean "already closed".
    pool.close().catch(() => {});
  }

  async closeAll(): Promise<void> {
    const pools = [...this.#pools.values()];
    this.#pools.clear();
    for (const c of this.#continue.values()) c.destroy();
    this.#continue.clear();
    await Promise.allSettled(pools.map((p) => p.close()));
  }
}
