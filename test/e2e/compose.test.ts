// Case 4 on the real engine: `docker compose up -d` (or docker-compose v1) with a changed VERSION
// recreates the app container stop-first (compose stops and removes the old container before the
// new one starts). `bluegreen serve` runs as a host process (it reaches the containers on the
// project's bridge network directly) under a steady mixed load: zero failures, and the requests
// that arrive in the gap are held, then answered by the new container. The proxy's log is kept in
// $TMPDIR/bluegreen-e2e/<project>.log.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { compose, ensureDockerAndImages, repoRoot } from './support/docker.ts';
import { caseLine, Load } from './support/load.ts';
import { logTime, ProxyProcess } from './support/proxy-process.ts';

const FILE = join(repoRoot, 'compose', 'e2e-recreate.yml');

/** Load clients: each has one request outstanding at any time. */
const CLIENTS = 6;

function report(t: TestContext, line: string): void {
  console.log(line);
  t.diagnostic(line);
}

test('case 4: compose up -d with a changed version recreates stop-first: zero failures, requests held in the gap', { timeout: 240_000 }, async (t) => {
  await ensureDockerAndImages(); // fails (never skips) when Docker cannot be started
  // Starts with bge2e- like discovery.test.ts, whose before() removes leftovers of interrupted runs.
  const project = `bge2e-${Date.now().toString(36)}-c4`;
  const service = project;
  const host = `${project}.e2e.test`;
  const up = (version: number) =>
    compose(['-p', project, '-f', FILE, 'up', '-d'], {
      env: { ...process.env, VERSION: String(version), BG_SERVICE: service, BG_HOST: host },
      timeoutMs: 120_000,
    });
  const containerId = async () => (await compose(['-p', project, '-f', FILE, 'ps', '-q', 'app'], { env: { ...process.env, BG_SERVICE: service, BG_HOST: host } })).trim();
  // Cleanup in this order, also after a failure: the load, the proxy, the project.
  let load: Load | undefined;
  let proxy: ProxyProcess | undefined;
  t.after(async () => {
    await load?.stop();
    await proxy?.stop();
    await compose(['-p', project, '-f', FILE, 'down', '-v', '--remove-orphans', '-t', '1'], { timeoutMs: 60_000 }).catch(() => {});
  });

  proxy = await ProxyProcess.start({ name: project });
  await proxy.waitForLog((l) => l.msg === 'synced with Docker', 15_000, 'first sync with Docker');
  /** Compose keeps the container name across a recreate: log lines are told apart by container id. */
  const ready = (id: string) =>
    proxy!.waitForLog((l) => l.msg === 'container readiness changed' && l['id'] === id.slice(0, 12) && l['to'] === 'ready', 30_000, `container ${id.slice(0, 12)} ready`);

  await up(1);
  const v1 = await containerId();
  await ready(v1);
  load = new Load({ url: proxy.url, host, clients: CLIENTS }).start();
  await load.waitForResponder('v1', 20);
  await sleep(1000);

  const upAt = Date.now();
  await up(2); // returns once the new container has started
  const upMs = Date.now() - upAt;
  const v2 = await containerId();
  assert.notEqual(v2, v1, 'compose recreated the container');
  const readyAt = logTime(await ready(v2));
  await load.waitForResponder('v2', 30);
  await sleep(500);
  const s = await load.stop();

  // The gap: from v1 leaving rotation (its kill event) until v2 was ready. No container served.
  const drained = proxy.logs.find((l) => l.msg === 'upstream draining' && String(l['id']) === v1);
  assert.ok(drained, `v1 (${v1.slice(0, 12)}) was drained: ${proxy.logFile}`);
  const gapStart = logTime(drained);
  const gapMs = readyAt - gapStart;
  const retained = proxy.logs.find((l) => l.msg === 'service has no upstream left; requests are held while it is retained' && l['service'] === service);
  // No request can be answered in the gap, so each client's request outstanding when it ended was
  // held (some were sent just before it began, found v1 closing, and were retried).
  const held = load.samples.filter((x) => x.start < readyAt && x.end >= readyAt && x.start > gapStart - 1000);
  const sentInGap = load.samples.filter((x) => x.start > gapStart && x.start < readyAt);
  report(t, caseLine('4', s, `gapMs=${gapMs} held=${held.length} sentInGap=${sentInGap.length} composeUpMs=${upMs} v1=${s.byName['v1'] ?? 0} v2=${s.byName['v2'] ?? 0}`));

  assert.equal(s.failed, 0, load.failures());
  assert.ok(gapMs >= 1000, `a real gap: v2 was ready ${gapMs} ms after v1 was drained (it listens 1 s after its start)`);
  assert.ok(retained, 'the service was retained after its last container left');
  assert.equal(held.length, CLIENTS, `every client had a request held through the gap (${held.length})`);
  assert.ok(sentInGap.length >= 1, 'requests sent in the gap were held');
  for (const x of [...held, ...sentInGap]) assert.equal(x.name, 'v2', `a request held in the gap was answered by v2, not ${x.name || x.failure}`);
  assert.ok(s.maxLatencyMs >= gapMs - 500, `held through the gap (max ${s.maxLatencyMs} ms, gap ${gapMs} ms)`);
  const late = load.samples.filter((x) => x.name === 'v1' && x.start > gapStart + 1);
  assert.equal(late.length, 0, 'no request sent after the kill event reached v1');
});
