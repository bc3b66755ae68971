import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { DockerDiscovery } from '../../src/discovery/docker-discovery.ts';
import { Registry } from '../../src/registry/registry.ts';
import { sleep } from '../support/servers.ts';
import { FakeDocker, inspectJson } from './fake-docker.ts';

// Events in, registry changes out, with a fake only at the Docker API boundary: the registry, the
// decoder and the readiness probe are the real ones (the probe dials real loopback sockets).

const WEB = { 'bluegreen.service': 'web', 'bluegreen.hosts': 'web.test' };
const id = (n: number) => n.toString(16).padStart(64, 'c');

function setup(t: TestContext, opts: { retentionMs?: number; start?: boolean } = {}) {
  const fake = new FakeDocker();
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _e, cb) {
      logs.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      cb();
    },
  });
  const logger = pino({ level: 'debug' }, sink);
  const registry = new Registry({ logger: pino({ level: 'silent' }) });
  const discovery = new DockerDiscovery({
    client: fake,
    registry,
    logger,
    hostAddress: '127.0.0.1',
    retentionMs: opts.retentionMs ?? 30_000,
    initialBackoffMs: 20,
    maxBackoffMs: 100,
  });
  t.after(() => discovery.stop());
  const start = async () => {
    discovery.start();
    await discovery.firstSync;
  };
  return { fake, registry, discovery, logs, start };
}

