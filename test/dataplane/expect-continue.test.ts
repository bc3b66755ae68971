// Requests that must not be sent twice (POST, PATCH, bodies above the retry buffer) go upstream
// with `Expect: 100-continue` (src/dataplane/continue-client.ts). A connection that breaks before
// the 100 proves the app never took the request: an app closing its idle keep-alive connections at
// SIGTERM, or its listener with connections still queued. The upstreams here are raw TCP servers
// speaking HTTP/1.1 by hand, so each test decides exactly when the 100 comes, or never does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer as createNetServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { addUpstream, startProxy, startUpstream } from '../support/servers.ts';
import { request } from '../support/http.ts';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

interface RawRequest {
  head: string;
  /** Body bytes this server read for the request. */
  bodyBytes: number;
}

/**
 * A hand-written HTTP/1.1 upstream. For each request head it calls `onHead`, which decides what the
 * server does; `seen` records every head and how many body bytes followed it.
 */
async function rawUpstream(
  onHead: (s: Socket, head: string, n: number, readBody: (then: (body: Buffer) => void) => void) => void,
): Promise<{ port: number; seen: RawRequest[]; close: () => Promise<void> }> {
  const seen: RawRequest[] = [];
  const sockets = new Set<Socket>();
  let n = 0;
  const server: Server = createNetServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    let buf = Buffer.alloc(0);
    let waitingBody: { need: number; got: Buffer[]; rec: RawRequest; then: (b: Buffer) => void } | undefined;
    let current: RawRequest | undefined;
    const pump = (): void => {
      for (;;) {
        if (waitingBody) {
          const have = waitingBody.got.reduce((a, b) => a + b.length, 0);
          const take = Math.min(waitingBody.need - have, buf.length);
          if (take > 0) {
            waitingBody.got.push(buf.subarray(0, take));
            buf = buf.subarray(take);
            waitingBody.rec.bodyBytes += take;
          }
          if (have + take < waitingBody.need) return;
          const w = waitingBody;
          waitingBody = undefined;
          w.then(Buffer.concat(w.got));
          continue;
        }
        if (current) return; // the test's handler has not read or answered this request yet
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.subarray(0, end).toString('latin1');
        buf = buf.subarray(end + 4);
        const rec: RawRequest = { head, bodyBytes: 0 };
        seen.push(rec);
        current = rec;
        const len = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        onHead(s, head, ++n, (then) => {
          waitingBody = {
            need: len,
            got: [],
            rec,
            then: (b) => {
              current = undefined;
              then(b);
            },
          };
          pump();
        });
      }
    };
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      pump();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    seen,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

const respond = (s: Socket, status: number, body: string, extra = ''): void => {
  s.write(`HTTP/1.1 ${status} X\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`);
};

test('a POST whose connection is reset before the 100 goes to another upstream; the first never read its body', async (t) => {
  for (const size of [8 * 1024, 2 * 1024 * 1024]) {
    // 2 MiB is above the 1 MiB retry buffer: a one-shot stream, still untouched when the reset came.
    const { proxy, url } = await startProxy();
    t.after(() => proxy.stop(100));
    // What an app closing an idle keep-alive connection does to a request that just arrived on it.
    const closing = await rawUpstream((s) => s.resetAndDestroy());
    t.after(() => closing.close());
    const good = await startUpstream('good', (_req, res, body) => res.end(sha(body)));
    t.after(() => good.close());
    addUpstream(proxy, 'web', closing.port); // registered first: tried first while both are idle
    addUpstream(proxy, 'web', good.port);
    const body = Buffer.alloc(size, 7);
    const r = await request(`${url}/order`, { method: 'POST', body });
    assert.equal(r.status, 200, `${size}: ${r.status} ${r.headers['x-bluegreen-error'] ?? ''} ${r.body}`);
    assert.equal(r.body, sha(body));
    assert.equal(closing.seen.length, 1, 'the first upstream got the request head');
    assert.match(closing.seen[0]!.head, /\r\nexpect: 100-continue/i);
    assert.equal(closing.seen[0]!.bodyBytes, 0, 'and not one byte of the body');
    assert.equal(good.seen.length, 1, 'the POST reached an app exactly once');
    assert.equal(good.seen[0]!.body.length, size);
  }
});

test('with Expect turned off the same reset fails the POST (what the Expect path prevents)', async (t) => {
  const { proxy, url } = await startProxy({ expectContinueTimeoutMs: 0 });
  t.after(() => proxy.stop(100));
  const closing = await rawUpstream((s) => s.resetAndDestroy());
  t.after(() => closing.close());
  const good = await startUpstream('good');
  t.after(() => good.close());
  addUpstream(proxy, 'web', closing.port);
  addUpstream(proxy, 'web', good.port);
  const r = await request(`${url}/order`, { method: 'POST', body: Buffer.alloc(8 * 1024, 1) });
  assert.equal(r.status, 502);
  assert.equal(r.headers['x-bluegreen-error'], 'UPSTREAM_RESET');
  assert.equal(good.seen.length, 0);
  assert.doesNotMatch(closing.seen[0]!.head, /expect:/i);
});

test('a POST whose upstream dies after the 100 is not sent again (it may have been processed)', async (t) => {
  const { proxy, url } = await startProxy();
  t.after(() => proxy.stop(100));
  const dying = await rawUpstream((s, _head, _n, readBody) => {
    s.write('HTTP/1.1 100 Continue\r\n\r\n');
    readBody(() => s.resetAndDestroy());
  });
  t.after(() => dying.close());
  const good = await startUpstream('good');
  t.after(() => good.close());
  addUpstream(proxy, 'web', dying.port);
  addUpstream(proxy, 'web', good.port);
  const body = Buffer.alloc(8 * 1024, 2);
  const r = await request(`${url}/order`, { method: 'POST', body });
  assert.equal(r.status, 502);
  assert.equal(r.headers['x-bluegreen-error'], 'UPSTREAM_RESET');
  assert.equal(dying.seen[0]!.bodyBytes, body.length, 'the upstream read the whole body');
  assert.equal(good.seen.length, 0, 'never replayed');
});

test('an upstream that never answers 100 gets the body after the continue timeout, and later POSTs without Expect', async (t) => {
  const { proxy, url } = await startProxy({ expectContinueTimeoutMs: 200 });
  t.after(() => proxy.stop(100));
  const deaf = await rawUpstream((s, _head, _n, readBody) => readBody((b) => respond(s, 200, sha(b))));
  t.after(() => deaf.close());
  addUpstream(proxy, 'web', deaf.port);
  for (let i = 0; i < 3; i++) {
    const body = Buffer.alloc(1000 + i, 3);
    const r = await request(`${url}/p${i}`, { method: 'POST', body });
    assert.equal(r.status, 200, `${i}: ${r.body}`);
    assert.equal(r.body, sha(body));
  }
  assert.equal(deaf.seen.length, 3);
  assert.match(deaf.seen[0]!.head, /expect: 100-continue/i, 'the first POST asked');
  assert.doesNotMatch(deaf.seen[1]!.head, /expect:/i, 'the next ones do not');
  assert.doesNotMatch(deaf.seen[2]!.head, /expect:/i);
});

test('an upstream that answered 100 before keeps getting Expect after a slow one (it answers when its handler reads)', async (t) => {
  const { proxy, url } = await startProxy({ expectContinueTimeoutMs: 150 });
  t.after(() => proxy.stop(100));
  // Like Go's net/http: the 100 goes out when the handler starts reading the body.
  const lazy = await rawUpstream((s, head, _n, readBody) => {
    const wait = / \/slow /.test(head) ? 400 : 0;
    setTimeout(() => {
      if (!s.destroyed) s.write('HTTP/1.1 100 Continue\r\n\r\n');
      readBody((b) => respond(s, 200, sha(b)));
    }, wait);
  });
  t.after(() => lazy.close());
  addUpstream(proxy, 'web', lazy.port);
  for (const path of ['/fast', '/slow', '/after']) {
    const body = Buffer.from(`body of ${path}`);
    const r = await request(`${url}${path}`, { method: 'POST', body });
    assert.equal(r.status, 200, `${path}: ${r.body}`);
    assert.equal(r.body, sha(body));
  }
  assert.equal(lazy.seen.length, 3);
  for (const rec of lazy.seen) assert.match(rec.head, /expect: 100-continue/i, rec.head.split('\r\n')[0]);
});

test('a final answer before the 100 is relayed, the body never sent, and the connection not reused', async (t) => {
  const { proxy, url } = await startProxy();
  t.after(() => proxy.stop(100));
  const sockets = new Set<Socket>();
  const strict = await rawUpstream((s) => {
    sockets.add(s);
    respond(s, 413, 'too large');
  });
  t.after(() => strict.close());
  addUpstream(proxy, 'web', strict.port);
  const r = await request(`${url}/too-big`, { method: 'POST', body: Buffer.alloc(64 * 1024, 1) });
  assert.equal(r.status, 413);
  assert.equal(r.body, 'too large');
  assert.equal(strict.seen[0]!.bodyBytes, 0, 'the body was withheld');
  // The connection that still expected a body is closed, not handed to the next request.
  await new Promise((res) => setTimeout(res, 50));
  for (const s of sockets) assert.ok(s.destroyed || s.readableEnded, 'the withheld-body connection was closed');
});

test('a 100 followed by no response headers ends in a 504 at the headers timeout', async (t) => {
  const { proxy, url } = await startProxy({ headersTimeoutMs: 300 });
  t.after(() => proxy.stop(100));
  const silent = await rawUpstream((s, _head, _n, readBody) => {
    s.write('HTTP/1.1 100 Continue\r\n\r\n');
    readBody(() => {});
  });
  t.after(() => silent.close());
  addUpstream(proxy, 'web', silent.port);
  const r = await request(`${url}/slow`, { method: 'POST', body: 'hello' });
  assert.equal(r.status, 504);
  assert.equal(r.headers['x-bluegreen-error'], 'UPSTREAM_HEADERS_TIMEOUT');
});

test('responses on the Expect path keep their status, headers, body and trailers, and connections are reused', async (t) => {
  const { proxy, port } = await startProxy();
  t.after(() => proxy.stop(100));
  const connections = new Set<Socket>();
  const app = await rawUpstream((s, _head, _n, readBody) => {
    connections.add(s);
    s.write('HTTP/1.1 100 Continue\r\n\r\n');
    readBody((b) => {
      s.write(
        'HTTP/1.1 201 Created\r\nset-cookie: a=1\r\nset-cookie: b=2\r\nx-app: yes\r\ntransfer-encoding: chunked\r\ntrailer: x-sum\r\n\r\n' +
          `5\r\nhello\r\n${(b.length.toString(16))}\r\n${b.toString('latin1')}\r\n0\r\nx-sum: ${b.length}\r\n\r\n`,
      );
    });
  });
  t.after(() => app.close());
  addUpstream(proxy, 'web', app.port);
  const { request: httpRequest } = await import('node:http');
  for (let i = 0; i < 3; i++) {
    const got = await new Promise<{ status: number; cookies: string[] | undefined; app: unknown; body: string; sum: unknown }>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port, method: 'PATCH', path: `/r${i}`, agent: false, headers: { te: 'trailers' } }, (res) => {
        let body = '';
        res.setEncoding('latin1');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode!, cookies: res.headers['set-cookie'], app: res.headers['x-app'], body, sum: res.trailers['x-sum'] }));
      });
      req.on('error', reject);
      req.end(`patch-${i}`);
    });
    assert.deepEqual(got, { status: 201, cookies: ['a=1', 'b=2'], app: 'yes', body: `hellopatch-${i}`, sum: String(`patch-${i}`.length) });
  }
  assert.equal(app.seen.length, 3);
  assert.equal(connections.size, 1, 'one upstream connection, kept alive between the three');
});

test('a chunked POST above the retry buffer streams through the Expect path whole', async (t) => {
  const { proxy, port } = await startProxy();
  t.after(() => proxy.stop(100));
  const good = await startUpstream('good', (req, res, body) => res.end(`${req.headers['transfer-encoding']} ${req.headers.expect} ${sha(body)}`));
  t.after(() => good.close());
  addUpstream(proxy, 'web', good.port);
  const { request: httpRequest } = await import('node:http');
  const chunk = Buffer.alloc(64 * 1024, 9);
  const got = await new Promise<string>((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method: 'POST', path: '/upload', agent: false }, (res) => {
      let b = '';
      res.on('data', (c: Buffer) => (b += c));
      res.on('end', () => resolve(`${res.statusCode} ${b}`));
    });
    req.on('error', reject);
    for (let i = 0; i < 40; i++) req.write(chunk); // 2.5 MiB, no Content-Length
    req.end();
  });
  assert.equal(got, `200 chunked 100-continue ${sha(Buffer.concat(Array.from({ length: 40 }, () => chunk)))}`);
});
