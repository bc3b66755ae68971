// Forwarded headers: the cases of issue #9 that http-semantics.test.ts does not already cover.
// Client values are discarded unless the client is in trustedProxies, whose chain is extended.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { request } from '../support/http.ts';
import { addUpstream, startProxy, startUpstream } from '../support/servers.ts';
import { rawRequest } from './hostile-support.ts';

test('an untrusted client: every X-Forwarded-* value it sends is dropped, also repeated lines and with a trusted list it is not in', async (t) => {
  const { proxy, port } = await startProxy({ trustedProxies: ['10.0.0.0/8', '192.0.2.1'] });
  t.after(() => proxy.stop(100));
  const up = await startUpstream('u');
  t.after(() => up.close());
  addUpstream(proxy, 'web', up.port);
  const r = await rawRequest(
    port,
    'GET /f HTTP/1.1\r\nHost: shop.example.com\r\nX-Forwarded-For: 6.6.6.6\r\nX-Forwarded-For: 7.7.7.7\r\n' +
      'X-Forwarded-Proto: https\r\nx-forwarded-proto: https\r\nX-Forwarded-Host: evil.example\r\n' +
      'Forwarded: for=6.6.6.6;proto=https\r\nX-Real-IP: 6.6.6.6\r\nConnection: close\r\n\r\n',
  );
  assert.equal(r.status, 200, r.text);
  const h = up.seen[0]!.headers;
  assert.equal(h.forwarded, undefined, 'a Forwarded header from an untrusted client is dropped');
  assert.equal(h['x-real-ip'], undefined, 'an X-Real-IP header from an untrusted client is dropped');
  assert.equal(h['x-forwarded-for'], '127.0.0.1');
  assert.equal(h['x-forwarded-proto'], 'http');
  assert.equal(h['x-forwarded-host'], 'shop.example.com');
});

test('a trusted proxy: X-Forwarded-For extended, its X-Forwarded-Proto and X-Forwarded-Host kept', async (t) => {
  const { proxy, url } = await startProxy({ trustedProxies: ['127.0.0.1'] });
  t.after(() => proxy.stop(100));
  const up = await startUpstream('u');
  t.after(() => up.close());
  addUpstream(proxy, 'web', up.port);
  await request(`${url}/t`, {
    headers: {
      host: 'internal:8080',
      'x-forwarded-for': '203.0.113.7, 198.51.100.2',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'shop.example.com',
      forwarded: 'for=203.0.113.7;proto=https',
    },
  });
  const h = up.seen[0]!.headers;
  assert.equal(h.forwarded, 'for=203.0.113.7;proto=https', "a trusted proxy's Forwarded header is passed on");
  assert.equal(h['x-forwarded-for'], '203.0.113.7, 198.51.100.2, 127.0.0.1');
  assert.equal(h['x-forwarded-proto'], 'https');
  assert.equal(h['x-forwarded-host'], 'shop.example.com');
  assert.equal(h.host, 'internal:8080');
});

async function wsUpstream(): Promise<{ port: number; seen: IncomingHttpHeaders[]; close(): Promise<void> }> {
  const seen: IncomingHttpHeaders[] = [];
  const server = createServer((_req, res) => res.end('http'));
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws, req) => {
    seen.push(req.headers);
    ws.send('hi');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    seen,
    close: () =>
      new Promise<void>((r) => {
        for (const c of wss.clients) c.terminate();
        wss.close();
        server.close(() => r());
      }),
  };
}

function wsOnce(url: string, headers: Record<string, string>): Promise<void> {
  // Node's WebSocket cannot set headers: a raw upgrade, closed once the 101 arrives.
  const u = new URL(url);
  return rawRequest(
    Number(u.port),
    `GET /ws HTTP/1.1\r\nHost: ${headers.host ?? 'x'}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n` +
      `Sec-WebSocket-Version: 13\r\n${Object.entries(headers).filter(([k]) => k !== 'host').map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`,
    { waitMs: 1000 },
  ).then((r) => assert.match(r.text, /^HTTP\/1\.1 101 /));
}

test('WebSocket upgrades: an untrusted client cannot forge X-Forwarded-*, a trusted one extends the chain', async (t) => {
  const up = await wsUpstream();
  t.after(() => up.close());
  const spoof = { host: 'chat.example.com', 'X-Forwarded-For': '6.6.6.6', 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'evil.example' };

  const untrusted = await startProxy();
  t.after(() => untrusted.proxy.stop(100));
  addUpstream(untrusted.proxy, 'web', up.port);
  await wsOnce(untrusted.url, spoof);
  assert.equal(up.seen[0]!['x-forwarded-for'], '127.0.0.1');
  assert.equal(up.seen[0]!['x-forwarded-proto'], 'ws', "http-proxy-3's value for a plain upgrade; the forged https is gone");
  assert.equal(up.seen[0]!['x-forwarded-host'], 'chat.example.com');

  const trusted = await startProxy({ trustedProxies: ['127.0.0.0/8'] });
  t.after(() => trusted.proxy.stop(100));
  addUpstream(trusted.proxy, 'web', up.port);
  await wsOnce(trusted.url, spoof);
  assert.equal(up.seen[1]!['x-forwarded-for'], '6.6.6.6,127.0.0.1');
});
