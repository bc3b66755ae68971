import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from '../support/http.ts';
import { refusedPort, startUpstream } from '../support/servers.ts';
import { createCa } from './certs.ts';
import { handshake, httpsGet, until } from './harness.ts';

const bin = fileURLToPath(new URL('../../bin/bluegreen.js', import.meta.url));

test('serve --tls-dir: HTTPS on --tls-listen with X-Forwarded-Proto https, --tls-redirect-http, a renewed certificate served live, graceful stop on SIGTERM', async (t) => {
  const ca = await createCa();
  t.after(() => ca.close());
  const dir = await mkdtemp(join(tmpdir(), 'bg-tls-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const v1 = await ca.issue(['app.test']);
  await writeFile(join(dir, 'app.test.pem'), v1.cert + v1.key);
  const up = await startUpstream('web');
  t.after(() => up.close());
  const [port, tlsPort, adminPort] = [await refusedPort(), await refusedPort(), await refusedPort()];
  const child = spawn(
    process.execPath,
    [bin, 'serve', '--no-docker', '--listen', `127.0.0.1:${port}`, '--admin', `127.0.0.1:${adminPort}`, '--upstream', `web=127.0.0.1:${up.port}`,
      '--tls-dir', dir, '--tls-listen', `127.0.0.1:${tlsPort}`, '--tls-redirect-http'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout.on('data', (c) => (out += c));
  child.stderr.on('data', (c) => (out += c));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  t.after(() => child.kill('SIGKILL'));
  await until(() => (/"protocol":"https".*"msg":"listening"/.test(out) && /"port":\d+,"msg":"listening"/.test(out) ? true : undefined), 10_000, `the listeners: ${out}`);

  const r = await httpsGet(tlsPort, { ca: ca.cert, servername: 'app.test', path: '/x' });
  assert.equal(r.status, 200);
  assert.equal(r.body, 'web GET /x 0');
  assert.equal(r.serial, v1.serial);
  assert.equal(up.seen.at(-1)!.headers['x-forwarded-proto'], 'https');
  const plain = await request(`http://127.0.0.1:${port}/x?y=1`, { headers: { host: 'app.test' } });
  assert.equal(plain.status, 308);
  assert.equal(plain.headers.location, `https://app.test:${tlsPort}/x?y=1`);

  const v2 = await ca.issue(['app.test']);
  await writeFile(join(dir, '.app.test.pem.tmp'), v2.cert + v2.key);
  await rename(join(dir, '.app.test.pem.tmp'), join(dir, 'app.test.pem'));
  await until(async () => ((await handshake(tlsPort, { ca: ca.cert, servername: 'app.test' })).serial === v2.serial ? true : undefined), 5000, 'the renewed certificate');
  assert.match(out, /"msg":"certificate renewed"/);

  child.kill('SIGTERM');
  assert.equal(await exited, 0);
  assert.match(out, /"protocol":"https","msg":"listener stopped"/);
});

test('serve --tls-dir with a directory that does not exist: a clear message and exit 1', async (t) => {
  const missing = join(tmpdir(), `bg-missing-${process.pid}-${Date.now()}`);
  const child = spawn(process.execPath, [bin, 'serve', '--no-docker', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--tls-dir', missing, '--tls-listen', '127.0.0.1:0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => child.kill('SIGKILL'));
  let err = '';
  child.stderr.on('data', (c) => (err += c));
  const code = await new Promise<number | null>((r) => child.on('exit', r));
  assert.equal(code, 1);
  assert.match(err, new RegExp(`tls\\.dir ${missing.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: does not exist`));
});
