// The HTTPS listener's share of the client limits: the connection limit closes a new connection
// before its handshake, and a handshake that never comes is bounded by limits.headerTimeout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type TLSSocket } from 'node:tls';
import { Proxy } from '../../src/proxy.ts';
import { addUpstream, silentLogger } from '../support/servers.ts';
import { selfSigned } from '../tls/certs.ts';
import { countingUpstream, rawRequest, statusOf } from './hostile-support.ts';

function tlsOpen(port: number, ca: string): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, ca, servername: 'app.test' }, () => resolve(s));
    s.once('error', reject);
  });
}

function tlsGet(s: TLSSocket, path: string): Promise<string> {
  return new Promise((resolve) => {
    let buf = '';
    const onData = (d: Buffer) => {
      buf += d.toString('latin1');
      const head = buf.indexOf('\r\n\r\n');
      const len = Number(/\r\ncontent-length: *(\d+)/i.exec(buf)?.[1] ?? -1);
      if (head >= 0 && len >= 0 && buf.length >= head + 4 + len) {
        s.off('data', onData);
        resolve(buf);
      }
    };
    s.on('data', onData);
    s.write(`GET ${path} HTTP/1.1\r\nHost: app.test\r\n\r\n`);
  });
}

test('HTTPS: above limits.maxConnections a new connection is closed before the handshake; a stalled handshake is closed after limits.headerTimeout', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'bgh-tls-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const pem = await selfSigned(['app.test']);
  await writeFile(join(dir, 'default.crt'), pem.cert);
  await writeFile(join(dir, 'default.key'), pem.key);
  const proxy = new Proxy({
    logger: silentLogger,
    listen: { host: '127.0.0.1', port: 0 },
    tls: { dir, listen: { host: '127.0.0.1', port: 0 } },
    dataPlane: { maxConnections: 2, clientHeaderTimeoutMs: 1000 },
  });
  await proxy.start();
  t.after(() => proxy.stop(100));
  const port = proxy.tlsAddress!.port;
  const up = await countingUpstream();
  t.after(() => up.close());
  addUpstream(proxy, 'web', up.port);

  // A TCP connection that never starts its handshake.
  const stalled = await rawRequest(port, [], { waitMs: 10_000 });
  assert.equal(stalled.closed, true);
  assert.ok(stalled.ms >= 950, `closed after ${Math.round(stalled.ms)} ms`);

  const a = await tlsOpen(port, pem.cert);
  const b = await tlsOpen(port, pem.cert);
  t.after(() => [a, b].forEach((s) => s.destroy()));
  assert.equal(statusOf(await tlsGet(a, '/a')), 200);
  assert.equal(statusOf(await tlsGet(b, '/b')), 200);
  await assert.rejects(tlsOpen(port, pem.cert), (err: NodeJS.ErrnoException) => /ECONNRESET|socket disconnected|socket hang up/i.test(`${err.code} ${err.message}`));
  // The open ones keep being served.
  assert.equal(statusOf(await tlsGet(a, '/a2')), 200);
  assert.equal(statusOf(await tlsGet(b, '/b2')), 200);
  a.destroy();
  await new Promise((r) => setTimeout(r, 200));
  const c = await tlsOpen(port, pem.cert);
  t.after(() => c.destroy());
  assert.equal(statusOf(await tlsGet(c, '/c')), 200);
  assert.deepEqual(up.seen.map((s) => s.url), ['/a', '/b', '/a2', '/b2', '/c']);
});
