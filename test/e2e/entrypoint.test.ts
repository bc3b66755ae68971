// bin/bluegreen-entrypoint end to end: an app that exits at once on SIGTERM (like php-fpm's default),
// run behind the wrapper, is stopped mid-traffic under GET and 8 KiB POST load: zero failures,
// because the wrapper holds SIGTERM back while the proxy, which saw the kill event, drains it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { docker, ensureDockerAndImages, removeContainers, removeNetworks, repoRoot, runTestApp, TESTAPP_IMAGE } from './support/docker.ts';
import { caseLine, Load } from './support/load.ts';
import { ProxyProcess } from './support/proxy-process.ts';

const IMAGE = 'bluegreen/testapp-entrypoint:local';

test('an app that exits at once on SIGTERM, behind bluegreen-entrypoint, stopped mid-traffic: zero failures', { timeout: 180_000 }, async (t) => {
  await ensureDockerAndImages();
  const ctx = await mkdtemp(join(tmpdir(), 'bg-entrypoint-'));
  t.after(() => rm(ctx, { recursive: true, force: true }));
  await cp(join(repoRoot, 'bin', 'bluegreen-entrypoint'), join(ctx, 'bluegreen-entrypoint'));
  await writeFile(
    join(ctx, 'Dockerfile'),
    `FROM ${TESTAPP_IMAGE}\nCOPY bluegreen-entrypoint /usr/local/bin/bluegreen-entrypoint\nENTRYPOINT ["sh", "/usr/local/bin/bluegreen-entrypoint"]\nCMD ["node", "/app/server.js"]\n`,
  );
  await docker(['build', '-q', '-t', IMAGE, ctx], { env: { ...process.env, DOCKER_BUILDKIT: '0' } });

  const prefix = `bgentry-${Date.now().toString(36)}`;
  t.after(async () => {
    await removeContainers(prefix).catch(() => []);
    await removeNetworks(prefix).catch(() => []);
  });
  const network = `${prefix}-net`;
  await docker(['network', 'create', network]);
  const proxy = await ProxyProcess.start({ name: prefix });
  t.after(() => proxy.stop());
  await proxy.waitForLog((l) => l.msg === 'synced with Docker', 15_000, 'first sync with Docker');
  const labels = { 'bluegreen.service': prefix, 'bluegreen.hosts': `${prefix}.e2e.test` };
  const env = { ON_SIGTERM: 'exit', LATENCY_MS: 200, BLUEGREEN_TERM_DELAY: 2 };
  for (const n of ['a', 'b']) {
    await runTestApp({ name: `${prefix}-${n}`, network, labels, env: { NAME: n, ...env }, image: IMAGE });
    await proxy.waitForLog((l) => l.msg === 'container readiness changed' && l['container'] === `${prefix}-${n}` && l['to'] === 'ready', 20_000, `${n} ready`);
  }
  const load = new Load({ url: proxy.url, host: `${prefix}.e2e.test`, clients: 8 }).start();
  t.after(() => load.stop());
  await sleep(1500);
  const t0 = Date.now();
  await docker(['stop', '-t', '10', `${prefix}-a`]); // returns once the app exited: ~2 s with the wrapper
  const stopMs = Date.now() - t0;
  await sleep(1000);
  const s = await load.stop();
  const line = caseLine('entrypoint', s, `a=${s.byName['a'] ?? 0} b=${s.byName['b'] ?? 0} dockerStopMs=${stopMs}`);
  console.log(line);
  t.diagnostic(line);
  assert.equal(s.failed, 0, load.failures());
  assert.ok(stopMs >= 1800, `the wrapper delayed SIGTERM (docker stop took ${stopMs} ms)`);
  const exit = (await docker(['inspect', '-f', '{{.State.ExitCode}}', `${prefix}-a`])).trim();
  assert.equal(exit, '0', "the wrapper exits with the app's status");
});
