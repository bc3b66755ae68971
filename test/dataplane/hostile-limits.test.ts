// Client limits, attacked over raw sockets against the real listener and data plane on loopback.
// Each attack runs while a normal request is made, which must still get its 200.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from '../support/http.ts';
import { addUpstream, sleep, startProxy } from '../support/servers.ts';
import { RawConnection, bodyOf, countingUpstream, rawRequest, statusOf } from './hostile-support.ts';
import type { DataPlaneOptions } from '../../src/dataplane/options.ts';

async function setup(t: import('node:test').TestContext, opts: Partial<DataPlaneOptions>) {
  const { proxy, url, port } = await startProxy(opts);
  t.after(() => proxy.stop(100));
  const up = await countingUpstream();
  t.after(() => up.close());
  addUpstream(proxy, 'web', up.port);
  return { proxy, url, port, up };
}

/** A normal request on a fresh connection: it must be answered 200 by the upstream. */
async function normal(url: string, path = '/normal'): Promise<void> {
  const r = await request(`${url}${path}`);
  assert.equal(r.status, 200, `normal request: ${r.status} ${r.body}`);
  assert.equal(r.body, `up GET ${path} 0`);
}

function assertRefused(r: { text: string; status: number; closed: boolean }, status: number, code: string, body: RegExp): void {
  assert.equal(r.status, status, r.text.slice(0, 300));
  assert.match(r.text, new RegExp(`\r\nx-bluegreen-error: ${code}\r\n`, 'i'));
  assert.match(r.text, /\r\nconnection: close\r\n/i);
  assert.match(bodyOf(r.text), body);
  assert.equal(r.closed, true, 'the proxy closed the connection');
}

test('header bytes above limits.maxHeaderSize: 431 with a body, connection closed, nothing forwarded', async (t) => {
  const { url, port, up } = await setup(t, { maxHeaderBytes: 4096 });
  // The attack drips a 6 KB header in 500-byte pieces; a normal request is made in the middle of it.
  const big = `GET /big HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(6000)}\r\n\r\n`;
  const pieces = big.match(/[^]{1,500}/g)!;
  const attack = rawRequest(port, pieces, { gapMs: 40 });
  await sleep(150);
  await normal(url);
  const r = await attack;
  assertRefused(r, 431, 'HEADERS_TOO_LARGE', /larger than limits\.maxHeaderSize \(4096 bytes\)/);
  assert.ok(!up.seen.some((s) => s.url === '/big'), 'the oversized request never reached the upstream');
  // Just under the limit is served.
  const ok = await rawRequest(port, `GET /fits HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(3500)}\r\nConnection: close\r\n\r\n`);
  assert.equal(ok.status, 200);
});

test('more header fields than limits.maxHeaderCount: 431, connection closed; exactly the limit is served', async (t) => {
  const { url, port, up } = await setup(t, { maxHeaderCount: 20 });
  const fields = (n: number) => Array.from({ length: n }, (_, i) => `X-F${i}: ${i}\r\n`).join('');
  const attack = rawRequest(port, `GET /many HTTP/1.1\r\nHost: x\r\n${fields(20)}\r\n`);
  await normal(url);
  assertRefused(await attack, 431, 'HEADERS_TOO_LARGE', /more than limits\.maxHeaderCount \(20 fields\)/);
  assert.ok(!up.seen.some((s) => s.url === '/many'));
  // 20 fields in all (Host + 18 + Connection) is the limit: served, and every field is forwarded.
  const ok = await rawRequest(port, `GET /twenty HTTP/1.1\r\nHost: x\r\n${fields(18)}Connection: close\r\n\r\n`);
  assert.equal(ok.status, 200);
  const seen = up.seen.find((s) => s.url === '/twenty')!;
  assert.equal(seen.rawHeaders.filter((_, i) => i % 2 === 0 && /^x-f\d+$/i.test(seen.rawHeaders[i]!)).length, 18);
});

