// Docker discovery end to end, on the real engine: `bluegreen serve` runs as a host process and
// routes to test-app containers on a bridge network each case creates (the host reaches container
// IPs on it directly). Under a steady mixed load every case must end with zero failed requests.
// The proxy's log of each case is kept in $TMPDIR/bluegreen-e2e/<prefix>.log.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  BASE_IMAGE,
  containerIp,
  docker,
  ensureDockerAndImages,
  removeContainers,
  removeNetworks,
  repoRoot,
  runTestApp,
  waitFor,
} from './support/docker.ts';
import { request } from '../support/http.ts';
import { setupBridgeCase, type BridgeCase } from './support/bridge-case.ts';
import { DockerRelay } from './support/docker-relay.ts';
import { caseLine, Load } from './support/load.ts';
import { logTime } from './support/proxy-process.ts';

const RUN = `bge2e-${Date.now().toString(36)}`;
/**
 * Graceful apps stopped under load close their idle keep-alive connections the instant they get
 * SIGTERM (LINGER_MS=0 in app/server.js, what Node's server.close() does), the same instant Docker
 * emits the kill event the proxy drains on. A POST on its way on such a connection is reset before
 * the app's `100 Continue`, which proves it was never taken, so the proxy sends it elsewhere
 * (src/dataplane/continue-client.ts): these cases expect zero failures without any lame-duck period.
 */
const GRACEFUL = { LATENCY_MS: 20, LINGER_MS: 0 };

type Case = BridgeCase;

function setupCase(t: TestContext, n: string, proxyEnv: NodeJS.ProcessEnv = {}): Promise<Case> {
  return setupBridgeCase(t, `${RUN}-c${n}`, { env: proxyEnv });
}

function report(t: TestContext, line: string): void {
  console.log(line);
  t.diagnostic(line);
}

test.before(async () => {
  await ensureDockerAndImages();
  await removeContainers('bge2e-'); // leftovers of an interrupted run
  await removeNetworks('bge2e-');
});

test('case 1: docker run with a 3 s startup delay: traffic only once ready, requests in the gap held', async (t) => {
  // The service exists from a previous container (v1), stopped and removed first: that is a
  // stop-first redeploy. Its requests are held through the gap (service retention) and the 3 s
  // startup, and released when v2 is ready. (A host no container ever served is a 404.)
  const c = await setupCase(t, '1');
  const v1 = await c.run('v1', GRACEFUL);
  await c.ready(v1);
  const load = new Load({ url: c.proxy.url, host: c.host }).start();
  t.after(() => load.stop());
  await sleep(1000);
  await docker(['stop', v1]);
  await docker(['rm', v1]);
  const runAt = Date.now();
  const v2 = await c.run('v2', { LATENCY_MS: 20, STARTUP_DELAY_MS: 3000 });
  const readyAt = logTime(await c.ready(v2));
  await load.waitForResponder('v2', 30);
  await sleep(500);
  const s = await load.stop();
  report(t, caseLine('1', s, `v2ReadyAfterMs=${readyAt - runAt}`));

  assert.equal(s.failed, 0, load.failures());
  assert.ok(readyAt - runAt >= 2900, `v2 became ready ${readyAt - runAt} ms after docker run, not before its 3 s startup`);
  assert.ok(s.maxLatencyMs >= 2500, `requests were held through the startup (max ${s.maxLatencyMs} ms)`);
  const early = load.samples.filter((x) => x.name === 'v2' && x.end < readyAt);
  assert.equal(early.length, 0, 'no response from v2 before it was ready');
  const attempts = c.proxy.logs.filter((l) => String(l.msg).startsWith('upstream attempt failed') && l['upstream'] === v2);
  assert.equal(attempts.length, 0, 'no request was sent to v2 while it was starting');
  assert.ok((s.byName['v2'] ?? 0) > 20);
});

