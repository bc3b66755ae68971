import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { statSync } from 'node:fs';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { compose, docker, ensureProxyImage, removeContainers, repoRoot, runTestApp } from './support/docker.ts';
import { caseLine, Load, mergeSummaries, type LoadSummary } from './support/load.ts';
import { NewConnectionLoad } from './support/new-connection-load.ts';
import { proxyColors } from './support/proxy-colors.ts';

// Upgrading the proxy itself: a new bluegreen process on the same address (SO_REUSEPORT) becomes
// ready, then the old one drains and exits, under mixed load (keep-alive clients and a new
// connection per request; GET and 8 KiB POST). Each case runs in a fresh network namespace
// (unshare -n) so that net.ipv4.tcp_migrate_req can be set there without touching the host's.

interface NetnsResult {
  migrate: string;
  upgrades: number;
  keepAlive: LoadSummary;
  newConnections: LoadSummary;
  steps: { readyMs: number; oldExitMs: number; overlapMs: number; oldExit: number | null }[];
  failures: string[];
}

function runInNetns(migrate: 0 | 1, upgrades: number): Promise<NetnsResult> {
  const runner = join(repoRoot, 'test', 'e2e', 'support', 'upgrade-netns.ts');
  const child = spawn('unshare', ['-n', '--', process.execPath, runner, '--migrate', String(migrate), '--upgrades', String(upgrades), '--bin', join(repoRoot, 'bin', 'bluegreen.js')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (c) => (out += c));
  child.stderr.on('data', (c) => (err += c));
  return new Promise((resolve, reject) => {
    child.on('exit', (code) => {
      const line = out.trim().split('\n').pop() ?? '';
      if (code !== 0 || !line.startsWith('{')) return reject(new Error(`netns runner exited ${code}:\n${out}\n${err}`));
      resolve(JSON.parse(line) as NetnsResult);
    });
  });
}

function report(label: string, r: NetnsResult): LoadSummary {
  const total = mergeSummaries(r.keepAlive, r.newConnections);
  const overlaps = r.steps.map((s) => s.overlapMs);
  console.log(
    caseLine(
      label,
      total,
      `upgrades=${r.upgrades} keepAlive=${r.keepAlive.sent}/${r.keepAlive.failed} newConnections=${r.newConnections.sent}/${r.newConnections.failed} ` +
        `newReadyMs=${r.steps.map((s) => s.readyMs).join(',')} overlapMs=${overlaps.join(',')} (new ready → old exited)`,
    ),
  );
  for (const f of r.failures) console.log(`  ${f}`);
  return total;
}

test('upgrade: two bluegreen serve processes on one address, tcp_migrate_req=1: no failed request', async () => {
  const hostValue = readFileSync('/proc/sys/net/ipv4/tcp_migrate_req', 'utf8');
  const r = await runInNetns(1, 4);
  assert.equal(readFileSync('/proc/sys/net/ipv4/tcp_migrate_req', 'utf8'), hostValue, "the host's value is untouched");
  assert.equal(r.migrate, '1');
  const total = report('upgrade, processes, tcp_migrate_req=1', r);
  assert.equal(r.steps.length, 4);
  for (const s of r.steps) assert.equal(s.oldExit, 0, 'the old process drains and exits 0');
  assert.ok(r.keepAlive.sent > 100 && r.newConnections.sent > 100, 'both kinds of clients sent requests throughout');
  assert.equal(total.failed, 0, r.failures.join('\n'));
});

test('upgrade: the same with tcp_migrate_req=0 (figure printed: connections queued on the closing listener are reset)', async () => {
  const r = await runInNetns(0, 4);
  assert.equal(r.migrate, '0');
  const total = report('upgrade, processes, tcp_migrate_req=0', r);
  for (const s of r.steps) assert.equal(s.oldExit, 0);
  // Only new connections can be hit (the kernel resets what is still in the old listener's accept queue).
  assert.equal(r.keepAlive.failed, 0, r.failures.join('\n'));
  assert.equal(total.failed, r.newConnections.failed);
});

/** A TCP port free on the host right now. */
async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/**
 * Holds the host engine's swarm lock shared until the test ends: `docker swarm leave` on Docker 20.10
 * releases the published ports of containers on networks created while the engine was in swarm
 * mode (seen here: another session's swarm test left the swarm and this test's port went away),
 * so nothing that holds the lock may init or leave a swarm while this case runs.
 */
async function holdSwarmLockShared(t: TestContext): Promise<void> {
  const lock = spawn('flock', ['-s', '/tmp/bluegreen-host-swarm.lock', '-c', 'echo locked; exec cat'], { stdio: ['pipe', 'pipe', 'inherit'] });
  t.after(() => {
    lock.stdin.end();
  });
  await new Promise<void>((resolve, reject) => {
    lock.stdout.once('data', () => resolve());
    lock.once('exit', (code) => reject(new Error(`flock exited ${code}`)));
  });
}

test('upgrade: the compose recipe (compose/upgrade.yml): blue → green → blue with new images under load, no failed request', { timeout: 600_000 }, async (t) => {
  await ensureProxyImage(); // bluegreen/bluegreen:local from this working tree
  await holdSwarmLockShared(t);
  const project = `bgu-${Date.now().toString(36)}`;
  const file = join(repoRoot, 'compose', 'upgrade.yml');
  const host = `${project}.upgrade.test`;
  const [v1, v2, v3] = [1, 2, 3].map((n) => `bgu-bluegreen:${project}-${n}`) as [string, string, string];
  for (const tag of [v1, v2, v3]) await docker(['tag', 'bluegreen/bluegreen:local', tag]);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DOCKER_GID: String(statSync('/var/run/docker.sock').gid),
    BLUEGREEN_PORT: String(await freePort()),
    BLUEGREEN_BLUE_IMAGE: v1,
    BLUEGREEN_GREEN_IMAGE: v1,
  };
  const dc = (args: string[], timeoutMs = 120_000) => compose(['-f', file, '-p', project, ...args], { env, timeoutMs });
  let keepAlive: Load | undefined;
  let fresh: NewConnectionLoad | undefined;
  t.after(async () => {
    await keepAlive?.stop();
    await fresh?.stop();
    await removeContainers(`${project}-app`).catch(() => {});
    await dc(['--profile', 'green', 'down', '-v', '--remove-orphans', '-t', '1'], 90_000).catch(() => {});
    await docker(['rmi', v1, v2, v3]).catch(() => {});
  });

  const colors = proxyColors(dc, env);

  await dc(['up', '-d', 'netns', 'proxy-blue']);
  await runTestApp({
    name: `${project}-app-1`,
    network: `${project}_app`,
    env: { NAME: 'app-1', LINGER_MS: 500 },
    labels: { 'bluegreen.service': project, 'bluegreen.hosts': host },
    healthcheckIntervalMs: 500,
  });
  await colors.healthy('proxy-blue', 60_000);
  const url = `http://127.0.0.1:${env.BLUEGREEN_PORT}`;
  keepAlive = new Load({ url, host, clients: 4 }).start();
  await keepAlive.waitForResponder('app-1', 10, 60_000);
  fresh = new NewConnectionLoad({ url, host, clients: 3 });
  await sleep(1500);

  // The README's recipe, twice: the idle color gets the new image, starts beside the running one,
  // becomes healthy; then the old one is stopped (it drains and exits 0) and removed.
  const steps = await colors.upgrade([['blue', 'green', v2], ['green', 'blue', v3]], {
    describe: async () => `netns ports ${(await docker(['port', await colors.containerOf('netns')])).trim().split('\n')[0]}`,
  });
  const ka = await keepAlive.stop();
  const nc = await fresh.stop();
  const total = mergeSummaries(ka, nc);
  console.log(caseLine('upgrade, compose recipe (tcp_migrate_req=1 in netns)', total, `keepAlive=${ka.sent}/${ka.failed} newConnections=${nc.sent}/${nc.failed}`));
  for (const s of steps) console.log(`  ${s.line}`);
  assert.ok(ka.sent > 100 && nc.sent > 100, 'both kinds of clients sent requests throughout');
  assert.equal(total.failed, 0, keepAlive.failures() + '\n' + fresh.samples.filter((s) => s.failure).slice(0, 10).map((s) => `${s.method} ${s.failure} ${s.detail ?? ''}`).join('\n'));
});
