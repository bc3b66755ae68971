// Not an open proxy: absolute-form targets are routed by their authority and can only reach the
// upstreams of the route that serves that host; CONNECT is refused; HTTP/1.1 needs a Host.
// A "bystander" server listens on loopback and must never get a connection.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addUpstream, startProxy } from '../support/servers.ts';
import { bodyOf, bystander, countingUpstream, rawRequest } from './hostile-support.ts';

async function setup(t: import('node:test').TestContext) {
  const { proxy, port } = await startProxy();
  t.after(() => proxy.stop(100));
  const app = await countingUpstream();
  t.after(() => app.close());
  const elsewhere = await bystander();
  t.after(() => elsewhere.close());
  addUpstream(proxy, 'app', app.port);
  proxy.registry.defineService('app', { hosts: ['app.example.com'] });
  return { proxy, port, app, elsewhere };
}

test('an absolute-form request for a host no route serves: 404, and the proxy connects nowhere', async (t) => {
  const { port, app, elsewhere } = await setup(t);
  for (const target of [`http://127.0.0.1:${elsewhere.port}/steal?x=1`, `https://127.0.0.1:${elsewhere.port}/`, 'http://elsewhere.example/']) {
    // The Host header names a routed host: the authority in the target wins.
    const r = await rawRequest(port, `GET ${target} HTTP/1.1\r\nHost: app.example.com\r\nConnection: close\r\n\r\n`);
    assert.equal(r.status, 404, `${target}: ${r.text}`);
    assert.match(bodyOf(r.text), /no route for host/);
  }
  assert.equal(elsewhere.connections(), 0, 'the bystander got no connection');
  assert.equal(app.seen.length, 0, 'the routed app got none of them either');
});

test('an absolute-form request is routed by its authority and forwarded in origin form with that Host', async (t) => {
  const { proxy, port, app, elsewhere } = await setup(t);
  const r = await rawRequest(port, 'GET http://App.Example.com/p/q?x=1 HTTP/1.1\r\nHost: other.example\r\nConnection: close\r\n\r\n');
  assert.equal(r.status, 200, r.text);
  assert.equal(bodyOf(r.text), 'up GET /p/q?x=1 0');
  const seen = app.seen[0]!;
  assert.equal(seen.url, '/p/q?x=1', 'origin form upstream');
  const host = seen.rawHeaders.filter((_, i) => i % 2 === 0 && /^host$/i.test(seen.rawHeaders[i]!));
  assert.equal(host.length, 1, 'one Host upstream');
  assert.equal(seen.rawHeaders[seen.rawHeaders.findIndex((h) => /^host$/i.test(h)) + 1], 'app.example.com');
  // A query without a path.
  const q = await rawRequest(port, 'GET http://app.example.com?y=2 HTTP/1.1\r\nHost: app.example.com\r\nConnection: close\r\n\r\n');
  assert.equal(bodyOf(q.text), 'up GET /?y=2 0');
  // HTTP/1.0 without a Host header: the authority becomes the Host upstream.
  const h10 = await rawRequest(port, 'GET http://app.example.com/old HTTP/1.0\r\n\r\n');
  assert.equal(h10.status, 200, h10.text);
  const old = app.seen.find((s) => s.url === '/old')!;
  assert.equal(old.rawHeaders[old.rawHeaders.findIndex((h) => /^host$/i.test(h)) + 1], 'app.example.com');
  // With a default service, an unknown authority goes to the default service's upstream: still
  // never anywhere else.
  const def = await countingUpstream();
  t.after(() => def.close());
  addUpstream(proxy, 'fallback', def.port);
  const d = await rawRequest(port, `GET http://127.0.0.1:${elsewhere.port}/z HTTP/1.1\r\nHost: app.example.com\r\nConnection: close\r\n\r\n`);
  assert.equal(d.status, 200, d.text);
  assert.equal(def.seen[0]!.url, '/z');
  assert.equal(elsewhere.connections(), 0);
});

