import { bin, spawnBluegreen } from '../support/serve-process.ts';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { Agent, request as undiciRequest } from 'undici';
import { refusedPort, sleep, startUpstream } from '../support/servers.ts';
import { request } from '../support/http.ts';


test('SIGTERM: stop accepting, finish in-flight requests, close idle keep-alive, exit 0', async (t) => {
  const up = await startUpstream('u', (req, res) => setTimeout(() => res.end('done'), req.url === '/slow' ? 2000 : 0));
  t.after(() => up.close());
  const port = await refusedPort();
  const proxy = spawnBluegreen(t, ['serve', '--admin', '127.0.0.1:0', '--listen', `127.0.0.1:${port}`, '--upstream', `web=127.0.0.1:${up.port}`, '--log-level', 'info']);
  const { child, exited } = proxy;
  await proxy.waitFor('"listening"');

  // An idle keep-alive connection, and a slow request in flight.
  const idle = new Agent({ keepAliveTimeout: 60_000 });
  const warm = await undiciRequest(`http://127.0.0.1:${port}/warm`, { dispatcher: idle });
  assert.equal(await warm.body.text(), 'done');
  const slow = request(`http://127.0.0.1:${port}/slow`);
  await sleep(200);
  const t0 = Date.now();
  child.kill('SIGTERM');
  await sleep(200);
  await assert.rejects(request(`http://127.0.0.1:${port}/new`), /ECONNREFUSED/);
  const r = await slow;
  assert.equal(r.status, 200);
  assert.equal(r.body, 'done');
  assert.equal(r.headers.connection, 'close');
  assert.equal(await exited, 0);
  assert.ok(Date.now() - t0 < 5000);
  assert.match(proxy.output(), /"outcome":"idle"/);
  await idle.close();
});

test('serve rejects a bad --upstream with a clear message and a non-zero exit', async () => {
  const child = spawn(process.execPath, [bin, 'serve', '--listen', '127.0.0.1:0', '--upstream', 'nonsense'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (c) => (err += c));
  const code = await new Promise<number | null>((r) => child.on('exit', r));
  assert.notEqual(code, 0);
  assert.match(err, /--upstream: staticUpstreams\[0\]: "nonsense" is not SERVICE=HOST:PORT/);
});
