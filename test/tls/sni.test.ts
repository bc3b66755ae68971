import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from '../support/http.ts';
import { addUpstream, silentLogger, startUpstream } from '../support/servers.ts';
import { CertificateStore } from '../../src/tls/certificate-store.ts';
import { createCa, selfSigned } from './certs.ts';
import { captureLogger, handshake, httpsGet, startTlsProxy } from './harness.ts';

test('SNI picks the exact name, then a one-label wildcard, then the default; all layouts load; ALPN is http/1.1; X-Forwarded-Proto is https over TLS', async (t) => {
  const ca = await createCa();
  t.after(() => ca.close());
  const dir = await mkdtemp(join(tmpdir(), 'bg-tls-'));
  t.after(() => rm(dir, { recursive: true, force: true }));

  const exact = await ca.issue(['example.com', 'www.example.com']);
  const wild = await ca.issue(['*.example.com']);
  const api = await ca.issue(['api.example.com']);
  const shop = await ca.issue(['shop.test']);
  const def = await selfSigned(['fallback.test']);
  // flat NAME.crt + NAME.key
  await writeFile(join(dir, 'example.com.crt'), exact.cert);
  await writeFile(join(dir, 'example.com.key'), exact.key);
  await writeFile(join(dir, 'wildcard.crt'), wild.cert);
  await writeFile(join(dir, 'wildcard.key'), wild.key);
  // NAME/fullchain.pem + privkey.pem (Let's Encrypt live/DOMAIN), the chain including the CA
  await mkdir(join(dir, 'api.example.com'));
  await writeFile(join(dir, 'api.example.com', 'fullchain.pem'), api.cert + ca.cert);
  await writeFile(join(dir, 'api.example.com', 'privkey.pem'), api.key);
  await writeFile(join(dir, 'api.example.com', 'chain.pem'), ca.cert);
  // NAME.pem holding both; default.pem is the default
  await writeFile(join(dir, 'shop.pem'), shop.cert + shop.key);
  await writeFile(join(dir, 'default.pem'), def.key + def.cert);
  await writeFile(join(dir, 'README'), 'not a certificate\n');

  const { logger, lines } = captureLogger();
  const up = await startUpstream('app');
  t.after(() => up.close());
  const p = await startTlsProxy(dir, { logger });
  t.after(() => p.proxy.stop(0));
  addUpstream(p.proxy, 'app', up.port);

  const trust = [ca.cert, def.cert];
  const serialFor = async (servername?: string) => (await handshake(p.tlsPort, { ca: trust, ...(servername ? { servername } : {}) })).serial;
  assert.equal(await serialFor('example.com'), exact.serial);
  assert.equal(await serialFor('WWW.Example.COM'), exact.serial, 'names match case-insensitively');
  assert.equal(await serialFor('foo.example.com'), wild.serial, 'wildcard');
  assert.equal(await serialFor('api.example.com'), api.serial, 'exact beats wildcard; directory layout');
  assert.equal(await serialFor('shop.test'), shop.serial, 'combined NAME.pem');
  // A wildcard covers one label: a.b.example.com gets the default, which a client then refuses.
  await assert.rejects(serialFor('a.b.example.com'), /does not match|ERR_TLS_CERT_ALTNAME_INVALID/);
  assert.equal((await handshake(p.tlsPort, { ca: trust, servername: 'a.b.example.com', checkName: false })).serial, def.serial);
  assert.equal((await handshake(p.tlsPort, { ca: trust, servername: 'other.org', checkName: false })).serial, def.serial);
  assert.equal(await serialFor(undefined), def.serial, 'no SNI: default');
  const h = await handshake(p.tlsPort, { ca: trust, servername: 'example.com' });
  assert.equal(h.alpn, 'http/1.1', 'ALPN offers HTTP/1.1 only');
  assert.equal(p.proxy.certificates!.select('unknown.org')?.serialNumber, def.serial, 'unknown name: default');
  assert.equal(p.proxy.certificates!.select('a.b.example.com')?.serialNumber, def.serial);
  assert.deepEqual(
    p.proxy.certificates!.certificates.map((c) => c.pair).sort(),
    ['api.example.com/', 'default', 'example.com', 'shop', 'wildcard'],
  );
  assert.ok(!lines.some((l) => l.level >= 50), `no errors logged: ${JSON.stringify(lines.filter((l) => l.level >= 50))}`);

  // Requests over TLS reach the upstream with X-Forwarded-Proto: https; plain HTTP ones with http.
  const r = await httpsGet(p.tlsPort, { ca: trust, servername: 'www.example.com', path: '/hello' });
  assert.equal(r.status, 200);
  assert.equal(r.body, 'app GET /hello 0');
  assert.equal(up.seen.at(-1)!.headers['x-forwarded-proto'], 'https');
  assert.equal(up.seen.at(-1)!.headers['x-forwarded-host'], 'www.example.com');
  const plain = await request(`http://127.0.0.1:${p.httpPort}/plain`);
  assert.equal(plain.status, 200);
  assert.equal(up.seen.at(-1)!.headers['x-forwarded-proto'], 'http');
});

test('without a default.* file the first pair loaded is the default; no SNI callback answer without certificates', async (t) => {
  const ca = await createCa();
  t.after(() => ca.close());
  const dir = await mkdtemp(join(tmpdir(), 'bg-tls-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const store = new CertificateStore({ dir, logger: silentLogger });
  await store.reload();
  assert.equal(store.select('x.test'), undefined);
  const err = await new Promise<Error | null>((r) => store.SNICallback('x.test', (e) => r(e)));
  assert.match(String(err), /no certificate/);

  const b = await ca.issue(['b.test']);
  const a = await ca.issue(['a.test']);
  await writeFile(join(dir, 'b.crt'), b.cert);
  await writeFile(join(dir, 'b.key'), b.key);
  await store.reload();
  await writeFile(join(dir, 'a.crt'), a.cert);
  await writeFile(join(dir, 'a.key'), a.key);
  await store.reload();
  assert.equal(store.defaultCertificate?.serialNumber, b.serial, 'first loaded');
  assert.equal(store.select(undefined)?.serialNumber, b.serial);
  assert.equal(store.select('a.test')?.serialNumber, a.serial);
  assert.equal(store.select('a.test.')?.serialNumber, a.serial, 'trailing dot');
});