test('case 2: docker stop with 5 s requests in flight: they complete with 200, nothing new reaches it after the kill', async (t) => {
  const c = await setupCase(t, '2');
  const a = await c.run('a', GRACEFUL);
  const b = await c.run('b', GRACEFUL);
  await Promise.all([c.ready(a), c.ready(b)]);
  const load = new Load({ url: c.proxy.url, host: c.host }).start();
  t.after(() => load.stop());
  await sleep(800);
  const slow = Array.from({ length: 8 }, (_, i) => load.one(`/slow/${i}?delay=5000`));
  await sleep(500);
  const stopAt = Date.now();
  const stopped = docker(['stop', a]);
  const drain = await c.proxy.waitForLog((l) => l.msg === 'upstream draining' && l['upstream'] === a, 5000, `${a} draining`);
  const drainAt = logTime(drain);
  const cause = c.proxy.about('container stopping; draining it', a)[0]!;
  await stopped;
  const stopMs = Date.now() - stopAt;
  const slowDone = await Promise.all(slow);
  await sleep(500);
  const s = await load.stop();
  const slowOnA = slowDone.filter((x) => x.name === 'a').length;
  report(t, caseLine('2', s, `slow=${slowDone.length} slowOnA=${slowOnA} killEventLagMs=${String(cause['lagMs'])} dockerStopMs=${stopMs}`));

  assert.equal(s.failed, 0, load.failures());
  for (const x of slowDone) assert.equal(x.status, 200, `slow request: ${x.failure ?? ''} ${x.detail ?? ''}`);
  assert.ok(slowOnA >= 1, 'at least one 5 s request was in flight on the stopped container');
  assert.ok(stopMs >= 3500, `docker stop waited for the requests in flight (${stopMs} ms)`);
  const late = load.samples.filter((x) => x.name === 'a' && x.start > drainAt + 1);
  assert.equal(late.length, 0, `requests sent after the kill event was applied reached ${a}: ${JSON.stringify(late.slice(0, 3))}`);
  assert.ok((s.byName['b'] ?? 0) > 0);
});

test('case 3: blue/green with an app that exits at once on SIGTERM: start green, wait until active, stop blue', async (t) => {
  const c = await setupCase(t, '3');
  const blue = await c.run('blue', { LATENCY_MS: 20, ON_SIGTERM: 'exit' }, { labels: c.labels({ 'bluegreen.color': 'blue' }) });
  await c.ready(blue);
  const load = new Load({ url: c.proxy.url, host: c.host }).start();
  t.after(() => load.stop());
  await sleep(1000);
  // Green has a Docker HEALTHCHECK: it becomes ready on health_status: healthy.
  const green = await c.run(
    'green',
    { LATENCY_MS: 20, ON_SIGTERM: 'exit', STARTUP_DELAY_MS: 1000 },
    { labels: c.labels({ 'bluegreen.color': 'green' }), healthcheckIntervalMs: 500 },
  );
  const switched = await c.proxy.waitForLog(
    (l) => l.msg === 'active color switched' && l['service'] === c.service && l['to'] === 'green',
    20_000,
    'switch to green',
  );
  const switchAt = logTime(switched);
  await load.waitForResponder('green', 30);
  await sleep(500);
  await docker(['stop', blue]);
  await sleep(1500);
  const s = await load.stop();
  report(t, caseLine('3', s, `blue=${s.byName['blue'] ?? 0} green=${s.byName['green'] ?? 0}`));

  assert.equal(s.failed, 0, load.failures());
  const greenReady = c.proxy.about('container readiness changed', green).find((l) => l['to'] === 'ready');
  assert.equal(greenReady?.['why'], 'docker health: healthy (health_status event)');
  const late = load.samples.filter((x) => x.name === 'blue' && x.start > switchAt + 1);
  assert.equal(late.length, 0, 'blue got no new request after green became active');
});

test('case 6: Docker API cut for 5 s while a container starts and another stops: keeps serving, reconnects, converges within 2 s', async (t) => {
  const relay = new DockerRelay();
  await relay.listen();
  t.after(() => relay.close());
  const c = await setupCase(t, '6', { DOCKER_HOST: relay.dockerHost });
  const old = await c.run('old', GRACEFUL);
  const keep = await c.run('keep', GRACEFUL);
  await Promise.all([c.ready(old), c.ready(keep)]);
  const load = new Load({ url: c.proxy.url, host: c.host }).start();
  t.after(() => load.stop());
  await sleep(800);

  const cutAt = Date.now();
  await relay.cut();
  await c.proxy.waitForLog((l) => l.msg === 'Docker event stream ended; reconnecting', 5000, 'stream end');
  const fresh = await c.run('new', { LATENCY_MS: 20 });
  await docker(['stop', old]);
  await sleep(Math.max(0, cutAt + 5000 - Date.now()));
  const servedDuringCut = load.samples.filter((x) => x.start > cutAt && !x.failure).length;
  const restoredAt = Date.now();
  await relay.restore();
  const readyAt = logTime(await c.ready(fresh, 10_000));
  const goneAt = logTime(
    await c.proxy.waitForLog((l) => l.msg === 'upstream removed' && l['upstream'] === old, 10_000, `${old} removed`),
  );
  const convergedMs = Math.max(readyAt, goneAt) - restoredAt;
  await load.waitForResponder('new', 1, 5000).catch(() => 0);
  await sleep(1000);
  const s = await load.stop();
  const reconciled = c.proxy.logs.find((l) => l.msg === 'reconnected to Docker and reconciled');
  report(t, caseLine('6', s, `servedDuringCut=${servedDuringCut} convergedMs=${convergedMs} cutMs=${restoredAt - cutAt}`));

  assert.equal(s.failed, 0, load.failures());
  assert.ok(servedDuringCut > 50, 'the proxy kept serving while Docker was unreachable');
  assert.ok(reconciled, 'reconnected and reconciled');
  assert.ok(convergedMs <= 2000, `converged ${convergedMs} ms after the relay came back`);
  assert.ok((s.byName['new'] ?? 0) > 0, 'the container started during the cut got traffic');
  assert.ok(relay.connections >= 3);
});

