import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from '../support/http.ts';
import { addUpstream, startUpstream } from '../support/servers.ts';
import { httpsLocation } from '../../src/tls/redirect.ts';
import { createCa } from './certs.ts';
import { captureLogger, httpsGet, startTlsProxy } from './harness.ts';

test('tls.redirectHttp: plain HTTP is answered 308 to https://host/path on the TLS port; HTTPS is proxied', async (t) => {
  const ca = await createCa();
  t.after(() => ca.close());
  const dir = await mkdtemp(join(tmpdir(), 'bg-tls-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const pem = await ca.issue(['shop.example.com']);
  await writeFile(join(dir, 'shop.crt'), pem.cert);
  await writeFile(join(dir, 'shop.key'), pem.key);
  const up = await startUpstream('app');
  t.after(() => up.close());
  const p = await startTlsProxy(dir, { logger: captureLogger().logger, redirectHttp: true });
  t.after(() => p.proxy.stop(0));
  addUpstream(p.proxy, 'app', up.port);

  const r = await request(`http://127.0.0.1:${p.httpPort}/cart/items?id=7&x=%20`, { headers: { host: 'shop.example.com:8080' } });
  assert.equal(r.status, 308);
  assert.equal(r.headers.location, `https://shop.example.com:${p.tlsPort}/cart/items?id=7&x=%20`);
  const post = await request(`http://127.0.0.1:${p.httpPort}/order`, { method: 'POST', body: 'x'.repeat(10_000), headers: { host: 'shop.example.com' } });
  assert.equal(post.status, 308, 'any method; 308 keeps it and the body');
  assert.equal(post.headers.location, `https://shop.example.com:${p.tlsPort}/order`);
  const bad = await request(`http://127.0.0.1:${p.httpPort}/`, { headers: { host: 'evil.com/x@y' } });
  assert.equal(bad.status, 400);
  assert.equal(up.seen.length, 0, 'nothing plain reached the upstream');

  // A WebSocket upgrade over plain HTTP is redirected too.
  const raw = await new Promise<string>((resolve, reject) => {
    const s = connect(p.httpPort, '127.0.0.1', () =>
      s.write('GET /ws HTTP/1.1\r\nHost: shop.example.com\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n'),
    );
    let out = '';
    s.on('data', (c: Buffer) => (out += c.toString()));
    s.on('end', () => resolve(out));
    s.on('error', reject);
  });
  assert.match(raw, /^HTTP\/1\.1 308 Permanent Redirect\r\n/);
  assert.match(raw, new RegExp(`\r\nLocation: https://shop\\.example\\.com:${p.tlsPort}/ws\r\n`));

  // Following the redirect works.
  const s = await httpsGet(p.tlsPort, { ca: ca.cert, servername: 'shop.example.com', path: '/cart/items?id=7' });
  assert.equal(s.status, 200);
  assert.equal(up.seen.at(-1)!.headers['x-forwarded-proto'], 'https');
});

test('the redirect target leaves out port 443 and keeps any other', () => {
  const req = (url: string, host?: string) => ({ url, headers: host === undefined ? {} : { host } }) as unknown as IncomingMessage;
  assert.equal(httpsLocation(req('/a?b=1', 'example.com'), 443), 'https://example.com/a?b=1');
  assert.equal(httpsLocation(req('/a', 'example.com:80'), 443), 'https://example.com/a');
  assert.equal(httpsLocation(req('/a', 'example.com:80'), 8443), 'https://example.com:8443/a');
  assert.equal(httpsLocation(req('/', '[::1]:8080'), 8443), 'https://[::1]:8443/');
  assert.equal(httpsLocation(req('http://example.com/abs?q', 'example.com'), 443), 'https://example.com/abs?q');
  assert.equal(httpsLocation(req('*', 'example.com'), 443), 'https://example.com/');
  assert.equal(httpsLocation(req('/caf\u00e9', 'example.com'), 443), 'https://example.com/caf%E9');
  assert.equal(httpsLocation(req('/'), 443), undefined);
  assert.equal(httpsLocation(req('/', 'a b'), 443), undefined);
});
