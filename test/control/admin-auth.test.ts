import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AdminServer, assertAdminBindingAllowed } from '../../src/control/admin-server.ts';
import { isBluegreenError } from '../../src/errors.ts';
import { request } from '../support/http.ts';
import { silentLogger, startProxy } from '../support/servers.ts';
import { api, startAdmin } from './harness.ts';

const TOKEN = 's3cret-token-for-tests';

test('with a token: every API and metrics request needs the bearer header; 401 without it or with a wrong one', async (t) => {
  const h = await startAdmin({ token: TOKEN });
  t.after(() => h.close());
  h.proxy.registry.defineService('web');
  for (const path of ['/api/status', '/metrics', '/api/events', '/api/nothing']) {
    const none = await api(h.adminUrl, path);
    assert.equal(none.status, 401, path);
    assert.equal(none.json.code, 'UNAUTHORIZED');
    assert.match(none.headers.get('www-authenticate') ?? '', /^Bearer/);
    assert.equal((await api(h.adminUrl, path, { token: 'wrong' })).status, 401, path);
    assert.equal((await api(h.adminUrl, path, { token: `${TOKEN}x` })).status, 401, path);
  }
  assert.equal((await api(h.adminUrl, '/api/services/web/pause', { method: 'POST' })).status, 401);
  assert.equal(h.proxy.registry.service('web')!.paused, false, 'a refused action changed nothing');
  // A cookie or a query parameter is never accepted in place of the header.
  assert.equal((await api(h.adminUrl, '/api/status', { headers: { cookie: `token=${TOKEN}` } })).status, 401);
  assert.equal((await api(h.adminUrl, `/api/status?token=${TOKEN}`)).status, 401);
  assert.equal((await api(h.adminUrl, '/api/status', { headers: { authorization: `Basic ${TOKEN}` } })).status, 401);

  const ok = await api(h.adminUrl, '/api/status', { token: TOKEN });
  assert.equal(ok.status, 200);
  const act = await api(h.adminUrl, '/api/services/web/pause', { method: 'POST', token: TOKEN });
  assert.equal(act.status, 200);
  assert.equal(act.json.paused, true);
  const metrics = await fetch(`${h.adminUrl}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(metrics.status, 200);

  // The dashboard's static files carry no data and load without a token (the page then asks for it).
  const page = await request(`${h.adminUrl}/`);
  assert.equal(page.status, 200);
  assert.match(page.body, /<title>bluegreen<\/title>/);
  assert.match(String(page.headers['content-security-policy']), /frame-ancestors 'none'/);
});

test('the binding rule: a non-loopback admin address without a token is refused (BAD_CONFIG)', async () => {
  for (const host of ['0.0.0.0', '::', '', '10.1.2.3', '192.168.0.10', 'example.com', '::ffff:10.0.0.1']) {
    assert.throws(
      () => assertAdminBindingAllowed(host, undefined),
      (err: unknown) => isBluegreenError(err, 'BAD_CONFIG') && /admin-token/.test(err.message),
      host,
    );
    assert.throws(() => assertAdminBindingAllowed(host, ''), /admin-token/);
    assertAdminBindingAllowed(host, TOKEN);
  }
  for (const host of ['127.0.0.1', '127.9.9.9', '::1', '[::1]', 'localhost', '::ffff:127.0.0.1']) {
    assertAdminBindingAllowed(host, undefined);
  }
  const { proxy } = await startProxy();
  const admin = new AdminServer({ registry: proxy.registry, dataPlane: proxy.dataPlane, logger: silentLogger });
  await assert.rejects(admin.listen({ host: '0.0.0.0', port: 0 }), (err: unknown) => isBluegreenError(err, 'BAD_CONFIG'));
  await admin.close();
  await proxy.stop(100);
});

test('a foreign Origin is refused (403) for actions; the same origin and no origin are allowed', async (t) => {
  const h = await startAdmin();
  t.after(() => h.close());
  h.proxy.registry.defineService('web');
  const host = new URL(h.adminUrl).host;
  for (const origin of ['http://evil.example', `http://${host}.evil.example`, 'http://127.0.0.1:1', 'null']) {
    const r = await api(h.adminUrl, '/api/services/web/pause', { method: 'POST', headers: { origin } });
    assert.equal(r.status, 403, origin);
    assert.equal(r.json.code, 'FORBIDDEN');
  }
  const site = await api(h.adminUrl, '/api/services/web/pause', { method: 'POST', headers: { 'sec-fetch-site': 'cross-site' } });
  assert.equal(site.status, 403);
  assert.equal(h.proxy.registry.service('web')!.paused, false);
  const same = await api(h.adminUrl, '/api/services/web/pause', { method: 'POST', headers: { origin: h.adminUrl } });
  assert.equal(same.status, 200);
  const none = await api(h.adminUrl, '/api/services/web/resume', { method: 'POST' });
  assert.equal(none.status, 200);
});

test('without a token only loopback Host names are served (a rebound DNS name is refused)', async (t) => {
  const h = await startAdmin();
  t.after(() => h.close());
  const port = new URL(h.adminUrl).port;
  const rebound = await request(`${h.adminUrl}/api/status`, { headers: { host: `attacker.example:${port}` } });
  assert.equal(rebound.status, 403);
  assert.equal(JSON.parse(rebound.body).code, 'FORBIDDEN');
  for (const name of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`]) {
    assert.equal((await request(`${h.adminUrl}/api/status`, { headers: { host: name } })).status, 200, name);
  }
});
