// GET /api/wait fed by the real DockerDiscovery (a fake only at the Docker API boundary): a
// container started after the call is waited for and answered when Docker reports it healthy; a
// rejection ends a fail=rejected wait the moment discovery rejects the container; a swarm task
// container is found by its task id; a stop is seen through the kill and die events.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { AdminServer } from '../../src/control/admin-server.ts';
import { DockerDiscovery } from '../../src/discovery/docker-discovery.ts';
import { silentLogger, sleep, startProxy } from '../support/servers.ts';
import { FakeDocker } from '../discovery/fake-docker.ts';
import { api } from './harness.ts';

const id = (n: number) => n.toString(16).padStart(64, 'e');
const WEB = { 'bluegreen.service': 'web', 'bluegreen.port': '8080' };

async function setup(t: TestContext) {
  const { proxy } = await startProxy();
  t.after(() => proxy.stop(100));
  const fake = new FakeDocker();
  const discovery = new DockerDiscovery({ client: fake, registry: proxy.registry, logger: silentLogger, hostAddress: '127.0.0.1', initialBackoffMs: 20, maxBackoffMs: 100 });
  t.after(() => discovery.stop());
  // As `bluegreen serve` hands discovery to the admin API (src/cli/serve.ts).
  const provider = { status: () => discovery.state, get rejected() { return discovery.rejected; }, onRejectedChange: (l: () => void) => discovery.onRejectedChange(l) };
  const admin = new AdminServer({ registry: proxy.registry, dataPlane: proxy.dataPlane, logger: silentLogger, discovery: provider });
  const a = await admin.listen({ host: '127.0.0.1', port: 0 });
  t.after(() => admin.close());
  discovery.start();
  await discovery.firstSync;
  const url = `http://127.0.0.1:${a.port}`;
  /** Sends a wait and resolves once the admin server holds it. */
  const wait = async (query: string) => {
    const before = admin.waiting;
    const answer = api(url, `/api/wait?${query}`);
    for (let i = 0; i < 1000 && admin.waiting === before; i++) await sleep(5);
    return { answer };
  };
  return { fake, admin, url, wait };
}

test('wait with discovery: started after the call, routed at health_status healthy; rejected at once with fail=rejected', async (t) => {
  const { fake, admin, wait } = await setup(t);
  const { answer } = await wait(`container=${id(1)}&timeout=1m`);
  fake.start({ id: id(1), name: 'web-1', labels: WEB, health: 'starting' });
  for (let i = 0; i < 200 && admin.waiting > 0; i++) await sleep(5); // registered as starting: still waiting
  assert.equal(admin.waiting, 1, 'a starting container is not routed');
  fake.health(id(1), 'healthy');
  const r = await answer;
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.equal(r.json.upstream.name, 'web-1');
  assert.equal(r.json.upstream.stateReason, 'docker health: healthy (health_status event)');

  const { answer: bad } = await wait(`container=web-bad&fail=rejected&timeout=1m`);
  fake.start({ id: id(2), name: 'web-bad', labels: { ...WEB, 'bluegreen.port': '80x' }, health: 'healthy' });
  const b = await bad;
  assert.equal(b.status, 409, JSON.stringify(b.json));
  assert.equal(b.json.reason, 'rejected');
  assert.equal(b.json.rejected[0].label, 'bluegreen.port');
  assert.equal(b.json.rejected[0].value, '80x');
});

test('wait with discovery: a swarm task container by its task id; gone after kill and die', async (t) => {
  const { fake, url, wait } = await setup(t);
  fake.start({ id: id(3), name: 'web.1.abc', labels: WEB, health: 'healthy', swarm: { serviceId: 'svc1', serviceName: 'web', taskId: 'task4x9kq2m7v0p1s8d3f6h5j2l' } });
  let r = await api(url, '/api/wait?container=task4x9kq2m7v0p1s8d3f6h5j2l&timeout=10s');
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.equal(r.json.upstream.id, id(3));

  const { answer: gone } = await wait(`container=${id(3).slice(0, 12)}&state=gone&timeout=1m`);
  fake.kill(id(3));
  fake.die(id(3));
  r = await gone;
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.equal(r.json.removed.id, id(3));
  assert.match(r.json.removed.reason, /drained|container died/);
});
