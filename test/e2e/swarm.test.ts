// Case 5 on the real engine: `docker stack deploy` on a single-node swarm (initialised by the test
// when the engine is in none, and left again at the end). The routing mesh is not used (no IPVS
// here) and the host cannot reach overlay addresses, so the proxy runs as a service of the stack
// (compose/swarm.yml, from the proxy image), with the Docker socket mounted, on an attachable overlay network the
// test creates and shares with the app's tasks, publishing its port in mode host; the load comes
// from the host through 127.0.0.1:<port>. The app has 2 replicas, a healthcheck, its
// bluegreen.service label on its containers and bluegreen.hosts in deploy.labels (read from the
// service, as the proxy runs against a manager).
//   start-first: deploy v2, then v3, under load: zero failures.
//   stop-first, all tasks at once: deploy v4 under load: zero failures, requests held in the gap.
// The proxy's log is kept in $TMPDIR/bluegreen-e2e/<stack>.log.
import { refusedPort } from '../support/servers.ts';
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { docker, ensureDockerAndImages, ensureProxyImage, repoRoot, TESTAPP_IMAGE, waitFor } from './support/docker.ts';
import { caseLine, Load, type LoadSummary } from './support/load.ts';
import { cleanups } from './support/cleanups.ts';
import { ContainerLog } from './support/container-log.ts';
import type { LogLine } from './support/proxy-process.ts';

const FILE = join(repoRoot, 'compose', 'swarm.yml');
const REPLICAS = 2;

/** Load clients: each has one request outstanding at any time. */
const CLIENTS = 6;

function report(t: TestContext, line: string): void {
  console.log(line);
  t.diagnostic(line);
}


const logTime = (l: LogLine) => Date.parse(String(l.time));


/** Ids (full) of the running containers of a swarm service. */
async function taskContainers(service: string): Promise<string[]> {
  const out = await docker(['ps', '-q', '--no-trunc', '--filter', `label=com.docker.swarm.service.name=${service}`]);
  return out.split('\n').filter(Boolean).sort();
}

