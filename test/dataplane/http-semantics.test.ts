import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { addUpstream, sleep, startProxy, startUpstream } from '../support/servers.ts';
import { request } from '../support/http.ts';

test('no route: 404 with a body naming the host', async (t) => {
  const { proxy, url } = await startProxy();
  t.after(() => proxy.stop(100));
  proxy.registry.defineService('app', { hosts: ['app.example.com'] });
  const r = await request(`${url}/x`, { headers: { host: 'nope.example.org' } });
  assert.equal(r.status, 404);
  assert.match(r.body, /no route for host "nope\.example\.org"/);
});

test('hop-by-hop headers are removed both ways; Host kept; X-Forwarded-* set and client values dropped', async (t) => {
  const { proxy, url } = await startProxy();
  t.after(() => proxy.stop(100));
  const up = await startUpstream('u', (_req, res) => {
    res.writeHead(200, { connection: 'keep-alive, x-secret-hop', 'keep-alive': 'timeout=77', 'x-secret-hop': '1', 'x-app': 'yes' });
    res.end('ok');
  });
  t.after(() => up.close());
  addUpstream(proxy, 'web', up.port);
  const r = await request(`${url}/h`, {
    headers: {
      host: 'shop.example.com',
      connection: 'keep-alive, x-drop-me',
      'x-drop-me': '1',
      'proxy-authorization': 'Basic abc',
      'x-forwarded-for': '6.6.6.6',
      'x-forwarded-host': 'evil.example',
      te: 'trailers, deflate',
      'x-keep': 'kept',
    },
  });
  assert.equal(r.status, 200);
  const h = up.seen[0]!.headers;
  assert.equal(h.host, 'shop.example.com');
  assert.equal(h['x-keep'], 'kept');
  assert.equal(h['x-drop-me'], undefined);
  assert.equal(h['proxy-authorization'], undefined);
  assert.equal(h.te, 'trailers');
  assert.equal(h['x-forwarded-for'], '127.0.0.1');
  assert.equal(h['x-forwarded-proto'], 'http');
  assert.equal(h['x-forwarded-host'], 'shop.example.com');
  assert.equal(r.headers['x-app'], 'yes');
  assert.equal(r.headers['x-secret-hop'], undefined);
  assert.notEqual(r.headers['keep-alive'], 'timeout=77', "the upstream's keep-alive is not relayed");
});

test('a trusted proxy extends the X-Forwarded-For chain', async (t) => {
  const { proxy, url } = await startProxy({ trustedProxies: ['127.0.0.0/8'] });
  t.after(() => proxy.stop(100));
  const up = await startUpstream('u');
  t.after(() => up.close());
  addUpstream(proxy, 'web', up.port);
  await request(url, { headers: { 'x-forwarded-for': '203.0.113.7', 'x-forwarded-proto': 'https' } });
  assert.equal(up.seen[0]!.headers['x-forwarded-for'], '203.0.113.7, 127.0.0.1');
  assert.equal(up.seen[0]!.headers['x-forwarded-proto'], 'https');
});

test('chunked responses with trailers, HEAD and 304 pass through', async (t) => {
  const { proxy, url } = await startProxy();
  t.after(() => proxy.stop(100));
  const up = await startUpstream('u', (req, res) => {
    if (req.url === '/trailers') {
      res.writeHead(200, { trailer: 'x-checksum', 'content-type': 'text/plain' });
      res.write('part1-');
      setTimeout(() => {
        res.write('part2');
        res.addTrailers({ 'x-checksum': 'abc123' });
        res.end();
      }, 50);
    } else if (req.url === '/304') {
      res.writeHead(304, { etag: '"v1"' });
      res.end();
    } else {
      res.writeHead(200, { 'content-length': '11', 'x-method': req.method! });
      res.end(req.method === 'HEAD' ? undefined : 'hello world');
    }
  });
  t.after(() => up.close());
  addUpstream(proxy, 'web', up.port);
  const tr = await request(`${url}/trailers`, { headers: { te: 'trailers' } });
  assert.equal(tr.body, 'part1-part2');
  assert.equal(tr.headers['transfer-encoding'], 'chunked');
  assert.equal(tr.trailers['x-checksum'], 'abc123');
  const head = await request(`${url}/head`, { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(head.headers['content-length'], '11');
  assert.equal(head.headers['x-method'], 'HEAD');
  assert.equal(head.body, '');
  const nm = await request(`${url}/304`, { headers: { 'if-none-match': '"v1"' } });
  assert.equal(nm.status, 304);
  assert.equal(nm.headers.etag, '"v1"');
  assert.equal(nm.body, '');
});

test('Expect: 100-continue is answered and the body forwarded', async (t) => {
  const { proxy, port } = await startProxy();
  t.after(() => proxy.stop(100));
  const up = await startUpstream('u');
  t.after(() => up.close());
  addUpstream(proxy, 'web', up.port);
  const status = await new Promise<string>((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method: 'POST', path: '/e', agent: false, headers: { expect: '100-continue', 'content-length': '5' } });
    let sawContinue = false;
    req.on('continue', () => {
      sawContinue = true;
      req.end('hello');
    });
    req.on('response', (res) => {
      let b = '';
      res.on('data', (c) => (b += c));
      res.on('end', () => resolve(`${sawContinue} ${res.statusCode} ${b}`));
    });
    req.on('error', reject);
  });
  assert.equal(status, 'true 200 u POST /e 5');
  // The client's Expect was answered by the proxy; the upstream got the proxy's own (a POST must not be sent twice).
  assert.equal(up.seen[0]!.headers.expect, '100-continue');
});

