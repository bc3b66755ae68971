// Several instances, no coordination but Docker: a swarm of 2 managers and 1 worker
// (test/e2e/multinode/swarm-nodes.sh, BGM_MANAGERS=2), compose/swarm-multinode.yml deployed as it is,
// so its proxy service (mode global, managers only) runs one bluegreen on each manager, each
// following its own manager's API. Both take load through a start-first rolling update: both route
// every request without a failure, and both end up routing to the same tasks. Each one's admin
// status says which engine and node it follows and when it last synced.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { waitFor } from '../support/docker.ts';
import { caseLine, Load } from '../support/load.ts';
import { WsLoad, wsLine } from '../support/ws-load.ts';
import { deployStack, dk, NodeContainerLog, nodeAddr, PROXY_PORT, serviceContainer, swarmUp, tasksOf, updated, type StackEnv } from './harness.ts';

const CLIENTS = 4;
const REPLICAS = 3;

function report(t: TestContext, line: string): void {
  console.log(line);
  t.diagnostic(line);
}

interface Status {
  services: { name: string; upstreams: { id: string; state: string }[] }[];
  discovery: {
    status: {
      endpoint: string;
      lastSyncAt?: number;
      engine?: { id: string; name: string; nodeId: string; role: string };
      swarmTasks?: { services: number; lastSyncAt?: number };
    };
  };
}

/** The instance's admin status, asked inside its container with the CLI (the admin API listens on its loopback). */
async function status(k: number, container: string): Promise<{ json: Status; text: string }> {
  const json = JSON.parse(await dk(k, ['exec', container, 'node', '/app/bin/bluegreen.js', 'status', '--json'])) as Status;
  const text = await dk(k, ['exec', container, 'node', '/app/bin/bluegreen.js', 'status']);
  return { json, text };
}

test('two bluegreen instances, one per manager, no coordination but Docker: both route every request through a rolling update and converge', { timeout: 600_000 }, async (t) => {
  const { cleanup } = await swarmUp(t, 3, 2);
  const run = `bgm${Date.now().toString(36)}`;
  const env: StackEnv = { stack: run, network: `${run}-net`, host: `${run}.e2e.test`, service: `${run}-app`, version: 1, order: 'start-first' };
  const app = `${run}_app`;
  await dk(1, ['network', 'create', '--driver', 'overlay', '--attachable', env.network]);
  await deployStack(env);
  cleanup(() => dk(1, ['stack', 'rm', run]));

  const proxies = await Promise.all([1, 2].map((k) => serviceContainer(k, `${run}_proxy`)));
  const logs = proxies.map((id, i) => new NodeContainerLog(i + 1, id, `${run}-proxy-n${i + 1}`));
  cleanup(() => logs.forEach((l) => l.stop()));
  await Promise.all(logs.map((l) => l.waitFor((x) => x.msg === 'synced with Docker', 60_000, 'first sync')));
  await waitFor(async () => (await tasksOf(app)).filter((x) => x.desired === 'running' && x.state === 'running').length === REPLICAS, 90_000, {
    what: `${REPLICAS} running tasks`,
  });
  const loads = [1, 2].map((k) => ({ k, url: `http://${nodeAddr(k)}:${PROXY_PORT}`, ws: `ws://${nodeAddr(k)}:${PROXY_PORT}/ws` }));
  for (const l of loads) {
    const probe = new Load({ url: l.url, host: env.host, clients: 1 });
    await waitFor(async () => (await probe.one('/')).status === 200, 60_000, { what: `a 200 through the proxy on node ${l.k}` });
    await probe.stop();
  }

  const running = loads.map((l) => ({
    k: l.k,
    http: new Load({ url: l.url, host: env.host, clients: CLIENTS }).start(),
    ws: new WsLoad({ url: l.ws, host: env.host, clients: 2 }).start(),
  }));
  cleanup(() => Promise.all(running.flatMap((r) => [r.http.stop(), r.ws.stop()])));
  await sleep(1000);
  const before = (await tasksOf(app)).filter((x) => x.desired === 'running');
  const at = Date.now();
  await deployStack({ ...env, version: 2 });
  await updated(app, at);
  for (const r of running) await r.http.waitForResponder('v2', 40, 60_000);
  for (const log of logs) {
    for (const old of before) await log.waitFor((l) => l.msg === 'upstream removed' && l['id'] === old.containerId, 60_000, `old task ${old.id} removed`);
  }
  await sleep(500);
  for (const r of running) {
    const [s, w] = await Promise.all([r.http.stop(), r.ws.stop()]);
    report(t, `${caseLine(`two instances, proxy on manager ${r.k} (start-first v2)`, s, `v1=${s.byName['v1'] ?? 0} v2=${s.byName['v2'] ?? 0}`)} | ${wsLine(w)}`);
    assert.equal(s.failed, 0, r.http.failures());
    assert.equal(w.failed, 0, JSON.stringify(r.ws.failures.slice(0, 5)));
    assert.ok((s.byName['v2'] ?? 0) > 20);
  }

  // Same routing decisions, reached independently; each says which engine and node it follows.
  const nodeIds = new Set<string>();
  for (const [i, container] of proxies.entries()) {
    const k = i + 1;
    let fresh: string[] = [];
    const st = await waitFor(async () => {
      fresh = (await tasksOf(app)).filter((x) => x.desired === 'running' && x.state === 'running').map((x) => x.containerId).sort();
      const s = await status(k, container);
      const ups = s.json.services.find((x) => x.name === env.service)?.upstreams ?? [];
      const ids = ups.map((u) => u.id).sort();
      return fresh.length === REPLICAS && ups.every((u) => u.state === 'ready') && ids.join() === fresh.join() ? s : undefined;
    }, 30_000, { what: `instance on node ${k}: routing to exactly the running tasks` });
    const ids = st.json.services.find((x) => x.name === env.service)!.upstreams.map((u) => u.id).sort();
    assert.deepEqual(ids, fresh, `instance on node ${k} routes to exactly the running tasks`);
    const d = st.json.discovery.status;
    assert.equal(d.engine?.name, `bgm-n${k}`, 'the engine it follows');
    assert.equal(d.engine?.role, 'manager');
    assert.ok(d.engine?.nodeId, 'the swarm node it follows');
    nodeIds.add(d.engine!.nodeId);
    assert.equal(d.swarmTasks?.services, 1);
    const ago = Date.now() - (d.swarmTasks?.lastSyncAt ?? 0);
    assert.ok(ago < 15_000, `tasks listed recently (${ago} ms ago)`);
    const line = st.text.split('\n').find((l) => l.startsWith('discovery:'));
    assert.ok(line && line.includes(`engine bgm-n${k}`) && line.includes('swarm manager'), `bluegreen status names the engine: ${line}`);
    report(t, `two instances: node ${k}: ${line} (lastSyncAt ${ago} ms ago)`);
  }
  assert.equal(nodeIds.size, 2, 'two instances, two different managers');
});