async function until(what: string, fn: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** Lets pending stream data and microtasks run (no timers are needed for events to apply). */
const settle = () => new Promise((r) => setImmediate(r));

test('sync: labelled running containers are registered, bad labels reported and left out, others untouched', async (t) => {
  const { fake, registry, discovery, logs, start } = setup(t);
  fake.add({ id: id(1), name: 'web-1', labels: WEB, health: 'healthy' });
  fake.add({ id: id(2), name: 'web-2', labels: WEB, health: 'starting' });
  fake.add({ id: id(3), name: 'bad-1', labels: { 'bluegreen.service': 'bad', 'bluegreen.port': '80x', 'bluegreen.drain-timout': '5s' }, health: 'healthy' });
  fake.add({ id: id(4), name: 'not-ours', labels: { 'com.example': 'x' } });
  fake.add({ id: id(5), name: 'stopped', labels: WEB, running: false });
  await start();

  assert.deepEqual([...registry.upstreams.keys()].sort(), [id(1), id(2)]);
  assert.equal(registry.upstream(id(1)).state, 'ready');
  assert.equal(registry.upstream(id(2)).state, 'starting');
  assert.deepEqual(registry.service('web')!.route.hosts, ['web.test']);
  assert.equal(registry.service('bad'), undefined);
  assert.ok(!fake.inspects.includes(id(4)), 'a container without bluegreen labels is not even inspected');

  const rejected = discovery.rejected;
  assert.deepEqual(rejected.map((r) => [r.name, r.label]).sort(), [
    ['bad-1', 'bluegreen.drain-timout'],
    ['bad-1', 'bluegreen.port'],
  ]);
  assert.equal(rejected[0]!.id, id(3));
  const warn = logs.filter((l) => l['level'] === 40 && l['container'] === 'bad-1');
  assert.equal(warn.length, 2);
  const portLine = warn.find((l) => l['label'] === 'bluegreen.port')!;
  assert.equal(portLine['reason'], 'is not a port (1-65535)');
  assert.match(String(portLine['msg']), /container bad-1: label bluegreen.port=80x is not a port/);

  const s = discovery.state;
  assert.equal(s.connected, true);
  assert.ok(s.lastSyncAt! > 0);
  assert.equal(s.containers, 2);
});

test('start and health_status events: registered as starting, ready on healthy, out on unhealthy, back on healthy', async (t) => {
  const { fake, registry, start } = setup(t);
  await start();
  fake.start({ id: id(1), name: 'web-1', labels: { ...WEB, 'bluegreen.color': 'blue' }, health: 'starting' });
  await until('registered', () => registry.upstreams.has(id(1)));
  const up = registry.upstream(id(1));
  assert.equal(up.state, 'starting');
  assert.equal(up.color, 'blue');
  fake.health(id(1), 'healthy');
  await until('ready', () => up.state === 'ready');
  fake.health(id(1), 'unhealthy');
  await until('unhealthy', () => up.state === 'unhealthy');
  fake.health(id(1), 'healthy');
  await until('ready again', () => up.state === 'ready');
});

test('kill SIGTERM drains at once with deadline = event time + grace (label, StopTimeout, default 10 s)', async (t) => {
  const { fake, registry, start } = setup(t);
  fake.add({ id: id(1), name: 'a', labels: { ...WEB, 'bluegreen.drain-timeout': '3s' }, health: 'healthy', stopTimeout: 20 });
  fake.add({ id: id(2), name: 'b', labels: WEB, health: 'healthy', stopTimeout: 7 });
  fake.add({ id: id(3), name: 'c', labels: WEB, health: 'healthy' });
  await start();
  // Keep them from being removed at once when idle, to read their deadlines.
  for (const n of [1, 2, 3]) registry.upstream(id(n)).track({ kind: 'http', abort: () => {} });

  const t1 = fake.kill(id(1));
  const t2 = fake.kill(id(2));
  const t3 = fake.kill(id(3));
  await settle();
  await settle();
  for (const n of [1, 2, 3]) assert.equal(registry.upstream(id(n)).state, 'draining', `upstream ${n} drains without waiting for any timer`);
  assert.equal(registry.upstream(id(1)).drainDeadline, t1 + 3_000);
  assert.equal(registry.upstream(id(2)).drainDeadline, t2 + 7_000);
  assert.equal(registry.upstream(id(3)).drainDeadline, t3 + 10_000);

  // The SIGKILL that follows a stop timeout never moves the deadline.
  fake.kill(id(2), '9');
  await settle();
  assert.equal(registry.upstream(id(2)).drainDeadline, t2 + 7_000);
});

test('kill with a non-stop signal (SIGHUP) keeps the container; its StopSignal drains it', async (t) => {
  const { fake, registry, start } = setup(t);
  fake.add({ id: id(1), name: 'a', labels: WEB, health: 'healthy' });
  fake.add({ id: id(2), name: 'b', labels: WEB, health: 'healthy', stopSignal: 'SIGUSR1' });
  await start();
  for (const n of [1, 2]) registry.upstream(id(n)).track({ kind: 'http', abort: () => {} });
  fake.kill(id(1), '1');
  fake.kill(id(2), '10');
  await settle();
  await settle();
  assert.equal(registry.upstream(id(1)).state, 'ready');
  assert.equal(registry.upstream(id(2)).state, 'draining');
});

test('an idle upstream is gone at the kill; die and destroy remove; a start after die registers it again', async (t) => {
  const { fake, registry, discovery, start } = setup(t);
  fake.add({ id: id(1), name: 'a', labels: WEB, health: 'healthy' });
  fake.add({ id: id(2), name: 'b', labels: WEB, health: 'healthy' });
  await start();
  fake.kill(id(1));
  await until('drained and removed', () => !registry.upstreams.has(id(1)));
  registry.upstream(id(2)).track({ kind: 'http', abort: () => {} });
  fake.kill(id(2));
  fake.die(id(2));
  await until('removed on die', () => !registry.upstreams.has(id(2)));
  assert.equal(discovery.state.containers, 1, 'a drained container is remembered until it dies');
  fake.die(id(1));
  await until('forgotten on die', () => discovery.state.containers === 0);

  // docker start again: same id, a fresh upstream.
  const c = fake.containers.get(id(1))!;
  c.State.Running = true;
  c.State.Status = 'running';
  fake.emit('container', 'start', id(1));
  await until('registered again', () => registry.upstreams.get(id(1))?.state === 'ready');
});

test('pause drains; unpause registers it again', async (t) => {
  const { fake, registry, start } = setup(t);
  fake.add({ id: id(1), name: 'a', labels: WEB, health: 'healthy' });
  fake.add({ id: id(2), name: 'b', labels: WEB, health: 'healthy' });
  await start();
  const release = registry.upstream(id(1)).track({ kind: 'http', abort: () => {} });
  fake.containers.get(id(1))!.State.Paused = true;
  fake.emit('container', 'pause', id(1));
  await until('draining', () => registry.upstream(id(1)).state === 'draining');
  fake.containers.get(id(1))!.State.Paused = false;
  fake.emit('container', 'unpause', id(1));
  await until('back', () => registry.upstreams.get(id(1))?.state === 'ready');
  release();
  assert.equal(registry.upstreams.get(id(1))?.state, 'ready', 'the old drain finishing does not remove the new upstream');
});

test('an event split across two chunks is applied once whole', async (t) => {
  const { fake, registry, start } = setup(t);
  fake.add({ id: id(1), name: 'a', labels: WEB, health: 'healthy' });
  await start();
  registry.upstream(id(1)).track({ kind: 'http', abort: () => {} });
  fake.emit('container', 'kill', id(1), { signal: '15' }, { split: true });
  await until('draining', () => registry.upstream(id(1)).state === 'draining');
});

test('network disconnect re-inspects: a container left without a reachable network is removed and reported', async (t) => {
  const { fake, registry, discovery, start } = setup(t);
  fake.add({ id: id(1), name: 'a', labels: WEB, health: 'healthy', networks: { front: '10.1.0.2' } });
  await start();
  assert.equal(registry.upstream(id(1)).host, '10.1.0.2');
  fake.containers.get(id(1))!.NetworkSettings.Networks = {};
  fake.emit('network', 'disconnect', 'net-front', { container: id(1), name: 'front', type: 'bridge' });
  await until('removed', () => !registry.upstreams.has(id(1)));
  assert.deepEqual(discovery.rejected.map((r) => r.label), ['bluegreen.network']);
  // Connected again: routed again.
  fake.containers.get(id(1))!.NetworkSettings.Networks = { front: { IPAddress: '10.1.0.9' } };
  fake.emit('network', 'connect', 'net-front', { container: id(1), name: 'front', type: 'bridge' });
  await until('back', () => registry.upstreams.get(id(1))?.host === '10.1.0.9');
  assert.deepEqual(discovery.rejected, []);
});

test('a running container Docker shows without any address for a moment (no event when it is over) is looked at again and routed again', async (t) => {
  const { fake, registry, discovery, logs, start } = setup(t);
  fake.add({ id: id(1), name: 'a', labels: WEB, health: 'healthy', networks: { front: '10.1.0.2' } });
  await start();
  fake.containers.get(id(1))!.NetworkSettings.Networks = {};
  fake.emit('network', 'disconnect', 'net-front', { container: id(1), name: 'front', type: 'bridge' });
  await until('removed', () => !registry.upstreams.has(id(1)));
  assert.deepEqual(discovery.rejected.map((r) => r.label), ['bluegreen.network']);
  // The engine shows the address again without sending any event (as around a swarm init/leave).
  fake.containers.get(id(1))!.NetworkSettings.Networks = { front: { IPAddress: '10.1.0.2' } };
  await until('routed again by a later look', () => registry.upstreams.get(id(1))?.host === '10.1.0.2', 5_000);
  assert.deepEqual(discovery.rejected, []);
  assert.ok(logs.some((l) => String(l['msg']).includes('without a network address')));
});

test('the proxy container: its networks choose among a container’s networks', async (t) => {
  const { fake, registry, discovery, start } = setup(t);
  fake.self = inspectJson({ id: id(99), name: 'proxy', networks: { edge: '10.9.0.2', back: '10.8.0.2' } });
  fake.add({ id: id(1), name: 'a', labels: WEB, health: 'healthy', networks: { db: '10.7.0.3', back: '10.8.0.3' } });
  await start();
  assert.deepEqual(discovery.state.proxyNetworks, ['back', 'edge']);
  assert.equal(registry.upstream(id(1)).host, '10.8.0.3');
});

test('reconnect: replays with since = last event time, reconciles, and converges; nothing missed or left behind', async (t) => {
  const { fake, registry, discovery, start } = setup(t);
  fake.add({ id: id(1), name: 'stays', labels: WEB, health: 'healthy' });
  fake.add({ id: id(2), name: 'stopped-in-outage', labels: WEB, health: 'healthy' });
  fake.add({ id: id(3), name: 'vanished', labels: WEB, health: 'healthy' });
  await start();
  fake.health(id(1), 'healthy'); // an event, so that `since` has a time to resume from
  await settle();
  const lastBefore = fake.history.at(-1)!.nano;

  fake.cut();
  await sleep(50);
  assert.equal(discovery.state.connected, false);
  assert.equal(registry.upstream(id(1)).state, 'ready', 'what is known keeps serving');
  // While the stream is down: one container starts, one stops, one disappears without any event left.
  fake.start({ id: id(4), name: 'started-in-outage', labels: WEB, health: 'healthy' });
  fake.kill(id(2));
  fake.die(id(2));
  fake.containers.delete(id(3));
  const restoredAt = Date.now();
  fake.restore(false); // no socket watcher hint: the backoff alone brings it back
  await until('converged', () => registry.upstreams.has(id(4)) && !registry.upstreams.has(id(2)) && !registry.upstreams.has(id(3)), 2000);
  assert.ok(Date.now() - restoredAt < 500);
  assert.equal(registry.upstream(id(4)).state, 'ready');
  assert.equal(registry.upstream(id(1)).state, 'ready');
  const since = fake.sinceCalls.at(-1)!;
  assert.equal(since, `${lastBefore / 1_000_000_000n}.${(lastBefore % 1_000_000_000n).toString().padStart(9, '0')}`);
  assert.equal(discovery.state.connected, true);
  assert.equal(discovery.state.reconnects, 1);
});

test('the socket coming back (watcher) cuts the backoff short', async (t) => {
  const fake = new FakeDocker();
  const registry = new Registry({ logger: pino({ level: 'silent' }) });
  const discovery = new DockerDiscovery({ client: fake, registry, logger: pino({ level: 'silent' }), hostAddress: '127.0.0.1', initialBackoffMs: 5_000, maxBackoffMs: 5_000 });
  t.after(() => discovery.stop());
  fake.down = true;
  discovery.start();
  await sleep(50);
  fake.add({ id: id(1), name: 'a', labels: WEB, health: 'healthy' });
  const t0 = Date.now();
  fake.restore(true);
  await discovery.firstSync;
  assert.ok(Date.now() - t0 < 1000);
  assert.ok(registry.upstreams.has(id(1)));
});

test('the socket file appearing before it listens: retries stay quick for a while instead of backing off', async (t) => {
  const fake = new FakeDocker();
  const registry = new Registry({ logger: pino({ level: 'silent' }) });
  const discovery = new DockerDiscovery({ client: fake, registry, logger: pino({ level: 'silent' }), hostAddress: '127.0.0.1', initialBackoffMs: 100, maxBackoffMs: 5_000 });
  t.after(() => discovery.stop());
  fake.down = true;
  discovery.start();
  await sleep(1600); // failures so far: backoff now at 1.6 s and growing
  fake.announce(); // bound, not yet listening: this attempt fails
  await sleep(150);
  const t0 = Date.now();
  fake.restore(false);
  await discovery.firstSync;
  assert.ok(Date.now() - t0 < 400, `synced ${Date.now() - t0} ms after the engine listened`);
});

test('Docker unreachable at start: firstSync waits, errors are logged, it syncs when Docker is back', async (t) => {
  const { fake, registry, discovery, logs } = setup(t);
  fake.down = true;
  fake.add({ id: id(1), name: 'a', labels: WEB, health: 'healthy' });
  discovery.start();
  let synced = false;
  void discovery.firstSync.then(() => (synced = true));
  await sleep(300);
  assert.equal(synced, false);
  assert.equal(discovery.state.connected, false);
  assert.match(discovery.state.lastError ?? '', /ECONNREFUSED/);
  assert.ok(logs.some((l) => l['level'] === 50 && /cannot reach the Docker Engine/.test(String(l['msg']))));
  fake.restore(false);
  await until('synced', () => synced, 2000);
  assert.ok(registry.upstreams.has(id(1)));
});

test('retention: a service whose last container left stays for the retention period, then goes; a new container keeps it', async (t) => {
  const { fake, registry, start } = setup(t, { retentionMs: 300 });
  fake.add({ id: id(1), name: 'a', labels: WEB, health: 'healthy' });
  await start();
  fake.kill(id(1));
  fake.die(id(1));
  await until('upstream gone', () => !registry.upstreams.has(id(1)));
  await sleep(150);
  assert.ok(registry.service('web'), 'kept during retention');
  fake.start({ id: id(2), name: 'b', labels: WEB, health: 'healthy' });
  await until('new one', () => registry.upstreams.has(id(2)));
  await sleep(300);
  assert.ok(registry.service('web'), 'a new container cancels the removal');
  fake.kill(id(2));
  fake.die(id(2));
  await until('service removed after retention', () => registry.service('web') === undefined, 1000);
});

test('readiness probe: a container without HEALTHCHECK is ready once its port accepts (real TCP), not before', async (t) => {
  const { fake, registry, start } = setup(t);
  const server = createNetServer((s) => s.destroy());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r())); // nothing listens yet
  await start();
  fake.start({ id: id(1), name: 'a', labels: { ...WEB, 'bluegreen.port': String(port) }, networks: { e2e: '127.0.0.1' } });
  await until('registered', () => registry.upstreams.has(id(1)));
  await sleep(600);
  assert.equal(registry.upstream(id(1)).state, 'starting');
  let connections = 0;
  const late = createNetServer((s) => {
    connections++;
    s.destroy();
  });
  await new Promise<void>((r) => late.listen(port, '127.0.0.1', r));
  t.after(() => late.close());
  await until('ready', () => registry.upstream(id(1)).state === 'ready', 1000);
  registry.upstream(id(1)).track({ kind: 'http', abort: () => {} });
  fake.kill(id(1));
  await until('draining', () => registry.upstream(id(1)).state === 'draining');
  const after = connections;
  await sleep(1300);
  assert.equal(connections, after, 'the probe stops when the upstream drains');
});

test('events of containers without bluegreen labels are ignored without an inspect', async (t) => {
  const { fake, registry, discovery, start } = setup(t);
  await start();
  fake.start({ id: id(1), name: 'db', labels: { 'com.example': 'db' } });
  fake.kill(id(1));
  await sleep(50);
  assert.equal(registry.upstreams.size, 0);
  assert.ok(!fake.inspects.includes(id(1)));
  assert.equal(discovery.state.events, 0);
});
