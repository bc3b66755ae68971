import { bin, spawnBluegreen } from '../support/serve-process.ts';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { Proxy } from '../../src/proxy.ts';
import { request } from '../support/http.ts';
import { refusedPort, silentLogger, sleep, startUpstream } from '../support/servers.ts';
import { FakeDocker } from './fake-docker.ts';

// Discovery wired into the proxy: requests wait for the first sync, static routes never do, and a
// Docker Engine that cannot be reached never stops the proxy from serving what it knows.


test('before the first sync: a static route is served at once; an unknown host is held until the sync, then routed', async (t) => {
  const fake = new FakeDocker();
  fake.down = true;
  const app = await startUpstream('app');
  const stat = await startUpstream('static');
  t.after(() => Promise.all([app.close(), stat.close()]));
  fake.add({
    id: 'd'.repeat(64),
    name: 'web-1',
    labels: { 'bluegreen.service': 'web', 'bluegreen.hosts': 'web.test', 'bluegreen.port': String(app.port) },
    networks: { e2e: '127.0.0.1' },
    health: 'healthy',
  });
  const proxy = new Proxy({ logger: silentLogger, listen: { host: '127.0.0.1', port: 0 }, docker: { client: fake } });
  proxy.registry.defineService('static', { hosts: ['static.test'] });
  proxy.registry.addUpstream({ id: 'static:1', name: 'static', service: 'static', host: '127.0.0.1', port: stat.port, state: 'ready' });
  const { port } = await proxy.start();
  t.after(() => proxy.stop(100));
  const url = `http://127.0.0.1:${port}/x`;

  const t0 = Date.now();
  const s = await request(url, { headers: { host: 'static.test' } });
  assert.equal(s.status, 200);
  assert.ok(Date.now() - t0 < 500, 'a static route does not wait for Docker');

  const held = request(url, { headers: { host: 'web.test' } });
  await sleep(400);
  assert.equal(proxy.discovery!.state.connected, false);
  fake.restore();
  const r = await held;
  assert.equal(r.status, 200);
  assert.equal(r.body, 'app GET /x 0');
  assert.ok(Date.now() - t0 >= 400, 'it was held until the sync');
});

test('Docker never reachable: a request for an unknown host is held for the hold timeout, then 404', async (t) => {
  const fake = new FakeDocker();
  fake.down = true;
  const proxy = new Proxy({
    logger: silentLogger,
    listen: { host: '127.0.0.1', port: 0 },
    dataPlane: { holdTimeoutMs: 300 },
    docker: { client: fake },
  });
  const { port } = await proxy.start();
  t.after(() => proxy.stop(100));
  const t0 = Date.now();
  const r = await request(`http://127.0.0.1:${port}/`, { headers: { host: 'nobody.test' } });
  assert.equal(r.status, 404);
  assert.ok(Date.now() - t0 >= 290);
});

test('bluegreen serve with an unreachable Docker socket: logs an error, serves its static upstream, stops on SIGTERM', async (t) => {
  const up = await startUpstream('u');
  t.after(() => up.close());
  const port = await refusedPort();
  const proxy = spawnBluegreen(t, ['serve', '--admin', '127.0.0.1:0', '--listen', `127.0.0.1:${port}`, '--upstream', `web=127.0.0.1:${up.port}`], {
    DOCKER_HOST: 'unix:///nonexistent/bluegreen-test/docker.sock',
  });
  const { child, exited } = proxy;
  await proxy.waitFor('cannot reach the Docker Engine');
  const out = proxy.output();
  const line = out.split('\n').find((l) => l.includes('cannot reach the Docker Engine'));
  assert.ok(line, out);
  const log = JSON.parse(line) as Record<string, unknown>;
  assert.equal(log['level'], 50);
  assert.equal(log['endpoint'], 'unix:///nonexistent/bluegreen-test/docker.sock');
  const t0 = Date.now();
  const r = await request(`http://127.0.0.1:${port}/a`);
  assert.equal(r.status, 200);
  assert.equal(r.body, 'u GET /a 0');
  assert.ok(Date.now() - t0 < 1000, 'the static default service is served without waiting for Docker');
  child.kill('SIGTERM');
  assert.equal(await exited, 0);
});

test('bluegreen serve rejects a --host-address that is not an IP', async () => {
  const child = spawn(process.execPath, [bin, 'serve', '--no-docker', '--listen', '127.0.0.1:0', '--host-address', 'docker-host'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (c) => (err += c));
  const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  assert.notEqual(code, 0);
  assert.match(err, /--host-address: hostAddress: "docker-host" is not an IP address/);
});
