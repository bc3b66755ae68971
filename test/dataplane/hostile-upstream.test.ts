// Upstream-side cases of issue #9 the other dataplane tests do not cover.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from '../support/http.ts';
import { addUpstream, startProxy, startUpstream } from '../support/servers.ts';

test('an upstream that never sends headers: 504 with a body after headersTimeout; still ready, not failed; others keep being served', async (t) => {
  const { proxy, url } = await startProxy({ headersTimeoutMs: 500 });
  t.after(() => proxy.stop(100));
  const silent = await startUpstream('silent', () => {});
  t.after(() => silent.close());
  const good = await startUpstream('good');
  t.after(() => good.close());
  const hung = addUpstream(proxy, 'hang', silent.port);
  proxy.registry.defineService('hang', { hosts: ['hang.test'] });
  addUpstream(proxy, 'web', good.port);
  proxy.registry.defineService('web', { hosts: ['web.test'] });

  const stuck = request(`${url}/wait`, { headers: { host: 'hang.test' } });
  // While that request waits for headers, the other service answers.
  for (let i = 0; i < 5; i++) {
    const r = await request(`${url}/ok${i}`, { headers: { host: 'web.test' } });
    assert.equal(r.status, 200);
    assert.equal(r.body, `good GET /ok${i} 0`);
  }
  const r = await stuck;
  assert.equal(r.status, 504);
  assert.equal(r.headers['x-bluegreen-error'], 'UPSTREAM_HEADERS_TIMEOUT');
  assert.match(r.body, /timed out waiting for response headers from upstream hang-\d+/);
  assert.equal(hung.state, 'ready', 'a slow upstream is not taken out of rotation');
  assert.equal(hung.failedUntil, 0, 'nor marked as failing to connect');
  assert.equal(silent.seen.length, 1, 'the request was not replayed');
  // The next request for it is dispatched again (and times out again), not refused.
  const again = await request(`${url}/wait2`, { headers: { host: 'hang.test' } });
  assert.equal(again.status, 504);
  assert.equal(silent.seen.length, 2);
});