test('case 7: a container with a bad label is reported (container, label, reason) and ignored; the others keep serving', async (t) => {
  const c = await setupCase(t, '7');
  const good = await c.run('good', { LATENCY_MS: 20 });
  await c.ready(good);
  const load = new Load({ url: c.proxy.url, host: c.host }).start();
  t.after(() => load.stop());
  await sleep(500);
  // Same service and host as the good one: were it not left out, it would get traffic.
  const bad = await c.run('bad', { LATENCY_MS: 20 }, { labels: c.labels({ 'bluegreen.drain-timeout': '5 seconds' }) });
  const typo = await c.run('typo', { LATENCY_MS: 20 }, { labels: c.labels({ 'bluegreen.prot': '8080' }) });
  const badLine = await c.proxy.waitForLog((l) => l['level'] === 40 && l['container'] === bad, 10_000, `warning about ${bad}`);
  const typoLine = await c.proxy.waitForLog((l) => l['level'] === 40 && l['container'] === typo, 10_000, `warning about ${typo}`);
  await sleep(1500);
  const s = await load.stop();
  report(t, caseLine('7', s, `reported=${String(badLine['label'])},${String(typoLine['label'])}`));

  assert.equal(badLine['label'], 'bluegreen.drain-timeout');
  assert.match(String(badLine['reason']), /is not a duration/);
  assert.match(String(badLine.msg), new RegExp(`container ${bad}: label bluegreen.drain-timeout=.*5 seconds.*container left out`));
  assert.equal(typoLine['label'], 'bluegreen.prot');
  assert.match(String(typoLine['reason']), /unknown label \(did you mean bluegreen.port\?\)/);
  assert.equal(s.failed, 0, load.failures());
  assert.deepEqual(Object.keys(s.byName), ['good'], 'only the good container got traffic');
  assert.equal(c.proxy.about('upstream added', bad).length, 0);
  assert.equal(await c.proxy.stop(), 0, 'the proxy (and its discovery) stops on SIGTERM and exits 0');
});

test('self-detection: a proxy running in a container reaches an app on the network they share', async (t) => {
  await ensureDockerAndImages();
  const prefix = `${RUN}-self`;
  t.after(async () => {
    await removeContainers(prefix).catch(() => []);
    await removeNetworks(prefix).catch(() => []);
  });
  const [front, back] = [`${prefix}-front`, `${prefix}-back`];
  for (const n of [front, back]) await docker(['network', 'create', '--driver', 'bridge', n]);
  const app = `${prefix}-app`;
  // Created on `back`, then connected to `front` too: only `front` is shared with the proxy.
  await runTestApp({ name: app, network: back, env: { NAME: 'app' }, labels: { 'bluegreen.service': prefix, 'bluegreen.hosts': `${prefix}.e2e.test` } });
  await docker(['network', 'connect', front, app]);
  const proxy = `${prefix}-proxy`;
  await docker([
    'run', '-d', '--name', proxy, '--network', front, '--user', '0',
    '-v', `${repoRoot}:/repo:ro`, '-v', '/var/run/docker.sock:/var/run/docker.sock',
    BASE_IMAGE, 'node', '/repo/bin/bluegreen.js', 'serve', '--listen', '0.0.0.0:8080',
  ]);
  const logs = () => docker(['logs', proxy]);
  const self = await waitFor(async () => (await logs()).split('\n').find((l) => l.includes('the proxy runs in a container')), 15_000, {
    what: 'self-detection log line',
  });
  assert.deepEqual((JSON.parse(self) as { networks: string[] }).networks, [front]);
  const [proxyIp, appFrontIp] = await Promise.all([containerIp(proxy, front), containerIp(app, front)]);
  const reply = await waitFor(
    async () => {
      // (fetch would drop the Host header)
      const r = await request(`http://${proxyIp}:8080/`, { headers: { host: `${prefix}.e2e.test` }, signal: AbortSignal.timeout(5000) });
      return r.status === 200 ? (JSON.parse(r.body) as { name: string }) : undefined;
    },
    15_000,
    { what: 'a 200 through the containerized proxy' },
  );
  assert.equal(reply.name, 'app');
  const registered = (await logs()).split('\n').find((l) => l.includes('"container registered"') && l.includes(app));
  assert.ok(registered?.includes(`"address":"${appFrontIp}:8080"`), `reached on the shared network (${appFrontIp}): ${registered}`);
  report(t, `self-detection: proxy networks=[${front}] app reached at ${appFrontIp} on the shared network`);
});