test("a client's Expect is not passed on where the proxy sends none of its own (a PUT, or Expect turned off)", async (t) => {
  for (const [method, opts] of [['PUT', {}], ['POST', { expectContinueTimeoutMs: 0 }]] as const) {
    const { proxy, port } = await startProxy(opts);
    t.after(() => proxy.stop(100));
    const up = await startUpstream('u');
    t.after(() => up.close());
    addUpstream(proxy, 'web', up.port);
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port, method, path: '/e', agent: false, headers: { expect: '100-continue', 'content-length': '5' } });
      req.on('continue', () => req.end('hello'));
      req.on('response', (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode!));
      });
      req.on('error', reject);
    });
    assert.equal(status, 200);
    assert.equal(up.seen[0]!.headers.expect, undefined, method);
  }
});

test('a large response streams with backpressure, not buffered', async (t) => {
  const { proxy, port } = await startProxy();
  t.after(() => proxy.stop(100));
  const chunk = Buffer.alloc(64 * 1024, 97);
  let written = 0;
  const up = await startUpstream('u', (_req, res) => {
    const pump = () => {
      while (written < 64 * 1024 * 1024) {
        written += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
  });
  t.after(() => up.close());
  addUpstream(proxy, 'web', up.port);
  // A client that reads nothing for a while: the upstream must be held back by backpressure.
  const res = await new Promise<import('node:http').IncomingMessage>((resolve) => {
    httpRequest({ host: '127.0.0.1', port, path: '/big', agent: false }, resolve).end();
  });
  res.pause();
  await sleep(500);
  assert.ok(written < 16 * 1024 * 1024, `upstream wrote ${written} bytes while the client read nothing`);
  let got = 0;
  res.on('data', (c: Buffer) => (got += c.length));
  res.resume();
  await new Promise((r) => res.on('end', r));
  assert.equal(got, 64 * 1024 * 1024);
});

test('a client abort aborts the upstream request', async (t) => {
  const { proxy, url } = await startProxy();
  t.after(() => proxy.stop(100));
  let upstreamClosed = false;
  const up = await startUpstream('u', (_req, res) => {
    res.on('close', () => (upstreamClosed = true));
  });
  t.after(() => up.close());
  const u = addUpstream(proxy, 'web', up.port);
  const ac = new AbortController();
  const p = request(`${url}/hang`, { signal: ac.signal }).catch(() => 'aborted');
  await sleep(200);
  assert.equal(u.inFlight, 1);
  ac.abort();
  assert.equal(await p, 'aborted');
  await sleep(200);
  assert.equal(upstreamClosed, true);
  assert.equal(u.inFlight, 0);
});

test('an upstream that dies after headers gives the client a truncated response, never a complete-looking one', async (t) => {
  const { proxy, port } = await startProxy();
  t.after(() => proxy.stop(100));
  const up = await startUpstream('u', (req, res) => {
    if (req.url === '/cl') res.writeHead(200, { 'content-length': '100' });
    else res.writeHead(200);
    res.write('partial');
    setTimeout(() => req.socket.destroy(), 50);
  });
  t.after(() => up.close());
  addUpstream(proxy, 'web', up.port);
  for (const path of ['/cl', '/chunked']) {
    const raw = await new Promise<string>((resolve) => {
      const s = connect(port, '127.0.0.1', () => s.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`));
      let data = '';
      s.on('data', (c) => (data += c));
      s.on('close', () => resolve(data));
      s.on('error', () => {});
    });
    assert.match(raw, /^HTTP\/1\.1 200/);
    assert.match(raw, /partial/);
    if (path === '/chunked') assert.doesNotMatch(raw, /\r\n0\r\n\r\n$/, 'no terminating chunk');
    else assert.ok(raw.split('\r\n\r\n')[1]!.length < 100);
  }
});
