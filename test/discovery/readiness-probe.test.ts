import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { checkOnce, runReadinessProbe, UNHEALTHY_AFTER_FAILURES, type OwnProbe } from '../../src/discovery/readiness-probe.ts';
import { refusedPort, sleep } from '../support/servers.ts';

// Real loopback servers: the probe opens real sockets.

async function listen(handler: (path: string) => number): Promise<{ server: Server; port: number; hits: string[] }> {
  const hits: string[] = [];
  const server = createServer((req, res) => {
    hits.push(req.url!);
    res.statusCode = handler(req.url!);
    res.end('x');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port, hits };
}

const tcp = (intervalMs = 50): OwnProbe => ({ kind: 'tcp', intervalMs, timeoutMs: 500 });
const http = (path: string, intervalMs = 50): OwnProbe => ({ kind: 'http', path, intervalMs, timeoutMs: 500 });

test('checkOnce: TCP connect succeeds on a listener, fails on a refused port', async (t) => {
  const s = await listen(() => 200);
  t.after(() => s.server.close());
  const ac = new AbortController();
  assert.equal(await checkOnce({ host: '127.0.0.1', port: s.port, probe: tcp() }, ac.signal), undefined);
  const why = await checkOnce({ host: '127.0.0.1', port: await refusedPort(), probe: tcp() }, ac.signal);
  assert.match(why ?? '', /TCP connect failed: .*ECONNREFUSED/);
});

test('checkOnce: HTTP GET is ready on 2xx/3xx, not on 5xx', async (t) => {
  const s = await listen((p) => (p === '/ok' ? 204 : p === '/moved' ? 302 : 503));
  t.after(() => s.server.close());
  const ac = new AbortController();
  const target = (path: string) => ({ host: '127.0.0.1', port: s.port, probe: http(path) });
  assert.equal(await checkOnce(target('/ok'), ac.signal), undefined);
  assert.equal(await checkOnce(target('/moved'), ac.signal), undefined);
  assert.equal(await checkOnce(target('/down'), ac.signal), 'GET /down answered 503');
  assert.deepEqual(s.hits, ['/ok', '/moved', '/down']);
});

test('checkOnce: an HTTP server that never answers fails at the timeout', async (t) => {
  const server = createServer(() => {});
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  const port = (server.address() as AddressInfo).port;
  const started = Date.now();
  const why = await checkOnce({ host: '127.0.0.1', port, probe: { kind: 'http', path: '/', intervalMs: 50, timeoutMs: 200 } }, new AbortController().signal);
  assert.equal(why, 'no HTTP answer within 200ms');
  assert.ok(Date.now() - started < 1000);
});

test('runReadinessProbe: starting until the port listens (checked every 250 ms), then ready once', async (t) => {
  const port = await refusedPort();
  const ac = new AbortController();
  t.after(() => ac.abort());
  const calls: string[] = [];
  const done = runReadinessProbe({ host: '127.0.0.1', port, probe: tcp(5_000) }, ac.signal, {
    onReady: () => calls.push('ready'),
    onUnhealthy: (why) => calls.push(`unhealthy: ${why}`),
  });
  await sleep(600);
  assert.deepEqual(calls, [], 'never unhealthy while starting');
  const server = createServer((_q, r) => r.end());
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  t.after(() => server.close());
  const listening = Date.now();
  while (calls.length === 0 && Date.now() - listening < 2000) await sleep(10);
  assert.deepEqual(calls, ['ready']);
  assert.ok(Date.now() - listening <= 400, `ready within a 250 ms probe interval (took ${Date.now() - listening} ms)`);
  ac.abort();
  await done;
});

test(`runReadinessProbe: ${UNHEALTHY_AFTER_FAILURES} failures in a row after ready make it unhealthy; one success, ready again`, async (t) => {
  let status = 200;
  const s = await listen(() => status);
  t.after(() => s.server.close());
  const ac = new AbortController();
  t.after(() => ac.abort());
  const calls: string[] = [];
  const done = runReadinessProbe({ host: '127.0.0.1', port: s.port, probe: http('/health', 40) }, ac.signal, {
    onReady: () => calls.push('ready'),
    onUnhealthy: (why) => calls.push(`unhealthy: ${why}`),
  });
  await sleep(150);
  assert.deepEqual(calls, ['ready']);
  status = 500;
  const failedAt = s.hits.length;
  while (calls.length < 2) await sleep(5);
  assert.deepEqual(calls, ['ready', 'unhealthy: GET /health answered 500']);
  assert.equal(s.hits.length - failedAt, UNHEALTHY_AFTER_FAILURES, 'unhealthy on exactly the third failure');
  await sleep(150);
  assert.equal(calls.length, 2, 'no repeated unhealthy calls');
  status = 200;
  while (calls.length < 3) await sleep(5);
  assert.deepEqual(calls.slice(2), ['ready']);
  ac.abort();
  await done;
  const after = s.hits.length;
  await sleep(150);
  assert.equal(s.hits.length, after, 'no probe after abort');
});

test('runReadinessProbe: two failures between successes are not unhealthy', async (t) => {
  let n = 0;
  const s = await listen(() => (++n % 3 === 0 ? 200 : 500)); // fail, fail, ok, fail, fail, ok...
  t.after(() => s.server.close());
  const ac = new AbortController();
  const calls: string[] = [];
  const done = runReadinessProbe({ host: '127.0.0.1', port: s.port, probe: http('/', 20) }, ac.signal, {
    onReady: () => calls.push('ready'),
    onUnhealthy: () => calls.push('unhealthy'),
  });
  await sleep(1200);
  ac.abort();
  await done;
  assert.deepEqual(calls, ['ready']);
});
