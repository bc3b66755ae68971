import { bin, spawnBluegreen } from '../support/serve-process.ts';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { endOf, exchange } from '../support/raw-http.ts';
import { Agent, request as undiciRequest } from 'undici';
import { refusedPort, sleep, startUpstream } from '../support/servers.ts';
import { request } from '../support/http.ts';


test('SIGTERM: stop accepting, finish in-flight requests, close idle keep-alive, exit 0', async (t) => {
  const up = await startUpstream('u', (req, res) => setTimeout(() => res.end('done'), req.url === '/slow' ? 2000 : 0));
  t.after(() => up.close());
  const port = await refusedPort();
  // Idle keep-alive connections close once idle for 1 s (default: the 5 s keep-alive time).
  const proxy = spawnBluegreen(t, ['serve', '--admin', '127.0.0.1:0', '--listen', `127.0.0.1:${port}`, '--upstream', `web=127.0.0.1:${up.port}`, '--log-level', 'info', '--shutdown-idle-close', '1s']);
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

test('SIGTERM: a request on an idle keep-alive connection, sent as the stop begins or during it, gets a response with Connection: close, never a reset', async (t) => {
  const up = await startUpstream('u', (_req, res) => res.end('done'));
  t.after(() => up.close());
  const port = await refusedPort();
  const proxy = spawnBluegreen(t, ['serve', '--no-docker', '--admin', '127.0.0.1:0', '--listen', `127.0.0.1:${port}`, '--upstream', `web=127.0.0.1:${up.port}`, '--log-level', 'info', '--shutdown-idle-close', '1500ms']);
  await proxy.waitFor('"listening"');

  // 40 keep-alive connections that will send one more request during the stop, 5 that stay idle.
  const open = async () => {
    const s = connect(port, '127.0.0.1');
    await new Promise<void>((r, j) => s.once('connect', r).once('error', j));
    const first = await exchange(s, '/first');
    assert.ok('head' in first && /^HTTP\/1\.1 200/.test(first.head) && /keep-alive/i.test(first.head), JSON.stringify(first));
    return s;
  };
  const busy = await Promise.all(Array.from({ length: 40 }, open));
  const idle = await Promise.all(Array.from({ length: 5 }, open));
  const idleEnds = idle.map((s) => endOf(s));
  t.after(() => [...busy, ...idle].forEach((s) => s.destroy()));

  // The first request goes out the moment the process logs that it is stopping (its listener is
  // closed by then), the others over the next 1.2 s, all within the idle interval.
  const stopping = new Promise<void>((resolve) => {
    const onData = () => {
      if (!proxy.output().includes('"stopping"')) return;
      proxy.child.stdout!.off('data', onData);
      resolve();
    };
    proxy.child.stdout!.on('data', onData);
  });
  proxy.child.kill('SIGTERM');
  await stopping;
  const answers = await Promise.all(
    busy.map(async (s, i) => {
      if (i > 0) await sleep(i * 30);
      const r = await exchange(s, `/second-${i}`);
      const end = 'head' in r ? await endOf(s) : 'n/a';
      return { i, r, end };
    }),
  );
  for (const { i, r, end } of answers) {
    assert.ok('head' in r, `request ${i} (sent ${i * 30} ms after the stop began): ${'ended' in r ? r.ended : ''}`);
    assert.match(r.head, /^HTTP\/1\.1 200/, `request ${i}`);
    assert.match(r.head, /\r\nconnection: close/i, `request ${i} is answered with Connection: close`);
    assert.equal(r.body, 'done');
    assert.equal(end, 'end', `connection ${i} then closes cleanly`);
  }
  // The connections that stayed idle are closed by the proxy with a FIN, not a reset.
  assert.deepEqual(await Promise.all(idleEnds), ['end', 'end', 'end', 'end', 'end']);
  assert.equal(await proxy.exited, 0);
  assert.match(proxy.output(), /"outcome":"idle"/);
  assert.match(proxy.output(), /"idleClosed":5\b/);
});
