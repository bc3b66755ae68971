// Upgrading the proxy itself on a Swarm manager (compose/upgrade-swarm.yml, README "Upgrading
// bluegreen", Swarm), on the host engine's single-node swarm: an app stack of 3 replicas on an
// attachable overlay network; the proxy as standalone containers on that manager: `netns` (owns the
// published port, tcp_migrate_req=1, joins the overlay network) and the blue/green colors in its
// network namespace, following the tasks through the manager's tasks API and routing to the tasks'
// overlay addresses. Under mixed load (keep-alive and new-connection clients, GET and 8 KiB POST) the
// proxy is upgraded blue → green → blue with new image tags, exactly as the README shows: zero failed
// requests.
//
// Everything runs under an exclusive `flock /tmp/bluegreen-host-swarm.lock`: the swarm is initialised
// when the engine is in none (and left at the end only then), the test's overlay network is created
// after the init and removed before the leave (a leave releases the published ports of containers on
// networks made in swarm mode).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { cleanups } from './support/cleanups.ts';
import { refusedPort } from '../support/servers.ts';
import { compose, docker, ensureDockerAndImages, ensureProxyImage, repoRoot, TESTAPP_IMAGE, waitFor } from './support/docker.ts';
import { caseLine, Load, mergeSummaries } from './support/load.ts';
import { NewConnectionLoad } from './support/new-connection-load.ts';
import { proxyColors } from './support/proxy-colors.ts';

const FILE = join(repoRoot, 'compose', 'upgrade-swarm.yml');
const APP_STACK = join(repoRoot, 'test', 'e2e', 'stacks', 'upgrade-swarm-app.yml');
const REPLICAS = 3;
const LOCK = '/tmp/bluegreen-host-swarm.lock';