test('a request target longer than limits.maxUrlLength: 414, also when it overflows the header limit', async (t) => {
  const { url, port, up } = await setup(t, { maxUrlBytes: 1024, maxHeaderBytes: 4096 });
  const [long, huge] = await Promise.all([
    rawRequest(port, `GET /${'u'.repeat(1500)} HTTP/1.1\r\nHost: x\r\n\r\n`),
    rawRequest(port, `GET /${'u'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`),
    normal(url),
  ]);
  assertRefused(long, 414, 'URI_TOO_LONG', /request target of 1501 bytes is longer than the limit of 1024/);
  assertRefused(huge, 414, 'URI_TOO_LONG', /request line longer than limits\.maxHeaderSize/);
  assert.equal(up.seen.filter((s) => s.url.startsWith('/uuu')).length, 0);
  const ok = await rawRequest(port, `GET /${'u'.repeat(1000)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
  assert.equal(ok.status, 200);
});

test('slowloris: headers dripped slower than limits.headerTimeout get 408 and the connection closed', async (t) => {
  const { url, port, up } = await setup(t, { clientHeaderTimeoutMs: 1000 });
  // Three connections each send a header line every 150 ms, forever.
  const drip = ['GET /slow HTTP/1.1\r\nHost: x\r\n', ...Array.from({ length: 60 }, (_, i) => `X-Drip-${i}: v\r\n`)];
  const attacks = [0, 1, 2].map(() => rawRequest(port, drip, { gapMs: 150, waitMs: 10_000 }));
  await sleep(400);
  await normal(url);
  await sleep(200);
  await normal(url, '/normal2');
  for (const r of await Promise.all(attacks)) {
    assertRefused(r, 408, 'REQUEST_TIMEOUT', /not received within limits\.headerTimeout \(1000 ms\)/);
    assert.ok(r.ms >= 950, `closed after ${Math.round(r.ms)} ms, not before the timeout`);
  }
  assert.ok(!up.seen.some((s) => s.url === '/slow'));

  // The same on a kept-alive connection: the second request's headers never complete.
  const c = await RawConnection.open(port);
  t.after(() => c.close());
  assert.equal(statusOf(await c.request('GET /first HTTP/1.1\r\nHost: x\r\n\r\n')), 200);
  c.socket.write('GET /second HTTP/1.1\r\nHost: x\r\n');
  const timer = setInterval(() => c.socket.writable && c.socket.write('X-Drip: v\r\n'), 150);
  t.after(() => clearInterval(timer));
  const second = await c.response(10_000);
  clearInterval(timer);
  assert.equal(statusOf(second), 408);
  await c.closed;
  // A connection that never sends a byte is closed by the same timeout.
  const silent = await rawRequest(port, [], { waitMs: 10_000 });
  assert.equal(silent.closed, true);
  assert.ok(silent.ms >= 950, `silent connection closed after ${Math.round(silent.ms)} ms`);
});

test('a request body that stops for limits.bodyIdleTimeout: 408, connection closed, nothing forwarded; a slow but steady body is served', async (t) => {
  const { url, port, up } = await setup(t, { clientBodyIdleTimeoutMs: 1000 });
  const stalled = rawRequest(port, 'POST /stalled HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789', { waitMs: 10_000 });
  const stalledChunked = rawRequest(port, 'POST /stalled-chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n', { waitMs: 10_000 });
  // 10 bytes, one every 300 ms: 3 s in all, but never 1 s of silence.
  const steady = rawRequest(port, ['POST /steady HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nConnection: close\r\n\r\n', ...'abcdefghij'], {
    gapMs: 300,
    waitMs: 15_000,
  });
  await sleep(300);
  await normal(url);
  for (const r of [await stalled, await stalledChunked]) {
    assertRefused(r, 408, 'REQUEST_TIMEOUT', /no request body bytes for 1000 ms/);
    assert.ok(r.ms >= 950, `closed after ${Math.round(r.ms)} ms`);
  }
  assert.ok(!up.seen.some((s) => s.url.startsWith('/stalled')), 'an incomplete body never reached the upstream');
  const s = await steady;
  assert.equal(s.status, 200, s.text);
  assert.equal(bodyOf(s.text), 'up POST /steady 10');
});

test('an idle keep-alive connection is closed after clientKeepAlive; one in use is not', async (t) => {
  const { url, port } = await setup(t, { clientKeepAliveMs: 1000 });
  const idle = await RawConnection.open(port);
  t.after(() => idle.close());
  const busy = await RawConnection.open(port);
  t.after(() => busy.close());
  const r = await idle.request('GET /once HTTP/1.1\r\nHost: x\r\n\r\n');
  assert.equal(statusOf(r), 200);
  assert.match(r, /\r\nkeep-alive: timeout=1\r\n/i);
  const after = performance.now();
  // `busy` sends a request every 400 ms meanwhile and stays open; a fresh client is served too.
  for (let i = 0; i < 8; i++) {
    assert.equal(statusOf(await busy.request(`GET /busy${i} HTTP/1.1\r\nHost: x\r\n\r\n`)), 200);
    await sleep(400);
  }
  await normal(url);
  await idle.closed;
  const idleFor = performance.now() - after;
  // Node keeps an idle connection keepAliveTimeout + 1 s (keepAliveTimeoutBuffer) so that a client
  // that honours `timeout=1` always closes first.
  assert.ok(idleFor >= 950, `closed after ${Math.round(idleFor)} ms idle`);
  assert.equal(busy.socket.destroyed, false, 'the connection in use is still open');
});

test('above limits.maxConnections: 503 with a body and Connection: close; open connections keep being served', async (t) => {
  const { port, up } = await setup(t, { maxConnections: 4 });
  const conns = await Promise.all([0, 1, 2, 3].map(() => RawConnection.open(port)));
  t.after(() => conns.forEach((c) => c.close()));
  for (const [i, c] of conns.entries()) assert.equal(statusOf(await c.request(`GET /c${i} HTTP/1.1\r\nHost: x\r\n\r\n`)), 200);

  const fifth = await rawRequest(port, 'GET /fifth HTTP/1.1\r\nHost: x\r\n\r\n');
  assertRefused(fifth, 503, 'TOO_MANY_CONNECTIONS', /too many client connections \(limit 4\)/);
  assert.ok(!up.seen.some((s) => s.url === '/fifth'));
  // The four open connections are still served, during and after.
  for (const [i, c] of conns.entries()) assert.equal(statusOf(await c.request(`GET /again${i} HTTP/1.1\r\nHost: x\r\n\r\n`)), 200);

  // Connections above the limit that send nothing are closed after a moment; beyond twice the
  // limit they are closed at accept.
  const quiet = await Promise.all([0, 1, 2, 3].map(() => rawRequest(port, [], { waitMs: 10_000 })));
  for (const q of quiet) {
    assert.equal(q.closed, true);
    assert.equal(q.text, '');
  }
  const extra = await Promise.all([0, 1, 2, 3].map(() => RawConnection.open(port)));
  t.after(() => extra.forEach((c) => c.close()));
  const ninth = await rawRequest(port, 'GET /ninth HTTP/1.1\r\nHost: x\r\n\r\n', { waitMs: 10_000 });
  assert.equal(ninth.closed, true);
  assert.equal(ninth.status, 0, `closed at accept, nothing written: ${JSON.stringify(ninth.text)}`);
  extra.forEach((c) => c.close());

  // A slot freed is a slot served.
  conns[0]!.close();
  await conns[0]!.closed;
  await sleep(100);
  const fresh = await rawRequest(port, 'GET /fresh HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  assert.equal(fresh.status, 200, fresh.text);
  assert.equal(statusOf(await conns[1]!.request('GET /still HTTP/1.1\r\nHost: x\r\n\r\n')), 200);
});

test('a settings reload applies the limits to the next connection', async (t) => {
  const { proxy, port } = await setup(t, {});
  const fields = Array.from({ length: 10 }, (_, i) => `X-F${i}: ${i}\r\n`).join('');
  const req = `GET /${'u'.repeat(300)} HTTP/1.1\r\nHost: x\r\n${fields}X-Big: ${'b'.repeat(3000)}\r\nConnection: close\r\n\r\n`;
  assert.equal((await rawRequest(port, req)).status, 200);
  proxy.dataPlane.updateOptions({ maxHeaderCount: 5 });
  assert.equal((await rawRequest(port, req)).status, 431);
  proxy.dataPlane.updateOptions({ maxHeaderCount: 100, maxHeaderBytes: 2048 });
  assert.equal((await rawRequest(port, req)).status, 431);
  proxy.dataPlane.updateOptions({ maxHeaderBytes: 16 * 1024, maxUrlBytes: 200 });
  assert.equal((await rawRequest(port, req)).status, 414);
  proxy.dataPlane.updateOptions({ maxUrlBytes: 8 * 1024 });
  assert.equal((await rawRequest(port, req)).status, 200);
});

test('a body that stalls after the upstream already answered: the response arrives, then the connection is closed', async (t) => {
  // Once the response is complete Node times the connection with its keep-alive timeout
  // (clientKeepAlive + 1 s), which then closes it; without a listener swallowing that timeout.
  const { proxy, port } = await startProxy({ clientBodyIdleTimeoutMs: 1000, retryBufferBytes: 1024, clientKeepAliveMs: 2000 });
  t.after(() => proxy.stop(100));
  // An upstream that answers at once without reading the body.
  const early = createServer((req, res) => res.end('early'));
  await new Promise<void>((r) => early.listen(0, '127.0.0.1', r));
  t.after(() => {
    early.closeAllConnections();
    early.close();
  });
  addUpstream(proxy, 'web', (early.address() as AddressInfo).port);
  const r = await rawRequest(port, `POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n${'b'.repeat(5000)}`, { waitMs: 10_000 });
  assert.equal(r.status, 200, r.text);
  assert.equal(bodyOf(r.text), 'early');
  assert.equal(r.closed, true, 'the connection with a stalled, unwanted body is closed');
  assert.ok(r.ms >= 2950, `closed after ${Math.round(r.ms)} ms`);
});
