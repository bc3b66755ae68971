import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { compose, docker, ensureDockerAndImages, repoRoot, run, TESTAPP_IMAGE, waitFor } from './support/docker.ts';
import { caseLine, Load } from './support/load.ts';

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

// The quickstart stack (compose/quickstart.yml) from the real proxy image, built offline by
// scripts/build-proxy-image.sh: it serves through the proxy, and a blue → green release under load
// (start green, then stop blue) fails no request.
test('quickstart stack from the proxy image: serves, and a blue/green release fails nothing', { timeout: 300_000 }, async (t) => {
  await ensureDockerAndImages();
  const env = { ...process.env, PATH: `${join(process.execPath, '..')}:${process.env.PATH ?? ''}` };
  await run(['bash', join(repoRoot, 'scripts', 'build-proxy-image.sh')], { env, cwd: repoRoot, timeoutMs: 300_000 });
  await docker(['tag', TESTAPP_IMAGE, 'bluegreen/demo-app:local']);
  const port = await freePort();
  const adminPort = await freePort();
  const project = `bgqs${process.pid}`;
  const composeEnv = {
    ...process.env,
    BLUEGREEN_PORT: String(port),
    BLUEGREEN_ADMIN_PORT: String(adminPort),
    BLUEGREEN_ADMIN_TOKEN: 'quickstart-test',
    DOCKER_GID: String(statSync('/var/run/docker.sock').gid),
  };
  const file = join(repoRoot, 'compose', 'quickstart.yml');
  const c = (args: string[]) => compose(['-p', project, '-f', file, ...args], { env: composeEnv, timeoutMs: 120_000 });
  t.after(async () => {
    await c(['--profile', 'green', 'down', '-v', '--remove-orphans', '-t', '1']).catch(() => {});
  });
  await c(['up', '-d']);
  const url = `http://127.0.0.1:${port}`;
  // The image's HEALTHCHECK (node bin/healthcheck.js → /healthz) must report healthy.
  await waitFor(async () => (await docker(['inspect', '-f', '{{.State.Health.Status}}', `${project}_proxy_1`]).catch(() => docker(['inspect', '-f', '{{.State.Health.Status}}', `${project}-proxy-1`]))).trim() === 'healthy', 60_000, { what: 'the proxy container to be healthy' });
  const load = new Load({ url, host: 'quickstart.localhost', clients: 4 });
  await waitFor(async () => (await load.one('/')).status === 200, 60_000, { what: 'the first 200 through the proxy' });
  const status = await fetch(`http://127.0.0.1:${adminPort}/api/status`, { headers: { authorization: 'Bearer quickstart-test' } });
  assert.equal(status.status, 200);

  load.start();
  await load.waitForResponder('web-blue');
  await c(['--profile', 'green', 'up', '-d', 'web-green']);
  await load.waitForResponder('web-green');
  await c(['stop', '-t', '15', 'web-blue']);
  await new Promise((r) => setTimeout(r, 1000));
  const s = await load.stop();
  console.log(caseLine('quickstart', s, `blue=${s.byName['web-blue'] ?? 0} green=${s.byName['web-green'] ?? 0}`));
  assert.equal(s.failed, 0, load.failures());
  assert.ok((s.byName['web-green'] ?? 0) > 0);
});
