// GET /api/wait against an in-process proxy and admin API: the registry changes the way discovery
// would change it, and each wait must answer exactly when the container reaches the state (or at
// its timeout, with why not). "Still waiting" is read from the admin server (its waiter count),
// never from a clock.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import type { DiscoveryProvider } from '../../src/control/providers.ts';
import { sleep, startUpstream } from '../support/servers.ts';
import { api, startAdmin, type AdminHarness } from './harness.ts';

class FakeDiscovery implements DiscoveryProvider {
  rejected: unknown[] = [];
  readonly #listeners = new Set<() => void>();
  status(): unknown {
    return {};
  }
  onRejectedChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
  reject(entry: Record<string, string>): void {
    this.rejected.push(entry);
    for (const l of this.#listeners) l();
  }
}

async function setup(t: TestContext, token?: string) {
  const discovery = new FakeDiscovery();
  const h = await startAdmin({ discovery, token });
  t.after(() => h.close());
  const app = await startUpstream('app');
  t.after(() => app.close());
  const add = (id: string, name: string, state: 'starting' | 'ready', extra: { color?: string; createdAt?: number; aliases?: string[]; service?: string } = {}) =>
    h.proxy.registry.addUpstream({ id, name, service: extra.service ?? 'web', host: '127.0.0.1', port: app.port, state, ...extra });
  return { h, discovery, add, reg: h.proxy.registry };
}

/** Sends the wait and resolves once the admin server holds it (or has answered it). */
async function startWait(h: AdminHarness, query: string, token?: string) {
  const before = h.admin.waiting;
  const answer = api(h.adminUrl, `/api/wait?${query}`, { token });
  let settled = false;
  void answer.then(() => (settled = true), () => (settled = true));
  for (let i = 0; i < 1000 && h.admin.waiting === before && !settled; i++) await sleep(5);
  return { answer };
}

/** Lets a registry change reach the waiters (they look once the change completes). */
const settle = () => tick();

const ID = 'c0ffee0123456789abcdef0123456789abcdef0123456789abcdef0123456789';

test('wait routed: a container the proxy has not seen yet is waited for; answered once it is ready and in rotation', async (t) => {
  const { h, add, reg } = await setup(t);
  const { answer } = await startWait(h, `container=${ID}&timeout=30s`);
  assert.equal(h.admin.waiting, 1);

  add(ID, 'web-1', 'starting');
  await settle();
  assert.equal(h.admin.waiting, 1, 'starting is not routed');
  reg.setState(ID, 'ready');
  const r = await answer;
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.equal(r.json.reason, 'routed');
  assert.equal(r.json.state, 'routed');
  assert.equal(r.json.container, ID);
  assert.equal(r.json.upstream.id, ID);
  assert.equal(r.json.upstream.state, 'ready');
  assert.equal(r.json.service.name, 'web');
  assert.equal(h.admin.waiting, 0);

  // Already routed: answered at once, by short id, by name.
  for (const key of [ID.slice(0, 12), 'web-1', `/web-1`]) {
    const again = await api(h.adminUrl, `/api/wait?container=${encodeURIComponent(key)}&timeout=0`);
    assert.equal(again.status, 200, key);
    assert.equal(again.json.upstream.id, ID);
  }
});

test('wait ready vs routed in blue/green: green is ready but not routed until the switch', async (t) => {
  const { h, add, reg } = await setup(t);
  add('blue-1', 'web-blue-1', 'ready', { color: 'blue', createdAt: 1 });
  reg.setColorMode('web', 'manual');
  add('green-1', 'web-green-1', 'starting', { color: 'green', createdAt: 2 });
  const { answer: routed } = await startWait(h, 'container=green-1&state=routed');
  const { answer: ready } = await startWait(h, 'container=green-1&state=ready');
  reg.setState('green-1', 'ready');
  const r = await ready;
  assert.equal(r.status, 200);
  assert.equal(r.json.reason, 'ready');
  await settle();
  assert.equal(h.admin.waiting, 1, 'routed still waits: blue is active');

  const inactive = await api(h.adminUrl, '/api/wait?container=green-1&timeout=0');
  assert.equal(inactive.status, 504);
  assert.equal(inactive.json.code, 'WAIT_TIMEOUT');
  assert.equal(inactive.json.reason, 'inactive');
  assert.match(inactive.json.message, /is ready but not in rotation: its color green is not service web's active color \(blue, switching manual\)/);

  reg.switchColor('web', 'green');
  const s = await routed;
  assert.equal(s.status, 200);
  assert.equal(s.json.reason, 'routed');
  assert.equal(s.json.service.activeColor, 'green');
});

test('wait gone: answered once the upstream drained and was removed; an unknown container is gone at once', async (t) => {
  const { h, add, reg } = await setup(t);
  add(ID, 'web-1', 'ready');
  const { answer: gone } = await startWait(h, `container=${ID.slice(0, 8)}&state=gone`);
  await settle();
  assert.equal(h.admin.waiting, 1);
  const still = await api(h.adminUrl, `/api/wait?container=${ID}&state=gone&timeout=0`);
  assert.equal(still.status, 504);
  assert.equal(still.json.reason, 'present');
  assert.match(still.json.message, /is still an upstream of service web \(ready\): stop the container or drain it/);

  // A request in flight keeps it draining; the wait ends when the upstream is removed.
  const up = reg.upstream(ID);
  const release = up.track({ kind: 'http', abort: () => {} });
  reg.drain(ID, Date.now() + 60_000);
  await settle();
  assert.equal(h.admin.waiting, 1, 'draining with a request in flight is not gone');
  const draining = await api(h.adminUrl, `/api/wait?container=${ID}&state=gone&timeout=0`);
  assert.match(draining.json.message, /is still draining, 1 request or socket in flight; drain deadline /);
  release();
  const r = await gone;
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.equal(r.json.reason, 'gone');
  assert.equal(r.json.removed.reason, 'drained');
  assert.equal(r.json.removed.id, ID);

  const never = await api(h.adminUrl, '/api/wait?container=nosuchcontainer&state=gone');
  assert.equal(never.status, 200);
  assert.equal(never.json.removed, null);
  assert.match(never.json.message, /the proxy routes nothing to it/);
});

test('wait timeout reasons: unknown, starting, unhealthy, stopped, rejected; 504 with a JSON body', async (t) => {
  const { h, add, reg, discovery } = await setup(t);
  const unknown = await api(h.adminUrl, '/api/wait?container=abcd1234&timeout=20ms');
  assert.equal(unknown.status, 504);
  assert.equal(unknown.json.code, 'WAIT_TIMEOUT');
  assert.equal(unknown.json.reason, 'unknown');
  assert.equal(unknown.json.upstream, null);
  assert.match(unknown.json.message, /^not routed after 20ms: the proxy knows no container "abcd1234"/);

  add('s-1', 'web-s', 'starting');
  const starting = await api(h.adminUrl, '/api/wait?container=web-s&timeout=10ms');
  assert.equal(starting.status, 504);
  assert.equal(starting.json.reason, 'starting');
  assert.equal(starting.json.upstream.state, 'starting');
  assert.match(starting.json.message, /container web-s \(s-1\) is not healthy yet: starting/);

  reg.upstream('s-1').stateReason = 'http probe: GET /health answered 503'; // as discovery records a starting probe's failure
  const probed = await api(h.adminUrl, '/api/wait?container=web-s&timeout=0');
  assert.match(probed.json.message, /is not healthy yet: starting; last check: http probe: GET \/health answered 503$/);

  reg.setState('s-1', 'unhealthy', 'docker health: unhealthy (health_status event)');
  const unhealthy = await api(h.adminUrl, '/api/wait?container=s-1&timeout=0');
  assert.equal(unhealthy.json.reason, 'unhealthy');
  assert.match(unhealthy.json.message, /is unhealthy: docker health: unhealthy \(health_status event\)$/);

  reg.remove('s-1', 'container died');
  const stopped = await api(h.adminUrl, '/api/wait?container=s-1&timeout=0');
  assert.equal(stopped.json.reason, 'stopped');
  assert.equal(stopped.json.removed.reason, 'container died');
  assert.match(stopped.json.message, /was an upstream of service web and left the proxy at .* \(container died\)/);

  discovery.reject({ id: ID, name: 'web-bad', label: 'bluegreen.port', value: 'x', reason: 'not a port', message: 'container web-bad: label bluegreen.port=x is not a port (1-65535); container left out' });
  const rejected = await api(h.adminUrl, `/api/wait?container=${ID.slice(0, 12)}&timeout=0`);
  assert.equal(rejected.status, 504);
  assert.equal(rejected.json.reason, 'rejected');
  assert.equal(rejected.json.rejected[0].label, 'bluegreen.port');
  assert.match(rejected.json.message, /container web-bad \(c0ffee012345\) was rejected by the proxy: container web-bad: label bluegreen.port=x is not a port/);
});

test('fail=rejected and fail=stopped end the wait at once with 409', async (t) => {
  const { h, add, reg, discovery } = await setup(t);
  const { answer: rej } = await startWait(h, `container=${ID}&fail=rejected,stopped&timeout=1m`);
  await settle();
  assert.equal(h.admin.waiting, 1);
  discovery.reject({ id: ID, name: 'web-bad', label: 'bluegreen.port', value: 'x', reason: 'bad', message: 'bluegreen.port "x" is not a port number' });
  const r = await rej;
  assert.equal(r.status, 409);
  assert.equal(r.json.code, 'WAIT_FAILED');
  assert.equal(r.json.reason, 'rejected');

  add('s-2', 'web-2', 'starting');
  const { answer: stop } = await startWait(h, 'container=web-2&fail=stopped&timeout=1m');
  const release = reg.upstream('s-2').track({ kind: 'http', abort: () => {} }); // so that it stays draining
  reg.drain('s-2');
  const s = await stop;
  assert.equal(s.status, 409);
  assert.equal(s.json.reason, 'draining');
  assert.match(s.json.message, /is stopping: the proxy is draining it/);
  release();

  // Stopped while waited for: removed (nothing in flight), the reason says how it left.
  add('s-4', 'web-4', 'starting');
  const { answer: died } = await startWait(h, 'container=s-4&fail=stopped&timeout=1m');
  reg.drain('s-4');
  const d = await died;
  assert.equal(d.status, 409);
  assert.equal(d.json.reason, 'stopped');
  assert.equal(d.json.removed.reason, 'drained');

  // Without fail=stopped a removal is only the reason at the timeout, and a restart can still make it.
  add('s-3', 'web-3', 'starting');
  const { answer: back } = await startWait(h, 'container=s-3&timeout=1m');
  reg.remove('s-3', 'container died');
  await settle();
  assert.equal(h.admin.waiting, 1);
  add('s-3', 'web-3', 'ready');
  assert.equal((await back).status, 200);
});

test('wait by swarm task id (an alias) and by unique prefix; an ambiguous prefix is 400; bad parameters are 400', async (t) => {
  const { h, add } = await setup(t);
  add('aaaa1111', 'web-a', 'ready', { aliases: ['task0123456789abcdefghijk'] });
  add('aaaa2222', 'web-b', 'ready');
  assert.equal((await api(h.adminUrl, '/api/wait?container=task0123456789abcdefghijk')).json.upstream.id, 'aaaa1111');
  assert.equal((await api(h.adminUrl, '/api/wait?container=task0123')).json.upstream.id, 'aaaa1111');
  assert.equal((await api(h.adminUrl, '/api/wait?container=aaaa2')).json.upstream.id, 'aaaa2222');
  const amb = await api(h.adminUrl, '/api/wait?container=aaaa');
  assert.equal(amb.status, 400);
  assert.match(amb.json.message, /"aaaa" matches 2 upstreams/);
  for (const [q, why] of [
    ['', /container is required/],
    ['container=x&state=up', /state "up" is not one of routed, ready, gone/],
    ['container=x&timeout=soon', /timeout "soon"/],
    ['container=x&timeout=11m', /longer than the maximum 10m/],
    ['container=x&fail=crash', /fail "crash" is not one of rejected, stopped/],
    ['container=x&colour=blue', /unknown parameter "colour"/],
    ['container=x&container=y', /given more than once/],
  ] as const) {
    const r = await api(h.adminUrl, `/api/wait?${q}`);
    assert.equal(r.status, 400, q);
    assert.equal(r.json.code, 'BAD_REQUEST');
    assert.match(r.json.message, why, q);
  }
  const post = await api(h.adminUrl, '/api/wait?container=x', { method: 'POST' });
  assert.equal(post.status, 405);
});

test('a client that disconnects frees its waiter; closing the admin API answers the rest 503', async (t) => {
  const { h } = await setup(t);
  const ac = new AbortController();
  const gone = fetch(`${h.adminUrl}/api/wait?container=${ID}&timeout=5m`, { signal: ac.signal }).catch((err: unknown) => err);
  for (let i = 0; i < 1000 && h.admin.waiting === 0; i++) await sleep(5);
  assert.equal(h.admin.waiting, 1);
  ac.abort();
  await gone;
  for (let i = 0; i < 1000 && h.admin.waiting > 0; i++) await sleep(5);
  assert.equal(h.admin.waiting, 0, 'the waiter was freed');

  const { answer: open } = await startWait(h, `container=${ID}&timeout=5m`);
  await h.admin.close();
  const r = await open;
  assert.equal(r.status, 503);
  assert.equal(r.json.code, 'SHUTTING_DOWN');
});

test('wait is a read with the admin rules: the token is required when one is set', async (t) => {
  const { h, add } = await setup(t, 'sekret');
  add('r-1', 'web-r', 'ready');
  const none = await api(h.adminUrl, '/api/wait?container=r-1');
  assert.equal(none.status, 401);
  const ok = await api(h.adminUrl, '/api/wait?container=r-1', { token: 'sekret' });
  assert.equal(ok.status, 200);
  const cross = await api(h.adminUrl, '/api/wait?container=r-1', { token: 'sekret', headers: { origin: 'http://evil.example' } });
  assert.equal(cross.status, 403);
});
