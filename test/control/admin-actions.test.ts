import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addUpstream, sleep, startUpstream } from '../support/servers.ts';
import { request } from '../support/http.ts';
import { api, startAdmin } from './harness.ts';

test('GET /api/status lists services, routes, colors, upstreams with counters, and router conflicts', async (t) => {
  const h = await startAdmin();
  t.after(() => h.close());
  const up = await startUpstream('u');
  t.after(() => up.close());
  const blue = addUpstream(h.proxy, 'web', up.port, 'ready', { color: 'blue', createdAt: 1 });
  addUpstream(h.proxy, 'web', up.port, 'starting', { color: 'green', createdAt: 2 });
  h.proxy.registry.defineService('api', { hosts: ['api.example.com'], pathPrefix: '/v1' });
  h.proxy.registry.defineService('other'); // a second default service: a routing conflict
  for (let i = 0; i < 2; i++) assert.equal((await request(`${h.url}/x`, { headers: { host: 'www.example.com' } })).status, 404);
  h.proxy.registry.removeService('other');
  assert.equal((await request(`${h.url}/x`)).status, 200);

  const { status, json } = await api(h.adminUrl, '/api/status');
  assert.equal(status, 200);
  assert.deepEqual(
    json.services.map((s: any) => s.name),
    ['api', 'web'],
  );
  const web = json.services.find((s: any) => s.name === 'web');
  assert.equal(web.activeColor, 'blue');
  assert.equal(web.colorMode, 'auto');
  assert.deepEqual(web.colors, ['blue', 'green']);
  assert.equal(web.paused, false);
  assert.equal(web.held, 0);
  const b = web.upstreams.find((u: any) => u.id === blue.id);
  assert.equal(b.state, 'ready');
  assert.equal(b.color, 'blue');
  assert.equal(b.address, `127.0.0.1:${up.port}`);
  assert.equal(b.requests, 1);
  assert.equal(b.inFlight, 0);
  assert.equal(b.drainDeadline, null);
  assert.deepEqual(web.upstreams.map((u: any) => u.state).sort(), ['ready', 'starting']);
  const apiSvc = json.services.find((s: any) => s.name === 'api');
  assert.deepEqual(apiSvc.route, { hosts: ['api.example.com'], pathPrefix: '/v1' });
  assert.equal(json.routing.defaultService, 'web');
  assert.deepEqual(json.routing.conflicts, []);
  assert.equal(json.proxy.requests, 3);
  assert.equal(json.discovery, null);
  assert.equal(json.config, null);

  h.proxy.registry.defineService('other');
  const again = await api(h.adminUrl, '/api/status');
  assert.match(again.json.routing.conflicts[0], /web.*other|other.*web/);
});

test('switch: the active color changes and traffic follows; an unknown color or service is 404', async (t) => {
  const h = await startAdmin();
  t.after(() => h.close());
  const b = await startUpstream('blue');
  const g = await startUpstream('green');
  t.after(() => Promise.all([b.close(), g.close()]));
  addUpstream(h.proxy, 'web', b.port, 'ready', { color: 'blue', createdAt: 1 });
  addUpstream(h.proxy, 'web', g.port, 'ready', { color: 'green', createdAt: 2 });
  assert.match((await request(h.url)).body, /^green /);

  const r = await api(h.adminUrl, '/api/services/web/switch', { body: { color: 'blue' } });
  assert.equal(r.status, 200);
  assert.equal(r.json.name, 'web');
  assert.equal(r.json.activeColor, 'blue');
  assert.equal(r.json.colorNote, 'switched by operator');
  assert.equal(r.json.colorMode, 'manual', 'a switch by hand turns automatic switching off');
  assert.equal(h.proxy.registry.service('web')!.activeColor, 'blue');
  assert.match((await request(h.url)).body, /^blue /);
  // So a later change (here a newer green upstream) does not switch back behind the operator's back.
  addUpstream(h.proxy, 'web', g.port, 'ready', { color: 'green', createdAt: 3 });
  assert.equal(h.proxy.registry.service('web')!.activeColor, 'blue');

  const badColor = await api(h.adminUrl, '/api/services/web/switch', { body: { color: 'purple' } });
  assert.equal(badColor.status, 404);
  assert.equal(badColor.json.code, 'UNKNOWN_UPSTREAM');
  const noService = await api(h.adminUrl, '/api/services/nope/switch', { body: { color: 'blue' } });
  assert.equal(noService.status, 404);
  assert.deepEqual(Object.keys(noService.json).sort(), ['code', 'message']);
  assert.equal(noService.json.code, 'UNKNOWN_SERVICE');
  const noColor = await api(h.adminUrl, '/api/services/web/switch', { body: {} });
  assert.equal(noColor.status, 400);
  assert.equal(noColor.json.code, 'BAD_REQUEST');
});

