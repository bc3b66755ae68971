// The idle keep-alive close race (issue 4): an app that closes its idle keep-alive connections the
// instant it gets SIGTERM (Node's server.close() does) closes the connection a POST is about to be
// written on. These tests make the upstream close that connection at a moment they control: after
// undici's idle-socket validation has looked at it, right before the proxy writes the POST.
// They test the undici path (with `Expect: 100-continue` turned off: POSTs then go through undici);
// test/dataplane/expect-continue.test.ts covers the same race on the Expect path.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { InFlightHandle, Upstream } from '../../src/registry/upstream.ts';
import { addUpstream, startProxy } from '../support/servers.ts';
import { request } from '../support/http.ts';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** An HTTP upstream that records the requests it read and can close its connections on demand. */
async function closingUpstream(onConnection?: (s: Socket) => void) {
  const sockets = new Set<Socket>();
  const seen: { method: string; url: string; bytes: number }[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      seen.push({ method: req.method!, url: req.url!, bytes: body.length });
      res.end(sha(body));
    });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    onConnection?.(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    seen,
    sockets,
    /** What Node's server.close() does to idle keep-alive connections. */
    closeIdle: () => {
      for (const s of sockets) s.destroy();
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/**
 * Runs `fn` in the check phase of the turn in which the proxy dispatches its next attempt to `up`:
 * the setImmediate is queued before undici's idle-socket validation (also a setImmediate), so the
 * close lands after that validation read the socket and before the request is written.
 */
function onNextDispatch(up: Upstream, fn: () => void): void {
  const add = up.add.bind(up);
  up.add = (h: InFlightHandle): void => {
    up.add = add;
    add(h);
    setImmediate(fn);
  };
}

test('a POST written on a keep-alive connection the upstream closed a moment before is sent again, not lost', async (t) => {
  const { proxy, url } = await startProxy({ expectContinueTimeoutMs: 0 });
  t.after(() => proxy.stop(100));
  const app = await closingUpstream();
  t.after(() => app.close());
  const up = addUpstream(proxy, 'web', app.port);

  for (let round = 0; round < 5; round++) {
    // A GET leaves an idle keep-alive connection in the proxy's pool.
    const warm = await request(`${url}/warm${round}`);
    assert.equal(warm.status, 200);
    assert.equal(app.sockets.size, 1, 'one idle keep-alive connection to the upstream');
    onNextDispatch(up, () => app.closeIdle());
    const body = Buffer.alloc(8 * 1024, round + 1);
    const r = await request(`${url}/post${round}`, { method: 'POST', body });
    assert.equal(r.status, 200, `round ${round}: ${r.status} ${r.headers['x-bluegreen-error'] ?? ''} ${r.body}`);
    assert.equal(r.body, sha(body));
  }
  const posts = app.seen.filter((s) => s.method === 'POST');
  assert.equal(posts.length, 5, 'each POST reached the app exactly once');
});

test('a POST whose body could not be fully written (the upstream reset mid-body) is sent again', async (t) => {
  // 8 MiB: more than loopback's socket buffers take at once, so the proxy is still writing when
  // the first connection is reset; the retry buffer is raised so the body can be replayed.
  const { proxy, url } = await startProxy({ retryBufferBytes: 16 * 1024 * 1024, expectContinueTimeoutMs: 0 });
  t.after(() => proxy.stop(100));
  let resets = 0;
  const app = await closingUpstream((s) => {
    if (resets > 0) return;
    resets++;
    // The first connection: reset as soon as the first bytes of the request arrive.
    s.once('data', () => s.resetAndDestroy());
  });
  t.after(() => app.close());
  addUpstream(proxy, 'web', app.port);
  const body = Buffer.alloc(8 * 1024 * 1024, 3);
  const r = await request(`${url}/big`, { method: 'POST', body });
  assert.equal(resets, 1);
  assert.equal(r.status, 200, `${r.status} ${r.headers['x-bluegreen-error'] ?? ''} ${r.body}`);
  assert.equal(r.body, sha(body));
  assert.deepEqual(
    app.seen.map((s) => s.bytes),
    [body.length],
    'the app read the POST once, complete',
  );
});