test('case 5: docker stack deploy: start-first twice, then stop-first, under load: zero failures, requests held in the gap', { timeout: 420_000 }, async (t) => {
  await ensureDockerAndImages(); // fails (never skips) when Docker cannot be started
  await ensureProxyImage(); // the stack runs the real proxy image
  const run = `bgsw${Date.now().toString(36)}`;
  const stack = run;
  const network = `${run}-net`;
  const service = `${run}-app`;
  const host = `${run}.e2e.test`;

  const cleanup = cleanups(t);

  // A swarm: reuse the engine's when it is a manager; init one (and leave it at the end) when it is in none.
  const swarm = JSON.parse(await docker(['info', '--format', '{{json .Swarm}}'])) as { LocalNodeState: string; ControlAvailable: boolean };
  let inited = false;
  const gwbridgeBefore = (await docker(['network', 'ls', '-q', '--filter', 'name=^docker_gwbridge$'])).trim() !== '';
  if (swarm.LocalNodeState === 'inactive') {
    inited = await docker(['swarm', 'init', '--advertise-addr', '127.0.0.1']).then(
      () => true,
      (err: Error) => {
        if (/already part of a swarm/i.test(err.message)) return false; // another run just made one: keep it
        throw err;
      },
    );
  } else {
    assert.ok(swarm.LocalNodeState === 'active' && swarm.ControlAvailable, `the engine is in a swarm but not a manager (${JSON.stringify(swarm)}); stacks need a manager`);
  }
  if (inited) {
    cleanup(async () => {
      // Left as found: no swarm. Unless services other than ours appeared meanwhile (another run shares the engine).
      const others = (await docker(['service', 'ls', '--format', '{{.Name}}'])).split('\n').filter(Boolean);
      if (others.length > 0) console.error(`not leaving the swarm this test created: it runs other services now (${others.join(', ')})`);
      else {
        await docker(['swarm', 'leave', '--force'], { timeoutMs: 60_000 });
        // swarm init made it; leaving does not remove it.
        if (!gwbridgeBefore) await docker(['network', 'rm', 'docker_gwbridge']).catch((err: Error) => console.error(`docker_gwbridge: ${err.message}`));
      }
    });
  }
  cleanup(async () => {
    await waitFor(async () => (await docker(['network', 'rm', network]).then(() => true, (e: Error) => /No such network|not found/i.test(e.message))), 30_000, {
      what: `network ${network} removed`,
      intervalMs: 500,
    });
  });
  await docker(['network', 'create', '--driver', 'overlay', '--attachable', network]);
  cleanup(async () => {
    await docker(['stack', 'rm', stack]);
    // The stack's containers leave asynchronously; its network can go once they have.
    await waitFor(async () => (await docker(['ps', '-aq', '--filter', `label=com.docker.stack.namespace=${stack}`])).trim() === '', 60_000, {
      what: `the containers of stack ${stack} to be gone`,
      intervalMs: 250,
    });
  });

  const port = await refusedPort();
  const deploy = async (version: number, order: 'start-first' | 'stop-first', parallelism: number) => {
    const env = {
      ...process.env,
      APP_IMAGE: TESTAPP_IMAGE,
      DOCKER_GID: String(statSync('/var/run/docker.sock').gid),
      PROXY_PORT: String(port),
      NETWORK: network,
      BG_SERVICE: service,
      BG_HOST: host,
      VERSION: String(version),
      UPDATE_ORDER: order,
      UPDATE_PARALLELISM: String(parallelism),
    };
    await docker(['stack', 'deploy', '--resolve-image', 'never', '-c', FILE, stack], { env, timeoutMs: 60_000 });
  };
  /** Resolves when the app service's rolling update that began after `since` has completed. */
  const updated = (since: number) =>
    waitFor(
      async () => {
        const raw = await docker(['service', 'inspect', '--format', '{{json .UpdateStatus}}', `${stack}_app`]);
        const st = JSON.parse(raw) as { State?: string; StartedAt?: string; Message?: string } | null;
        if (!st?.StartedAt || Date.parse(st.StartedAt) < since - 2000) return false;
        if (st.State === 'paused' || st.State?.startsWith('rollback')) throw new Error(`update ${st.State}: ${st.Message ?? ''}`);
        return st.State === 'completed';
      },
      120_000,
      { what: `the rolling update of ${stack}_app`, intervalMs: 250 },
    );

  // v1: the stack comes up; the proxy finds itself on the overlay network and the two tasks on it.
  await deploy(1, 'start-first', 1);
  const proxyId = await waitFor(async () => (await taskContainers(`${stack}_proxy`))[0], 60_000, { what: 'the proxy task container' });
  const log = new ContainerLog(proxyId, stack);
  cleanup(() => log.stop());
  const self = await log.waitFor((l) => l.msg === 'the proxy runs in a container', 30_000, 'self-detection');
  assert.deepEqual(self['networks'], [network]);
  await log.waitFor((l) => l.msg === 'synced with Docker', 30_000, 'first sync');
  assert.ok(log.lines.some((l) => String(l.msg).startsWith('the engine is a swarm manager')), 'the proxy saw a swarm manager');
  const v1 = await waitFor(async () => {
    const ids = await taskContainers(`${stack}_app`);
    return ids.length === REPLICAS ? ids : undefined;
  }, 60_000, { what: `${REPLICAS} app tasks` });
  for (const id of v1) {
    // Ready at registration when already healthy at the first sync, else on its health_status event.
    const ready = (l: LogLine) =>
      (l.msg === 'upstream added' && l['id'] === id && l['state'] === 'ready') ||
      (l.msg === 'container readiness changed' && l['id'] === id.slice(0, 12) && l['to'] === 'ready');
    await log.waitFor(ready, 30_000, `task ${id.slice(0, 12)} ready`);
  }
  // On a manager the tasks are followed through the tasks API (task containers are left to it).
  const registered = log.lines.filter((l) => l.msg === 'task registered' && v1.some((id) => id.startsWith(String(l['id']))));
  assert.equal(registered.length, REPLICAS, 'every task registered by the task source');
  for (const r of registered) {
    assert.equal(r['graceMs'], 12_000, 'drain bound from the task’s stop_grace_period');
    assert.deepEqual(r['serviceLabels'], ['bluegreen.hosts'], 'bluegreen.hosts from deploy.labels');
    assert.match(String(r['address']), /^10\.|^172\.|^192\.168\./);
  }
  const url = `http://127.0.0.1:${port}`;
  const probe = new Load({ url, host, clients: 1 });
  await waitFor(async () => (await probe.one('/')).status === 200, 30_000, { what: 'a 200 through the proxy on the published port' });
  await probe.stop();

  /** Rolls to `version` under `load`; resolves with the new task containers once the update completed. */
  const roll = async (load: Load, version: number, order: 'start-first' | 'stop-first', parallelism: number) => {
    const before = await taskContainers(`${stack}_app`);
    const at = Date.now();
    await deploy(version, order, parallelism);
    await updated(at);
    await load.waitForResponder(`v${version}`, 40, 60_000);
    const after = await waitFor(async () => {
      const ids = await taskContainers(`${stack}_app`);
      return ids.length === REPLICAS && ids.every((id) => !before.includes(id)) ? ids : undefined;
    }, 30_000, { what: `only v${version} tasks running` });
    for (const id of before) {
      await log.waitFor((l) => l.msg === 'upstream removed' && l['id'] === id, 30_000, `old task ${id.slice(0, 12)} removed`);
    }
    return { before, after, at };
  };

  // start-first, twice: the new task is started and healthy before the old one is stopped.
  const load1 = new Load({ url, host, clients: CLIENTS }).start();
  cleanup(() => load1.stop());
  await sleep(1000);
  await roll(load1, 2, 'start-first', 1);
  await sleep(500);
  await roll(load1, 3, 'start-first', 1);
  await sleep(500);
  const s1 = await load1.stop();
  report(t, caseLine('5 (start-first)', s1, byVersion(s1)));
  assert.equal(s1.failed, 0, load1.failures());
  assert.ok((s1.byName['v2'] ?? 0) > 20 && (s1.byName['v3'] ?? 0) > 20);

  // stop-first with parallelism 0: every old task stops before the new ones start: a gap.
  const load2 = new Load({ url, host, clients: CLIENTS }).start();
  cleanup(() => load2.stop());
  await sleep(1000);
  const { before: old, after: fresh } = await roll(load2, 4, 'stop-first', 0);
  await sleep(500);
  const s2 = await load2.stop();
  const drainedAt = old.map((id) => log.lines.find((l) => l.msg === 'upstream draining' && l['id'] === id)).map((l) => (l ? logTime(l) : NaN));
  // A task is registered ready once swarm reports it running (= healthy: it has a healthcheck).
  const readyAt = fresh.map((id) => log.lines.find((l) => l.msg === 'upstream added' && l['id'] === id && l['state'] === 'ready'));
  assert.ok(drainedAt.every(Number.isFinite), 'every old task was drained (at DesiredState shutdown)');
  assert.ok(readyAt.every(Boolean), 'every new task became ready');
  const gapStart = Math.max(...drainedAt);
  const gapEnd = Math.min(...readyAt.map((l) => logTime(l!)));
  const gapMs = gapEnd - gapStart;
  // No request can be answered in the gap, so each client's request outstanding when it ended was
  // held (some were sent just before it began, found the old task closing, and were retried).
  const held = load2.samples.filter((x) => x.start < gapEnd && x.end >= gapEnd && x.start > gapStart - 1000);
  const sentInGap = load2.samples.filter((x) => x.start > gapStart && x.start < gapEnd);
  report(t, caseLine('5 (stop-first)', s2, `gapMs=${gapMs} held=${held.length} sentInGap=${sentInGap.length} ${byVersion(s2)}`));
  assert.equal(s2.failed, 0, load2.failures());
  assert.ok(gapMs >= 500, `a gap: the first v4 task was ready ${gapMs} ms after the last v3 task was drained`);
  assert.equal(held.length, CLIENTS, `every client had a request held through the gap (${held.length})`);
  assert.ok(sentInGap.length >= 1, 'requests sent in the gap were held');
  for (const x of [...held, ...sentInGap]) assert.equal(x.name, 'v4', `a request held in the gap was answered by v4, not ${x.name || x.failure}`);
  assert.ok(s2.maxLatencyMs >= gapMs - 500, `held through the gap (max ${s2.maxLatencyMs} ms, gap ${gapMs} ms)`);
  assert.ok(
    log.lines.some((l) => l.msg === 'service has no upstream left; requests are held while it is retained' && l['service'] === service),
    'the service was retained through the gap',
  );
  assert.deepEqual(await taskContainers(`${stack}_proxy`), [proxyId], 'the proxy ran throughout');
});

function byVersion(s: LoadSummary): string {
  return Object.entries(s.byName)
    .sort()
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
}
