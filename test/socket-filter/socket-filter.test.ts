import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { refusal } from '../../src/socket-filter/allow-list.ts';
import { SocketFilter } from '../../src/socket-filter/socket-filter.ts';
import { silentLogger } from '../support/servers.ts';
import { request } from '../support/http.ts';

test('the allow list: the read-only calls bluegreen makes, nothing else', () => {
  const allowed: [string, string][] = [
    ['GET', '/_ping'],
    ['GET', '/v1.41/containers/json?all=false&filters=%7B%7D'],
    ['GET', '/containers/0123abc/json'],
    ['GET', '/events?since=1700000000&filters=%7B%7D'],
    ['GET', '/info'],
    ['HEAD', '/version'],
    ['GET', '/services/svc_id'],
    ['GET', '/v1.41/tasks?filters=x'],
    ['GET', '/images/bluegreen/testapp:local/json'],
  ];
  const refused: [string, string][] = [
    ['POST', '/containers/create'],
    ['POST', '/containers/abc/kill'],
    ['DELETE', '/containers/abc'],
    ['GET', '/containers/abc/logs'],
    ['GET', '/containers/abc/archive?path=/etc'],
    ['GET', '/containers/../images/json'],
    ['GET', '/containers/%2e%2e/json'],
    ['GET', '/secrets'],
    ['GET', '/images/json'],
    ['POST', '/images/bluegreen/testapp:local/push'],
    ['GET', '/images/bluegreen/testapp:local/get'],
    ['POST', '/exec/abc/start'],
  ];
  for (const [m, u] of allowed) assert.equal(refusal(m, u), undefined, `${m} ${u}`);
  for (const [m, u] of refused) assert.ok(refusal(m, u), `${m} ${u} must be refused`);
});

test('the filter relays allowed calls to the unix socket, streams them, and refuses the rest with 403', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'bg-sock-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const sock = join(dir, 'docker.sock');
  const seen: string[] = [];
  const engine = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    if (req.url?.startsWith('/events')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"Type":"container"}\n');
      setTimeout(() => res.end('{"Type":"network"}\n'), 50);
      return;
    }
    res.end(JSON.stringify({ url: req.url }));
  });
  await new Promise<void>((r) => engine.listen(sock, r));
  t.after(() => new Promise<void>((r) => engine.close(() => r())));
  const filter = new SocketFilter(sock, silentLogger);
  const a = await filter.listen({ host: '127.0.0.1', port: 0 });
  t.after(() => filter.close());
  const base = `http://127.0.0.1:${a.port}`;
  const ok = await request(`${base}/v1.41/containers/json`);
  assert.equal(ok.status, 200);
  assert.equal(ok.body, JSON.stringify({ url: '/v1.41/containers/json' }));
  const events = await request(`${base}/events?since=1`);
  assert.equal(events.body, '{"Type":"container"}\n{"Type":"network"}\n');
  const denied = await request(`${base}/containers/create`, { method: 'POST', body: '{}' });
  assert.equal(denied.status, 403);
  assert.match(denied.body, /read-only/);
  assert.deepEqual(seen, ['GET /v1.41/containers/json', 'GET /events?since=1'], 'nothing refused reached the engine');
});
