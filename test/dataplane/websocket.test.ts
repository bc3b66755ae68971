import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { addUpstream, sleep, startProxy } from '../support/servers.ts';

async function startEchoServer() {
  const server = createServer((_req, res) => res.end('http'));
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws, req) => {
    ws.send(`hello ${req.headers['x-forwarded-for'] ? 'forwarded' : 'direct'}`);
    ws.on('message', (m, isBinary) => ws.send(m, { binary: isBinary }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((r) => { for (const c of wss.clients) c.terminate(); wss.close(); server.close(() => r()); }),
  };
}

function open(url: string): Promise<{ ws: WebSocket; messages: string[]; closed: Promise<CloseEvent> }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const messages: string[] = [];
    const closed = new Promise<CloseEvent>((r) => ws.addEventListener('close', r));
    ws.addEventListener('message', (e) => messages.push(String(e.data)));
    ws.addEventListener('open', () => resolve({ ws, messages, closed }));
    ws.addEventListener('error', () => reject(new Error('websocket error')));
  });
}

async function until(cond: () => boolean, ms = 3000) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(10);
  }
}

test('a WebSocket echo works through the proxy and keeps its upstream from being removed until it closes', async (t) => {
  const { proxy, port } = await startProxy();
  t.after(() => proxy.stop(100));
  const echo = await startEchoServer();
  t.after(() => echo.close());
  const up = addUpstream(proxy, 'web', echo.port);
  const { ws, messages, closed } = await open(`ws://127.0.0.1:${port}/ws`);
  await until(() => messages.length === 1);
  assert.equal(messages[0], 'hello forwarded');
  ws.send('ping 1');
  await until(() => messages.length === 2);
  assert.equal(messages[1], 'ping 1');
  assert.equal(up.inFlight, 1);
  assert.equal(up.webSockets, 1);

  proxy.registry.drain(up.id, Date.now() + 30_000);
  await sleep(300);
  assert.equal(up.state, 'draining');
  assert.ok(proxy.registry.upstreams.has(up.id), 'not removed while the socket is open');
  ws.send('still here');
  await until(() => messages.length === 3);
  assert.equal(messages[2], 'still here');

  ws.close(1000, 'done');
  await closed;
  await until(() => !proxy.registry.upstreams.has(up.id));
  assert.equal(up.state, 'gone');
});

test('at the drain deadline an open WebSocket is closed with 1001', async (t) => {
  const { proxy, port } = await startProxy();
  t.after(() => proxy.stop(100));
  const echo = await startEchoServer();
  t.after(() => echo.close());
  const up = addUpstream(proxy, 'web', echo.port);
  const { messages, closed } = await open(`ws://127.0.0.1:${port}/`);
  await until(() => messages.length === 1);
  proxy.registry.drain(up.id, Date.now() + 200);
  const ev = await closed;
  assert.equal(ev.code, 1001);
  assert.equal(up.abortedAtDeadline, 1);
});

test('a WebSocket upgrade is held until an upstream is ready', async (t) => {
  const { proxy, port } = await startProxy();
  t.after(() => proxy.stop(100));
  const echo = await startEchoServer();
  t.after(() => echo.close());
  proxy.registry.defineService('web');
  const opening = open(`ws://127.0.0.1:${port}/`);
  await sleep(300);
  addUpstream(proxy, 'web', echo.port);
  const { ws, messages } = await opening;
  await until(() => messages.length === 1);
  ws.close();
});
