import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { WebSocketServer } from 'ws';
import { addUpstream, sleep, startProxy, startUpstream } from '../support/servers.ts';
import { endOf, exchange, sendRaw } from '../support/raw-http.ts';

// The listener's stop against keep-alive clients (the proxy in this process, so that a request can
// be written in the very tick the stop begins).

async function keptAlive(port: number, n: number): Promise<Socket[]> {
  return Promise.all(
    Array.from({ length: n }, async () => {
      const s = connect(port, '127.0.0.1');
      await new Promise<void>((r, j) => s.once('connect', r).once('error', j));
      const first = await exchange(s, '/first');
      assert.ok('head' in first && /\r\nconnection: keep-alive/i.test(first.head), JSON.stringify(first));
      return s;
    }),
  );
}

test('stop: requests written in the tick the stop begins, on idle keep-alive connections, get a response with Connection: close, never a reset', async (t) => {
  const up = await startUpstream('u', (_req, res) => res.end('done'));
  t.after(() => up.close());
  const { proxy, port } = await startProxy({ shutdownIdleCloseMs: 500 });
  addUpstream(proxy, 'web', up.port);
  const sockets = await keptAlive(port, 20);
  t.after(() => sockets.forEach((s) => s.destroy()));

  const stopped = proxy.stop(10_000);
  const answers = await Promise.all(sockets.map((s, i) => exchange(s, `/second-${i}`)));
  const ends = await Promise.all(sockets.map((s) => endOf(s)));
  await stopped;
  answers.forEach((r, i) => {
    assert.ok('head' in r, `request ${i}: ${'ended' in r ? r.ended : ''}`);
    assert.match(r.head, /^HTTP\/1\.1 200/);
    assert.match(r.head, /\r\nconnection: close/i);
    assert.equal(r.body, 'done');
  });
  assert.deepEqual(new Set(ends), new Set(['end']), 'each connection then closes with a FIN');
});

test('stop: an idle connection closes after the idle interval, one that has begun to send a request stays open and is answered', async (t) => {
  const up = await startUpstream('u', (_req, res) => res.end('done'));
  t.after(() => up.close());
  const { proxy, port } = await startProxy({ shutdownIdleCloseMs: 300 });
  addUpstream(proxy, 'web', up.port);
  const [idle, partial] = await keptAlive(port, 2);
  t.after(() => [idle!, partial!].forEach((s) => s.destroy()));
  const idleEnd = endOf(idle!);

  // Half a request line now; the rest well after the idle interval has passed.
  partial!.write('GET /sec');
  const stopped = proxy.stop(10_000);
  assert.equal(await idleEnd, 'end', 'the idle connection is closed with a FIN');
  await sleep(600);
  assert.ok(!partial!.destroyed && !partial!.readableEnded, 'the connection with half a request is still open');
  const r = await sendRaw(partial!, 'ond HTTP/1.1\r\nHost: web\r\n\r\n');
  assert.ok('head' in r, JSON.stringify(r));
  assert.match(r.head, /^HTTP\/1\.1 200/);
  assert.match(r.head, /\r\nconnection: close/i);
  assert.equal(await endOf(partial!), 'end');
  await stopped;
});

test('stop: a connection that has not sent its first request yet gets time to send it', async (t) => {
  const up = await startUpstream('u', (_req, res) => res.end('done'));
  t.after(() => up.close());
  const { proxy, port } = await startProxy({ shutdownIdleCloseMs: 0 });
  addUpstream(proxy, 'web', up.port);
  const fresh = connect(port, '127.0.0.1');
  t.after(() => fresh.destroy());
  await new Promise<void>((r, j) => fresh.once('connect', r).once('error', j));
  await sleep(50); // accepted by the proxy
  const stopped = proxy.stop(10_000);
  await sleep(300);
  const r = await exchange(fresh, '/first');
  assert.ok('head' in r, JSON.stringify(r));
  assert.match(r.head, /\r\nconnection: close/i);
  await stopped;
});

test('stop: an open WebSocket gets a 1001 close once the stopping proxy has finished its HTTP work (clients reconnect to the new instance)', async (t) => {
  const server = createServer((_req, res) => res.end('http'));
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws) => ws.on('message', (m) => ws.send(m)));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => { for (const c of wss.clients) c.terminate(); wss.close(); server.close(() => r()); }));
  const { proxy, port } = await startProxy({ shutdownIdleCloseMs: 200 });
  addUpstream(proxy, 'web', (server.address() as AddressInfo).port);
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
  const closed = new Promise<CloseEvent>((r) => ws.addEventListener('close', r));
  await new Promise((r, j) => { ws.addEventListener('open', r); ws.addEventListener('error', j); });
  const echoed = new Promise((r) => ws.addEventListener('message', r, { once: true }));
  ws.send('hi');
  await echoed;
  await proxy.stop(30_000);
  assert.equal((await closed).code, 1001);
});
