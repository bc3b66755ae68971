import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addUpstream, sleep, startUpstream } from '../support/servers.ts';
import { createCa } from './certs.ts';
import { captureLogger, handshake, httpsGet, startTlsProxy } from './harness.ts';

test('stop: the TLS listener stops accepting and lets an in-flight HTTPS request finish, like the HTTP one', async (t) => {
  const ca = await createCa();
  t.after(() => ca.close());
  const dir = await mkdtemp(join(tmpdir(), 'bg-tls-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const pem = await ca.issue(['app.test']);
  await writeFile(join(dir, 'app.test.crt'), pem.cert);
  await writeFile(join(dir, 'app.test.key'), pem.key);
  const up = await startUpstream('app', (req, res) => setTimeout(() => res.end('done'), req.url === '/slow' ? 1000 : 0));
  t.after(() => up.close());
  const { logger, lines } = captureLogger();
  const p = await startTlsProxy(dir, { logger });
  addUpstream(p.proxy, 'app', up.port);

  const slow = httpsGet(p.tlsPort, { ca: ca.cert, servername: 'app.test', path: '/slow' });
  await sleep(300);
  const stopped = p.proxy.stop(5000);
  await sleep(100);
  await assert.rejects(handshake(p.tlsPort, { ca: ca.cert, servername: 'app.test' }), /ECONNREFUSED/);
  const r = await slow;
  assert.equal(r.status, 200);
  assert.equal(r.body, 'done');
  assert.equal(r.headers.connection, 'close');
  await stopped;
  const stops = lines.filter((l) => l.msg === 'listener stopped');
  assert.equal(stops.length, 2);
  assert.ok(stops.every((l) => l.outcome === 'idle'));
  assert.ok(stops.some((l) => l.protocol === 'https'));
});