/** Takes the host swarm lock (exclusive); resolves with its release. */
async function takeSwarmLock(): Promise<() => void> {
  const lock = spawn('flock', [LOCK, '-c', 'echo locked; exec cat'], { stdio: ['pipe', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    lock.stdout.once('data', () => resolve());
    lock.once('exit', (code) => reject(new Error(`flock ${LOCK} exited ${code}`)));
  });
  return () => lock.stdin.end();
}

test('upgrade on swarm (compose/upgrade-swarm.yml): blue → green → blue beside a 3-replica stack under load, no failed request', { timeout: 600_000 }, async (t) => {
  await ensureDockerAndImages();
  await ensureProxyImage(); // bluegreen/bluegreen:local from this working tree
  const cleanup = cleanups(t);
  const lockAskedAt = Date.now();
  cleanup(await takeSwarmLock()); // released last
  const lockWaitMs = Date.now() - lockAskedAt;

  const run = `bgv-${Date.now().toString(36)}`;
  const network = `${run}-net`;
  const service = `${run}-web`;
  const host = `${run}.upgrade-swarm.test`;

  // A swarm: reuse the engine's when it is a manager; init one (and leave it at the end) when it is in none.
  const swarm = JSON.parse(await docker(['info', '--format', '{{json .Swarm}}'])) as { LocalNodeState: string; ControlAvailable: boolean };
  const gwbridgeBefore = (await docker(['network', 'ls', '-q', '--filter', 'name=^docker_gwbridge$'])).trim() !== '';
  let inited = false;
  if (swarm.LocalNodeState === 'inactive') {
    await docker(['swarm', 'init', '--advertise-addr', '127.0.0.1']);
    inited = true;
    cleanup(async () => {
      const others = (await docker(['service', 'ls', '--format', '{{.Name}}'])).split('\n').filter(Boolean);
      if (others.length > 0) return console.error(`not leaving the swarm this test created: it runs other services now (${others.join(', ')})`);
      await docker(['swarm', 'leave', '--force'], { timeoutMs: 60_000 });
      if (!gwbridgeBefore) await docker(['network', 'rm', 'docker_gwbridge']).catch((err: Error) => console.error(`docker_gwbridge: ${err.message}`));
    });
  } else {
    assert.ok(swarm.LocalNodeState === 'active' && swarm.ControlAvailable, `the engine is in a swarm but not a manager (${JSON.stringify(swarm)})`);
  }

  // The overlay network, made after the init, removed before the leave (once nothing uses it).
  cleanup(() =>
    waitFor(async () => docker(['network', 'rm', network]).then(() => true, (e: Error) => /No such network|not found/i.test(e.message)), 30_000, {
      what: `network ${network} removed`,
      intervalMs: 500,
    }),
  );
  await docker(['network', 'create', '--driver', 'overlay', '--attachable', network]);

  // Image tags, so that each upgrade really changes the image.
  const [v1, v2, v3] = [1, 2, 3].map((n) => `bgv-bluegreen:${run}-${n}`) as [string, string, string];
  for (const tag of [v1, v2, v3]) await docker(['tag', 'bluegreen/bluegreen:local', tag]);
  cleanup(() => docker(['rmi', v1, v2, v3]));

  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DOCKER_GID: String(statSync('/var/run/docker.sock').gid),
    BLUEGREEN_PORT: String(await refusedPort()),
    BLUEGREEN_BLUE_IMAGE: v1,
    BLUEGREEN_GREEN_IMAGE: v1,
    NETWORK: network,
    APP_IMAGE: TESTAPP_IMAGE,
    BG_SERVICE: service,
    BG_HOST: host,
  };
  const dc = (args: string[], timeoutMs = 120_000) => compose(['-f', FILE, '-p', run, ...args], { env, timeoutMs });

  // The app stack: 3 replicas on the overlay network.
  cleanup(async () => {
    await docker(['stack', 'rm', run]);
    await waitFor(async () => (await docker(['ps', '-aq', '--filter', `label=com.docker.stack.namespace=${run}`])).trim() === '', 60_000, {
      what: `the containers of stack ${run} to be gone`,
      intervalMs: 250,
    });
  });
  await docker(['stack', 'deploy', '--resolve-image', 'never', '-c', APP_STACK, run], { env, timeoutMs: 60_000 });

  // The proxy: netns + blue, as the README shows it.
  cleanup(() => dc(['--profile', 'green', 'down', '--remove-orphans', '-t', '1'], 90_000));
  const t0 = Date.now();
  await dc(['up', '-d', 'netns', 'proxy-blue']);
  const colors = proxyColors(dc, env);
  const blue = await colors.healthy('proxy-blue');
  // Logs kept in $TMPDIR/bluegreen-e2e/<run>-*.log: each proxy container's, and the app's tasks.
  const logDir = join(tmpdir(), 'bluegreen-e2e');
  mkdirSync(logDir, { recursive: true });
  const keepLog = async (container: string, name: string) => {
    const out = await docker(['logs', container], { timeoutMs: 30_000 }).catch((e: Error) => e.message);
    writeFileSync(join(logDir, `${run}-${name}.log`), out);
  };
  cleanup(async () => {
    for (const svc of ['proxy-blue', 'proxy-green']) {
      const id = await colors.containerOf(svc).catch(() => '');
      if (id) await keepLog(id, `${svc}-last`);
    }
    writeFileSync(join(logDir, `${run}-tasks.log`), await docker(['service', 'ps', '--no-trunc', `${run}_app`]).catch((e: Error) => e.message));
  });

  // It follows the tasks through the manager's tasks API and routes to their overlay addresses.
  const tasks = await waitFor(
    async () => {
      const out = await docker(['ps', '-q', '--no-trunc', '--filter', `label=com.docker.swarm.service.name=${run}_app`]);
      const ids = out.split('\n').filter(Boolean);
      return ids.length === REPLICAS ? ids : undefined;
    },
    90_000,
    { what: `${REPLICAS} app tasks running` },
  );
  const overlay = new Map<string, string>();
  for (const id of tasks) {
    overlay.set(id.slice(0, 12), (await docker(['inspect', '-f', `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`, id])).trim());
  }
  const registered = await waitFor(
    async () => {
      const lines = (await docker(['logs', blue], { timeoutMs: 30_000 }).catch(() => '')).split('\n');
      const regs = lines.filter((l) => l.includes('"task registered"')).map((l) => JSON.parse(l) as { id: string; address: string; network: string });
      return regs.length >= REPLICAS ? regs : undefined;
    },
    60_000,
    { what: 'the tasks registered by proxy-blue (its log)', intervalMs: 500 },
  );
  for (const r of registered) {
    assert.equal(r.network, network, `task ${r.id} reached over the overlay network netns joined`);
    assert.equal(r.address, `${overlay.get(r.id)}:8080`, `task ${r.id} routed at its overlay address`);
  }

  const url = `http://127.0.0.1:${env.BLUEGREEN_PORT}`;
  const probe = new Load({ url, host, clients: 1 });
  await waitFor(async () => (await probe.one('/')).status === 200, 60_000, { what: 'a 200 through the published port' });
  await probe.stop();
  const upMs = Date.now() - t0;

  const keepAlive = new Load({ url, host, clients: 4 }).start();
  cleanup(() => keepAlive.stop());
  const fresh = new NewConnectionLoad({ url, host, clients: 3 });
  cleanup(() => fresh.stop());
  await sleep(1500);

  // The README's recipe, twice: the idle color gets the new image, starts beside the running one,
  // becomes healthy; then the old one is stopped (it drains and exits 0) and removed.
  const steps = await colors.upgrade([['blue', 'green', v2], ['green', 'blue', v3]], {
    beforeRemove: (old, from, image) => keepLog(old, `proxy-${from}-${image.split('-').pop()}`),
  });
  const ka = await keepAlive.stop();
  const nc = await fresh.stop();
  const total = mergeSummaries(ka, nc);
  // The app's own tasks are not under test: say so when Swarm replaced one meanwhile (e.g. a health
  // check that timed out on a busy machine), so that a failure is not blamed on the upgrade.
  const taskHistory = await docker(['service', 'ps', '--no-trunc', '--format', '{{.Name}} {{.CurrentState}} {{.Error}}', `${run}_app`]);
  const replaced = taskHistory.split('\n').filter(Boolean).length - REPLICAS;
  console.log(
    caseLine(
      'upgrade, swarm recipe (tcp_migrate_req=1 in netns)',
      total,
      `keepAlive=${ka.sent}/${ka.failed} newConnections=${nc.sent}/${nc.failed} tasks=${Object.entries(ka.byName).sort().map(([k, v]) => `${k}:${v}`).join(',')} ` +
        `tasksReplaced=${replaced} upMs=${upMs} lockWaitMs=${lockWaitMs} swarm=${inited ? 'inited by the test' : 'existing'}`,
    ),
  );
  for (const s of steps) console.log(`  ${s.line}`);
  if (replaced > 0) console.log(`  the app's tasks were replaced during the test:\n${taskHistory}`);
  assert.ok(ka.sent > 100 && nc.sent > 100, 'both kinds of clients sent requests throughout');
  assert.equal(
    total.failed,
    0,
    (replaced > 0 ? `(Swarm replaced ${replaced} app task(s) meanwhile: ${taskHistory})\n` : '') +
      keepAlive.failures() + '\n' + fresh.samples.filter((s) => s.failure).slice(0, 10).map((s) => `${s.method} ${s.failure} ${s.detail ?? ''}`).join('\n'),
  );
  // Every task answered, and after each old color exited the new one kept answering on its own.
  for (let slot = 1; slot <= REPLICAS; slot++) assert.ok((ka.byName[`app-${slot}`] ?? 0) > 0, `task slot ${slot} answered`);
  for (const { oldExitedAt: at } of steps) {
    const after = [...keepAlive.samples, ...fresh.samples].filter((s) => s.start > at && !s.failure).length;
    assert.ok(after > 20, `requests answered after the old color exited (${after})`);
  }
});
