// Docker 20.10 does not resume the HEALTHCHECKs of containers it live-restored after a daemon
// restart (seen in test/e2e/faults.test.ts case 2): a container still `starting` would never become
// ready. After a reconnect, discovery checks that Docker still updates each container's health and
// otherwise probes the container itself. Fake Docker API, real registry, real TCP probe.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { DockerDiscovery } from '../../src/discovery/docker-discovery.ts';
import { Registry } from '../../src/registry/registry.ts';
import { sleep } from '../support/servers.ts';
import { FakeDocker } from './fake-docker.ts';

const id = (n: number) => n.toString(16).padStart(64, 'e');

async function until(what: string, fn: () => boolean, ms = 4000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

interface HealthBits {
  State: { Health: { Status: string; Log?: { Start: string; End: string }[] } };
  Config: { Healthcheck: Record<string, unknown> };
}

async function setup(t: TestContext) {
  const fake = new FakeDocker();
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _e, cb) {
      logs.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      cb();
    },
  });
  const registry = new Registry({ logger: pino({ level: 'silent' }) });
  const discovery = new DockerDiscovery({ client: fake, registry, logger: pino({ level: 'debug' }, sink), hostAddress: '127.0.0.1', initialBackoffMs: 20, maxBackoffMs: 100 });
  t.after(() => discovery.stop());
  const server = createNetServer((s) => s.destroy());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  const port = (server.address() as AddressInfo).port;
  /** A container with a HEALTHCHECK every 100 ms (interval 50 ms + timeout 50 ms), run once so far. */
  const add = (n: number, health: 'starting' | 'healthy') => {
    fake.add({ id: id(n), name: `web-${n}`, labels: { 'bluegreen.service': 'web', 'bluegreen.port': String(port) }, networks: { e2e: '127.0.0.1' }, health });
    const c = fake.containers.get(id(n)) as unknown as HealthBits;
    c.Config.Healthcheck = { Test: ['CMD', 'true'], Interval: 50e6, Timeout: 50e6 };
    const at = new Date().toISOString();
    c.State.Health.Log = [{ Start: at, End: at }];
    return c;
  };
  return { fake, registry, discovery, logs, add };
}

test('after a reconnect, a container whose HEALTHCHECK Docker no longer runs gets our TCP probe; one Docker still checks does not', async (t) => {
  const { fake, registry, discovery, logs, add } = await setup(t);
  add(1, 'starting'); // Docker will not check it again
  const checked = add(2, 'starting'); // Docker keeps checking it (still starting)
  const ticker = setInterval(() => {
    const at = new Date().toISOString();
    (checked.State.Health.Log ??= []).push({ Start: at, End: at });
  }, 50);
  t.after(() => clearInterval(ticker));
  discovery.start();
  await discovery.firstSync;
  await sleep(500);
  assert.equal(registry.upstream(id(1)).state, 'starting', 'before any reconnect, Docker health is trusted');

  fake.cut();
  await sleep(50);
  fake.restore();
  await until('reconnected', () => discovery.state.reconnects === 1);
  await until('web-1 ready by our probe', () => registry.upstream(id(1)).state === 'ready');
  assert.equal(registry.upstream(id(1)).stateReason, "tcp probe succeeded (Docker's HEALTHCHECK stalled)");
  const warn = logs.find((l) => String(l['msg']).startsWith("Docker has not run the container's HEALTHCHECK"));
  assert.equal(warn?.['container'], 'web-1');
  await sleep(500);
  assert.equal(registry.upstream(id(2)).state, 'starting', 'Docker still runs web-2’s healthcheck: its verdict stands');
  assert.equal(logs.filter((l) => String(l['msg']).startsWith("Docker has not run the container's HEALTHCHECK")).length, 1);

  // web-2's Docker health events are still followed.
  clearInterval(ticker);
  fake.health(id(2), 'healthy');
  await until('web-2 ready by Docker', () => registry.upstream(id(2)).state === 'ready');
  assert.match(registry.upstream(id(2)).stateReason, /^docker health: healthy/);
});

test('no stalled-health check without a reconnect, and none for a container that left', async (t) => {
  const { fake, registry, discovery, logs, add } = await setup(t);
  add(1, 'starting');
  discovery.start();
  await discovery.firstSync;
  await sleep(600);
  assert.equal(registry.upstream(id(1)).state, 'starting');
  fake.cut();
  await sleep(50);
  fake.containers.delete(id(1));
  fake.restore();
  await until('reconnected', () => discovery.state.reconnects === 1);
  await sleep(600);
  assert.equal(registry.upstreams.has(id(1)), false);
  assert.equal(logs.filter((l) => String(l['msg']).startsWith("Docker has not run the container's HEALTHCHECK")).length, 0);
});
