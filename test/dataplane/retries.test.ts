import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { addUpstream, refusedPort, startProxy, startUpstream } from '../support/servers.ts';
import { request } from '../support/http.ts';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

test('an 8 KiB POST to an upstream that refuses connections is answered 200 by the other', async (t) => {
  const { proxy, url } = await startProxy();
  t.after(() => proxy.stop(100));
  const good = await startUpstream('good', (_req, res, body) => res.end(sha(body)));
  t.after(() => good.close());
  const dead = addUpstream(proxy, 'web', await refusedPort());
  addUpstream(proxy, 'web', good.port);
  const body = Buffer.alloc(8 * 1024, 7);
  for (let i = 0; i < 6; i++) {
    const r = await request(`${url}/post`, { method: 'POST', body, headers: { 'content-type': 'application/octet-stream' } });
    assert.equal(r.status, 200);
    assert.equal(r.body, sha(body));
  }
  assert.ok(dead.failures >= 1, 'the dead upstream was tried');
  assert.equal(dead.failures, 1, 'after one connect failure it is tried last (failDuration)');
  assert.equal(good.seen.length, 6);
});

test('with Expect turned off, a 2 MiB POST in the same case gets a clean 502 and is not replayed', async (t) => {
  const { proxy, url } = await startProxy({ expectContinueTimeoutMs: 0 });
  t.after(() => proxy.stop(100));
  const good = await startUpstream('good');
  t.after(() => good.close());
  const deadPort = await refusedPort();
  addUpstream(proxy, 'web', deadPort);
  const body = Buffer.alloc(2 * 1024 * 1024, 1);
  const r = await request(`${url}/big`, { method: 'POST', body });
  // the balancer starts with the dead one when it is registered first and both are idle
  if (r.status === 200) assert.fail('expected the first attempt to hit the refusing upstream');
  assert.equal(r.status, 502);
  assert.equal(r.headers['x-bluegreen-error'], 'UPSTREAM_CONNECT_FAILED');
  assert.match(r.body, /could not connect to upstream .* too large to replay/);
  assert.equal(good.seen.length, 0);
  // With a good upstream present, a large POST goes there (the failed one is now tried last) and streams through.
  addUpstream(proxy, 'web', good.port);
  const ok = await request(`${url}/big`, { method: 'POST', body });
  assert.equal(ok.status, 200);
  assert.equal(ok.body, `good POST /big ${body.length}`);
});

test('a connect failure with no other upstream is retried until the upstream comes back', async (t) => {
  const { proxy, url } = await startProxy({ failDurationMs: 100 });
  t.after(() => proxy.stop(100));
  const port = await refusedPort();
  addUpstream(proxy, 'web', port);
  const pending = request(`${url}/x`, { method: 'POST', body: 'hello' });
  await new Promise((r) => setTimeout(r, 600));
  const { createServer } = await import('node:http');
  const srv = createServer((_req, res) => res.end('back')).listen(port, '127.0.0.1');
  t.after(() => srv.close());
  const r = await pending;
  assert.equal(r.status, 200);
  assert.equal(r.body, 'back');
});

test('a reset before response headers is retried for GET, not for a POST that was fully sent', async (t) => {
  const { proxy, url } = await startProxy();
  t.after(() => proxy.stop(100));
  const crashing = await startUpstream('crash', (req) => req.socket.destroy());
  const good = await startUpstream('good');
  t.after(() => crashing.close());
  t.after(() => good.close());
  const bad = addUpstream(proxy, 'web', crashing.port);
  addUpstream(proxy, 'web', good.port);
  // Make the crashing upstream the least loaded pick by loading the good one artificially? Not needed:
  // try several requests; each GET must succeed, and every POST that hit the crashing one fails with 502.
  let postFailures = 0;
  for (let i = 0; i < 6; i++) {
    const g = await request(`${url}/g${i}`);
    assert.equal(g.status, 200, 'GET is always answered');
    const p = await request(`${url}/p${i}`, { method: 'POST', body: 'x' });
    if (p.status === 502) {
      postFailures++;
      assert.equal(p.headers['x-bluegreen-error'], 'UPSTREAM_RESET');
    } else assert.equal(p.status, 200);
  }
  assert.ok(bad.failures > 0, 'the crashing upstream was hit');
  assert.equal(postFailures, crashing.seen.filter((s) => s.method === 'POST').length, 'each POST that reached the crashing upstream failed and was not replayed');
  assert.equal(good.seen.filter((s) => s.method === 'POST').length + postFailures, 6);
});

test('an upstream that never sends headers gives a 504 with a body and is not marked failed', async (t) => {
  const { proxy, url } = await startProxy({ headersTimeoutMs: 300 });
  t.after(() => proxy.stop(100));
  const silent = await startUpstream('silent', () => {});
  t.after(() => silent.close());
  const up = addUpstream(proxy, 'web', silent.port);
  const r = await request(url);
  assert.equal(r.status, 504);
  assert.match(r.body, /timed out waiting for response headers/);
  assert.equal(up.failedUntil, 0);
});
