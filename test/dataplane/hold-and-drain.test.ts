import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addUpstream, sleep, startProxy, startUpstream } from '../support/servers.ts';
import { request } from '../support/http.ts';

test('a request held while no upstream exists is answered by one registered 2 s later', async (t) => {
  const { proxy, url } = await startProxy();
  t.after(() => proxy.stop(100));
  proxy.registry.defineService('web');
  const up = await startUpstream('late');
  t.after(() => up.close());
  const started = Date.now();
  const pending = request(`${url}/hello`);
  await sleep(2000);
  assert.equal(proxy.registry.service('web')!.holdQueue.size, 1);
  addUpstream(proxy, 'web', up.port);
  const r = await pending;
  assert.equal(r.status, 200);
  assert.equal(r.body, 'late GET /hello 0');
  assert.ok(Date.now() - started >= 2000);
  assert.ok(proxy.registry.service('web')!.maxHoldMs >= 1900);
});

test('held requests are released in arrival order onto an upstream that becomes ready', async (t) => {
  const { proxy, url } = await startProxy();
  t.after(() => proxy.stop(100));
  const up = await startUpstream('u');
  t.after(() => up.close());
  const u = addUpstream(proxy, 'web', up.port, 'starting');
  const replies = [];
  for (let i = 0; i < 5; i++) {
    replies.push(request(`${url}/r${i}`));
    await sleep(30);
  }
  await sleep(100);
  assert.equal(up.seen.length, 0, 'a starting upstream gets no traffic');
  u.setState('ready');
  for (const r of await Promise.all(replies)) assert.equal(r.status, 200);
  assert.deepEqual(up.seen.map((s) => s.url), ['/r0', '/r1', '/r2', '/r3', '/r4']);
});

test('hold timeout and full queue answer 503 with Retry-After and a body', async (t) => {
  const { proxy, url } = await startProxy({ holdTimeoutMs: 300, holdQueueSize: 1 });
  t.after(() => proxy.stop(100));
  proxy.registry.defineService('web');
  const first = request(url);
  await sleep(50);
  const full = await request(url);
  assert.equal(full.status, 503);
  assert.ok(full.headers['retry-after']);
  assert.equal(full.headers['x-bluegreen-error'], 'HOLD_QUEUE_FULL');
  assert.match(full.body, /hold queue is full/);
  const timedOut = await first;
  assert.equal(timedOut.status, 503);
  assert.equal(timedOut.headers['x-bluegreen-error'], 'HOLD_TIMEOUT');
  assert.match(timedOut.body, /service web has no ready upstream/);
});

test('a client that disconnects while held leaves the queue', async (t) => {
  const { proxy, url } = await startProxy();
  t.after(() => proxy.stop(100));
  const svc = proxy.registry.defineService('web');
  const ac = new AbortController();
  const p = request(url, { signal: ac.signal }).catch((e: Error) => e);
  await sleep(100);
  assert.equal(svc.holdQueue.size, 1);
  ac.abort();
  await p;
  await sleep(100);
  assert.equal(svc.holdQueue.size, 0);
});

test('pause holds traffic on purpose and resume releases it', async (t) => {
  const { proxy, url } = await startProxy();
  t.after(() => proxy.stop(100));
  const up = await startUpstream('u');
  t.after(() => up.close());
  addUpstream(proxy, 'web', up.port);
  proxy.registry.pause('web');
  const p = request(url);
  await sleep(300);
  assert.equal(up.seen.length, 0);
  assert.equal(proxy.registry.service('web')!.holdQueue.size, 1);
  proxy.registry.resume('web');
  assert.equal((await p).status, 200);
});

test('a 5 s request in flight during a drain gets its 200; new requests go elsewhere; removal when in-flight hits zero', async (t) => {
  const { proxy, url } = await startProxy();
  t.after(() => proxy.stop(100));
  const slow = await startUpstream('old', (req, res) => {
    setTimeout(() => res.end('old done'), req.url === '/slow' ? 5000 : 0);
  });
  const fresh = await startUpstream('new');
  t.after(() => slow.close());
  t.after(() => fresh.close());
  const old = addUpstream(proxy, 'web', slow.port);
  const inFlight = request(`${url}/slow`);
  await sleep(200);
  assert.equal(old.inFlight, 1);
  addUpstream(proxy, 'web', fresh.port);
  let removedAt = 0;
  proxy.registry.on('upstream-removed', (u, reason) => {
    if (u === old) {
      removedAt = Date.now();
      assert.equal(reason, 'drained');
    }
  });
  proxy.registry.drain(old.id, Date.now() + 30_000);
  assert.equal(old.state, 'draining');
  for (let i = 0; i < 10; i++) assert.equal((await request(`${url}/quick`)).body, 'new GET /quick 0');
  assert.deepEqual(slow.seen.map((x) => x.url), ['/slow'], 'no new request reached the draining upstream');
  const r = await inFlight;
  const finishedAt = Date.now();
  assert.equal(r.status, 200);
  assert.equal(r.body, 'old done');
  await sleep(50);
  assert.ok(removedAt > 0, 'removed once in-flight reached zero');
  assert.ok(removedAt - finishedAt < 50, `removed ${removedAt - finishedAt} ms after the last response`);
  assert.equal(proxy.registry.upstreams.has(old.id), false);
});

test('at the drain deadline what remains is aborted and counted', async (t) => {
  const { proxy, url } = await startProxy();
  t.after(() => proxy.stop(100));
  const hang = await startUpstream('hang', (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('partial');
  });
  t.after(() => hang.close());
  const up = addUpstream(proxy, 'web', hang.port);
  const p = request(url).then(
    () => 'completed',
    (e: Error) => e.message,
  );
  await sleep(200);
  let reason = '';
  proxy.registry.on('upstream-removed', (_u, r) => (reason = r));
  proxy.registry.drain(up.id, Date.now() + 300);
  const outcome = await p;
  assert.equal(reason, 'drain deadline');
  assert.notEqual(outcome, 'completed', 'the client must see a truncated response, not a complete one');
  assert.equal(up.abortedAtDeadline, 1);
  assert.equal(up.state, 'gone');
});

test('a draining upstream with nothing in flight is removed at once', async (t) => {
  const { proxy } = await startProxy();
  t.after(() => proxy.stop(100));
  const up = addUpstream(proxy, 'web', 1);
  proxy.registry.drain(up.id);
  assert.equal(up.state, 'gone');
  assert.equal(proxy.registry.upstreams.size, 0);
});