test('pause holds requests (visible in status), resume releases them', async (t) => {
  const h = await startAdmin();
  t.after(() => h.close());
  const up = await startUpstream('u');
  t.after(() => up.close());
  addUpstream(h.proxy, 'web', up.port);

  const p = await api(h.adminUrl, '/api/services/web/pause', { method: 'POST' });
  assert.equal(p.status, 200);
  assert.equal(p.json.paused, true);
  const held = request(`${h.url}/held`);
  await sleep(200);
  const s = await api(h.adminUrl, '/api/status');
  assert.equal(s.json.services[0].held, 1);
  assert.equal(up.seen.length, 0);

  const r = await api(h.adminUrl, '/api/services/web/resume', { method: 'POST' });
  assert.equal(r.status, 200);
  assert.equal(r.json.paused, false);
  assert.equal((await held).status, 200);
  assert.equal(up.seen.length, 1);
  assert.equal((await api(h.adminUrl, '/api/services/ghost/pause', { method: 'POST' })).status, 404);
  assert.equal((await api(h.adminUrl, '/api/services/ghost/resume', { method: 'POST' })).status, 404);
});

test('color-mode: manual keeps the active color when a newer color becomes ready; bad mode is 400', async (t) => {
  const h = await startAdmin();
  t.after(() => h.close());
  const up = await startUpstream('u');
  t.after(() => up.close());
  addUpstream(h.proxy, 'web', up.port, 'ready', { color: 'blue', createdAt: 1 });
  const r = await api(h.adminUrl, '/api/services/web/color-mode', { body: { mode: 'manual' } });
  assert.equal(r.status, 200);
  assert.equal(r.json.colorMode, 'manual');
  addUpstream(h.proxy, 'web', up.port, 'ready', { color: 'green', createdAt: 2 });
  assert.equal(h.proxy.registry.service('web')!.activeColor, 'blue');
  const auto = await api(h.adminUrl, '/api/services/web/color-mode', { body: { mode: 'auto' } });
  assert.equal(auto.json.colorMode, 'auto');
  assert.equal(auto.json.activeColor, 'green');
  const bad = await api(h.adminUrl, '/api/services/web/color-mode', { body: { mode: 'sometimes' } });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.code, 'BAD_REQUEST');
  assert.equal((await api(h.adminUrl, '/api/services/ghost/color-mode', { body: { mode: 'auto' } })).status, 404);
});

test('drain with a timeout: state draining with a deadline, the in-flight request finishes, then the upstream is gone', async (t) => {
  const h = await startAdmin();
  t.after(() => h.close());
  const up = await startUpstream('u', (_req, res) => setTimeout(() => res.end('slow'), 600));
  t.after(() => up.close());
  const u = addUpstream(h.proxy, 'web', up.port);
  const slow = request(`${h.url}/slow`);
  await sleep(150);
  const before = Date.now();
  const r = await api(h.adminUrl, `/api/upstreams/${u.id}/drain`, { body: { timeout: '5s' } });
  assert.equal(r.status, 200);
  assert.equal(r.json.id, u.id);
  assert.equal(r.json.state, 'draining');
  assert.equal(r.json.inFlight, 1);
  const deadline = Date.parse(r.json.drainDeadline);
  assert.ok(deadline >= before + 4900 && deadline <= Date.now() + 5100, `deadline ${r.json.drainDeadline}`);
  assert.equal((await slow).body, 'slow');
  await sleep(50);
  assert.equal(h.proxy.registry.upstreams.size, 0);
  assert.equal((await api(h.adminUrl, `/api/upstreams/${u.id}/drain`, { method: 'POST' })).status, 404);
});

test('drain by name, idle upstream: removed at once; bad timeout is 400; unknown id is 404', async (t) => {
  const h = await startAdmin();
  t.after(() => h.close());
  const up = await startUpstream('u');
  t.after(() => up.close());
  const u = addUpstream(h.proxy, 'web', up.port);
  const bad = await api(h.adminUrl, `/api/upstreams/${u.id}/drain`, { body: { timeout: '5 parsecs' } });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.code, 'BAD_REQUEST');
  assert.match(bad.json.message, /timeout/);
  const r = await api(h.adminUrl, `/api/upstreams/${encodeURIComponent(u.name)}/drain`, { method: 'POST' });
  assert.equal(r.status, 200);
  assert.equal(r.json.state, 'gone');
  const missing = await api(h.adminUrl, '/api/upstreams/no-such-upstream/drain', { method: 'POST' });
  assert.equal(missing.status, 404);
  assert.equal(missing.json.code, 'UNKNOWN_UPSTREAM');
});

test('unknown endpoints are 404, wrong methods 405, bad JSON 400, all as {code, message}', async (t) => {
  const h = await startAdmin();
  t.after(() => h.close());
  h.proxy.registry.defineService('web');
  const nf = await api(h.adminUrl, '/api/nothing');
  assert.equal(nf.status, 404);
  assert.equal(nf.json.code, 'NOT_FOUND');
  const get = await api(h.adminUrl, '/api/services/web/pause');
  assert.equal(get.status, 405);
  assert.equal(get.json.code, 'METHOD_NOT_ALLOWED');
  const post = await api(h.adminUrl, '/api/status', { method: 'POST' });
  assert.equal(post.status, 405);
  const res = await fetch(`${h.adminUrl}/api/services/web/switch`, { method: 'POST', body: '{nope', headers: { 'content-type': 'application/json' } });
  assert.equal(res.status, 400);
  assert.deepEqual(Object.keys(await res.json()).sort(), ['code', 'message']);
});
