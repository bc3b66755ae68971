import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AdminServer } from '../../src/control/admin-server.ts';
import { silentLogger, startProxy } from '../support/servers.ts';
import { request } from '../support/http.ts';

test('/healthz answers 200 without a token while the proxy serves, 503 once it stops', async (t) => {
  const { proxy } = await startProxy();
  const admin = new AdminServer({ registry: proxy.registry, dataPlane: proxy.dataPlane, logger: silentLogger, token: 'secret' });
  const a = await admin.listen({ host: '127.0.0.1', port: 0 });
  t.after(() => admin.close());
  const url = `http://127.0.0.1:${a.port}`;
  const ok = await request(`${url}/healthz`);
  assert.equal(ok.status, 200);
  assert.equal(ok.body, 'ok\n');
  assert.equal((await request(`${url}/api/status`)).status, 401, 'everything else still needs the token');
  await proxy.stop(50);
  assert.equal((await request(`${url}/healthz`)).status, 503);
});

test('/healthz says ready only after the first sync with Docker (an upgrade waits for it)', async (t) => {
  const { proxy } = await startProxy();
  t.after(() => proxy.stop(50));
  let lastSyncAt: number | undefined;
  const discovery = { status: () => ({ connected: lastSyncAt !== undefined, lastSyncAt }), rejected: [] };
  const admin = new AdminServer({ registry: proxy.registry, dataPlane: proxy.dataPlane, logger: silentLogger, discovery });
  const a = await admin.listen({ host: '127.0.0.1', port: 0 });
  t.after(() => admin.close());
  const before = await request(`http://127.0.0.1:${a.port}/healthz`);
  assert.equal(before.status, 503);
  assert.equal(before.body, 'not ready: no sync with Docker yet\n');
  lastSyncAt = Date.now();
  const after = await request(`http://127.0.0.1:${a.port}/healthz`);
  assert.equal(after.status, 200);
  assert.equal(after.body, 'ok\n');
});