test('CONNECT is refused with 405 and a body, and the connection closed; nothing is tunnelled', async (t) => {
  const { port, elsewhere, app } = await setup(t);
  for (const target of [`127.0.0.1:${elsewhere.port}`, 'app.example.com:443']) {
    const r = await rawRequest(port, `CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\nSSH-2.0-hello\r\n`);
    assert.equal(r.status, 405, r.text);
    assert.match(r.text, /\r\nx-bluegreen-error: METHOD_NOT_ALLOWED\r\n/i);
    assert.match(r.text, /\r\nconnection: close\r\n/i);
    assert.match(bodyOf(r.text), /CONNECT is not supported/);
    assert.equal(r.closed, true);
  }
  assert.equal(elsewhere.connections(), 0);
  assert.equal(app.connections(), 0);
});

test('HTTP/1.1 without Host, and targets that are neither a path nor an http(s) URL: 400 with a body', async (t) => {
  const { port, app, elsewhere } = await setup(t);
  const cases: [string, RegExp][] = [
    ['GET / HTTP/1.1\r\n\r\n', /HTTP\/1\.1 request without a Host header/],
    [`GET http://127.0.0.1:${elsewhere.port}/ HTTP/1.1\r\n\r\n`, /without a Host header/],
    ['OPTIONS * HTTP/1.1\r\nHost: app.example.com\r\n\r\n', /request target "\*" is neither a path nor an http\(s\) URL/],
    [`GET http://user@127.0.0.1:${elsewhere.port}/ HTTP/1.1\r\nHost: app.example.com\r\n\r\n`, /neither a path nor an http\(s\) URL/],
    ['GET ftp://app.example.com/ HTTP/1.1\r\nHost: app.example.com\r\n\r\n', /neither a path nor an http\(s\) URL/],
    ['GET http:///nohost HTTP/1.1\r\nHost: app.example.com\r\n\r\n', /neither a path nor an http\(s\) URL/],
    // authority-form outside CONNECT: Node's parser already refuses it
    ['GET app.example.com:80 HTTP/1.1\r\nHost: app.example.com\r\n\r\n', /malformed request: Unexpected char in url schema/],
  ];
  for (const [text, why] of cases) {
    const r = await rawRequest(port, text);
    assert.equal(r.status, 400, `${JSON.stringify(text)}: ${r.text}`);
    assert.match(bodyOf(r.text), why);
    assert.equal(r.closed, true);
  }
  assert.equal(app.connections(), 0);
  assert.equal(elsewhere.connections(), 0);
  // HTTP/1.0 may omit Host: it goes to the default service (none here: 404).
  const old = await rawRequest(port, 'GET / HTTP/1.0\r\n\r\n');
  assert.equal(old.status, 404);
});

test('a WebSocket upgrade goes through the same checks: two Hosts are refused before any upstream is asked', async (t) => {
  const { port, app } = await setup(t);
  const r = await rawRequest(
    port,
    'GET /ws HTTP/1.1\r\nHost: app.example.com\r\nHost: evil.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
  );
  assert.equal(r.status, 400, r.text);
  assert.match(bodyOf(r.text), /2 Host header fields/);
  assert.equal(app.connections(), 0);
});

test('upgrades other than WebSocket (h2c, a POST upgrade) get 400 with a body; nothing is tunnelled', async (t) => {
  const { port, app } = await setup(t);
  for (const text of [
    'GET / HTTP/1.1\r\nHost: app.example.com\r\nUpgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n',
    'POST / HTTP/1.1\r\nHost: app.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nContent-Length: 3\r\n\r\nabc',
  ]) {
    const r = await rawRequest(port, text);
    assert.equal(r.status, 400, r.text);
    assert.match(bodyOf(r.text), /only WebSocket upgrades/);
    assert.equal(r.closed, true);
  }
  assert.equal(app.connections(), 0);
});
