// Framing is never ambiguous: requests that could be read two ways are answered 400 and closed
// before any byte reaches an upstream; what reaches an upstream is re-serialized by the proxy; an
// upstream answer that could be read two ways becomes a 502.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { request } from '../support/http.ts';
import { addUpstream, startProxy } from '../support/servers.ts';
import { bodyOf, countingUpstream, rawRequest, rawUpstream } from './hostile-support.ts';

const BAD_REQUESTS: [string, string][] = [
  ['Content-Length and Transfer-Encoding', 'POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'],
  ['Transfer-Encoding and Content-Length', 'POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n'],
  ['two different Content-Length', 'POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!'],
  ['two equal Content-Length', 'POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello'],
  ['a Content-Length list', 'POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\n\r\nhello'],
  ['a signed Content-Length', 'POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello'],
  ['Transfer-Encoding: chunked, identity', 'POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n5\r\nhello\r\n0\r\n\r\n'],
  ['Transfer-Encoding: xchunked', 'POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n'],
  ['Transfer-Encoding: identity', 'POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n\r\nhello'],
  ['Transfer-Encoding: chunked;x=1', 'POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked;x=1\r\n\r\n5\r\nhello\r\n0\r\n\r\n'],
  ['Transfer-Encoding: gzip, chunked (a coding the proxy would drop)', 'POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n'],
  ['Transfer-Encoding twice', 'POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n'],
  ['"Transfer-Encoding : chunked" (space before the colon)', 'POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n'],
  ['Transfer-Encoding folded onto a second line (obs-fold)', 'POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\n chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n'],
  ['a folded header value (obs-fold)', 'GET /x HTTP/1.1\r\nHost: x\r\nX-A: one\r\n\ttwo\r\n\r\n'],
  ['an invalid chunk size', 'POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n'],
  ['an overflowing chunk size', 'POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\nhello\r\n0\r\n\r\n'],
  ['a chunk longer than its size', 'POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n'],
  ['whitespace before a colon', 'GET /x HTTP/1.1\r\nHost: x\r\nX-A : 1\r\n\r\n'],
  ['a tab before a colon', 'GET /x HTTP/1.1\r\nHost: x\r\nX-A\t: 1\r\n\r\n'],
  ['bare LF line ends', 'GET /x HTTP/1.1\nHost: x\n\n'],
  ['a bare CR in a value', 'GET /x HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n'],
  ['a NUL in a value', 'GET /x HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n'],
  ['an empty header name', 'GET /x HTTP/1.1\r\nHost: x\r\n: v\r\n\r\n'],
  ['two Host headers', 'GET /x HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n'],
  ['a space in the target', 'GET /x y HTTP/1.1\r\nHost: x\r\n\r\n'],
  ['a control character in the target', 'GET /x\x01 HTTP/1.1\r\nHost: x\r\n\r\n'],
  ['an unknown method', 'FOO /x HTTP/1.1\r\nHost: x\r\n\r\n'],
];

test('ambiguous or malformed requests: 400 with a body, connection closed, not a byte to the upstream', async (t) => {
  const { proxy, url, port } = await startProxy();
  t.after(() => proxy.stop(100));
  const up = await countingUpstream();
  t.after(() => up.close());
  addUpstream(proxy, 'web', up.port);
  for (const [name, text] of BAD_REQUESTS) {
    const r = await rawRequest(port, text);
    assert.equal(r.status, 400, `${name}: ${JSON.stringify(r.text.slice(0, 200))}`);
    assert.match(r.text, /\r\nx-bluegreen-error: BAD_REQUEST\r\n/i, name);
    assert.match(r.text, /\r\nconnection: close\r\n/i, name);
    assert.ok(bodyOf(r.text).length > 10, `${name}: a body says why`);
    assert.equal(r.closed, true, `${name}: connection closed`);
    assert.equal(up.connections(), 0, `${name}: the upstream got a connection`);
    assert.equal(up.bytes(), 0, `${name}: the upstream got bytes`);
  }
  // The proxy is fine: a normal request afterwards is served.
  const ok = await request(`${url}/after`);
  assert.equal(ok.status, 200);
  assert.equal(up.seen.length, 1);
});

test('a second request smuggled behind a refused one is never parsed or forwarded', async (t) => {
  const { proxy, port } = await startProxy();
  t.after(() => proxy.stop(100));
  const up = await countingUpstream();
  t.after(() => up.close());
  addUpstream(proxy, 'web', up.port);
  // CL.TE and TE.CL classics: the "body" is a complete request to /admin.
  const smuggled = 'GET /admin HTTP/1.1\r\nHost: x\r\n\r\n';
  for (const text of [
    `POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: ${5 + smuggled.length}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${smuggled}`,
    `POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n${(smuggled.length).toString(16)}\r\n${smuggled}\r\n0\r\n\r\n`,
    `POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: ${smuggled.length}\r\n\r\n${smuggled}`,
  ]) {
    const r = await rawRequest(port, text);
    assert.equal(r.status, 400);
    assert.equal(r.text.match(/HTTP\/1\.1 /g)!.length, 1, 'one response only');
  }
  assert.equal(up.connections(), 0);
});

test('what reaches the upstream is re-serialized by the proxy, never the client bytes', async (t) => {
  const { proxy, port } = await startProxy();
  t.after(() => proxy.stop(100));
  // A raw upstream that records the exact bytes of each request.
  const received: string[] = [];
  const server = createServer((s: Socket) => {
    let buf = '';
    s.setEncoding('latin1');
    s.on('data', (d: string) => {
      buf += d;
      const head = buf.indexOf('\r\n\r\n');
      if (head < 0) return;
      const len = Number(/\r\ncontent-length: *(\d+)/i.exec(buf.slice(0, head))?.[1] ?? 0);
      if (buf.length < head + 4 + len) return;
      received.push(buf.slice(0, head + 4 + len));
      buf = buf.slice(head + 4 + len);
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    });
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  addUpstream(proxy, 'web', (server.address() as AddressInfo).port);

  // Chunked with extensions, odd chunk sizes and a trailer; a tab before the Transfer-Encoding
  // value (legal OWS); padded values; a zero-padded Content-Length on the second request.
  const r1 = await rawRequest(
    port,
    'POST /one HTTP/1.1\r\nHost: x\r\nX-Pad: \t  padded value \t \r\nTransfer-Encoding:\tchunked\r\nConnection: close\r\n\r\n' +
      '3;ext=1\r\nhel\r\n8\r\nlo world\r\n0\r\nX-Trailer: t\r\n\r\n',
  );
  assert.equal(r1.status, 200, r1.text);
  const r2 = await rawRequest(port, 'POST /two HTTP/1.1\r\nHost: x\r\nContent-Length: 005\r\nConnection: close\r\n\r\nhello');
  assert.equal(r2.status, 200, r2.text);
  assert.equal(received.length, 2);
  const [one, two] = received as [string, string];
  assert.match(one, /^POST \/one HTTP\/1\.1\r\n/);
  assert.doesNotMatch(one, /transfer-encoding/i, 'the body is re-framed, not relayed chunked');
  assert.match(one, /\r\ncontent-length: 11\r\n/i);
  assert.ok(one.endsWith('\r\n\r\nhello world'), `body re-serialized without chunk syntax: ${JSON.stringify(one)}`);
  assert.doesNotMatch(one, /ext=1|X-Trailer/i);
  assert.match(one, /\r\nX-Pad: padded value\r\n/, 'optional whitespace is trimmed');
  assert.doesNotMatch(one, /\r\n[ \t]/, 'no line starts with whitespace: obs-fold cannot reach an upstream');
  assert.match(two, /\r\ncontent-length: 5\r\n/i, 'Content-Length written by the proxy, not copied');
  assert.doesNotMatch(two, /005/);
  for (const req of received) {
    const lines = req.slice(0, req.indexOf('\r\n\r\n')).split('\r\n').slice(1);
    for (const line of lines) assert.match(line, /^[!#$%&'*+.^_`|~0-9A-Za-z-]+: [^\r\n]*$/, `a clean "name: value" line: ${JSON.stringify(line)}`);
  }
});

// (A response whose final coding is not chunked is not ambiguous: RFC 9112 §6.3 reads it until the
// connection closes, and the proxy re-frames what it read.)
const BAD_RESPONSES: [string, string][] = [
  ['Content-Length and Transfer-Encoding', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n'],
  ['two different Content-Length', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!'],
  ['an invalid Content-Length', 'HTTP/1.1 200 OK\r\nContent-Length: 5x\r\n\r\nhello'],
  ['whitespace before a colon', 'HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\nhello'],
  ['a folded header (obs-fold)', 'HTTP/1.1 200 OK\r\nX-A: one\r\n two\r\nContent-Length: 5\r\n\r\nhello'],
  ['an invalid status line', 'HTTX/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello'],
  ['a four-digit status', 'HTTP/1.1 2000 OK\r\nContent-Length: 5\r\n\r\nhello'],
  ['no status code', 'HTTP/1.1 OK\r\nContent-Length: 5\r\n\r\nhello'],
  ['not HTTP at all', 'SSH-2.0-OpenSSH_9.2\r\n'],
  ['bare LF line ends', 'HTTP/1.1 200 OK\nContent-Length: 5\n\nhello'],
];

test('an upstream answer with ambiguous framing or an invalid status line: 502 with a body', async (t) => {
  const { proxy, url } = await startProxy({ retryBufferBytes: 1024 * 1024 });
  t.after(() => proxy.stop(100));
  for (const [name, reply] of BAD_RESPONSES) {
    const bad = await rawUpstream(reply);
    t.after(() => bad.close());
    const u = addUpstream(proxy, `bad${BAD_RESPONSES.findIndex(([n]) => n === name)}`, bad.port);
    proxy.registry.defineService(u.service, { hosts: [`${u.service}.test`] });
    const r = await request(`${url}/x`, { method: 'POST', body: 'data', headers: { host: `${u.service}.test` } });
    assert.equal(r.status, 502, `${name}: ${r.status} ${r.body}`);
    // undici reports some parse errors as the socket failing (UPSTREAM_RESET), others as a bad
    // response; either way the client gets a 502 saying which upstream and why.
    assert.match(String(r.headers['x-bluegreen-error']), /^UPSTREAM_(BAD_RESPONSE|RESET)$/, name);
    assert.match(r.body, /upstream bad\d+-\d+ \(127\.0\.0\.1:\d+\) of service bad\d+: \S/, name);
  }
});

test('an upstream whose chunked body breaks after valid headers: the client sees a cut response, never a complete one', async (t) => {
  const { proxy, port } = await startProxy();
  t.after(() => proxy.stop(100));
  const bad = await rawUpstream('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\nmore\r\n0\r\n\r\n');
  t.after(() => bad.close());
  addUpstream(proxy, 'web', bad.port);
  const r = await rawRequest(port, 'GET /x HTTP/1.1\r\nHost: x\r\n\r\n');
  assert.equal(r.closed, true);
  assert.doesNotMatch(r.text, /\r\n0\r\n\r\n$/, 'no terminating chunk');
  assert.doesNotMatch(r.text, /more/, 'nothing after the broken chunk');
});

test('a broken chunk after the retry buffer (the body already streams upstream): 400 to the client, the upstream never gets a complete request', async (t) => {
  const { proxy, port } = await startProxy({ retryBufferBytes: 64 * 1024 });
  t.after(() => proxy.stop(100));
  const up = await countingUpstream();
  t.after(() => up.close());
  addUpstream(proxy, 'web', up.port);
  const chunk = `${(16 * 1024).toString(16)}\r\n${'x'.repeat(16 * 1024)}\r\n`;
  const r = await rawRequest(port, [
    'POST /stream HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n',
    chunk.repeat(8),
    'zz\r\nbroken\r\n0\r\n\r\n',
  ], { gapMs: 200 });
  assert.equal(r.status, 400, r.text.slice(0, 200));
  assert.equal(r.closed, true);
  await new Promise((res) => setTimeout(res, 300));
  assert.ok(up.bytes() > 64 * 1024, 'the first part of the body did stream to the upstream');
  assert.equal(up.seen.length, 0, 'but the upstream never saw a complete request');
});
