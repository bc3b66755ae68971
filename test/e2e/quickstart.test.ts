import { refusedPort } from '../support/servers.ts';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { compose, docker, ensureDockerAndImages, ensureProxyImage, repoRoot, TESTAPP_IMAGE, waitFor } from './support/docker.ts';
import { caseLine, Load } from './support/load.ts';


// The compose stacks from the real proxy image, built offline by scripts/build-proxy-image.sh: each
// serves through the proxy, and a blue → green release under load (start green, then stop blue)
// fails no request. socket-proxy.yml reaches Docker only through the read-only socket filter.
for (const stack of ['quickstart', 'socket-proxy']) {
test(`${stack} stack from the proxy image: serves, and a blue/green release fails nothing`, { timeout: 300_000 }, async (t) => {
  await ensureDockerAndImages();
  await ensureProxyImage();
  await docker(['tag', TESTAPP_IMAGE, 'bluegreen/demo-app:local']);
  const port = await refusedPort();
  const adminPort = await refusedPort();
  const project = `bg${stack.replace('-', '')}${process.pid}`;
  const composeEnv = {
    ...process.env,
    BLUEGREEN_PORT: String(port),
    BLUEGREEN_ADMIN_PORT: String(adminPort),
    BLUEGREEN_ADMIN_TOKEN: 'quickstart-test',
    DOCKER_GID: String(statSync('/var/run/docker.sock').gid),
  };
  const file = join(repoRoot, 'compose', `${stack}.yml`);
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
  if (stack === 'socket-proxy') {
    // The proxy container has no socket, and the filter refuses anything but bluegreen's reads.
    const proxyName = (await c(['ps', '-q', 'proxy'])).trim();
    const probe = "fetch('http://socket-filter:2375/containers/create',{method:'POST',body:'{}'}).then(async r=>console.log(r.status,await r.text()))";
    const out = await docker(['exec', proxyName, 'node', '-e', probe]);
    assert.match(out, /^403 .*read-only/);
    assert.equal((await docker(['exec', proxyName, 'sh', '-c', 'test -e /var/run/docker.sock && echo present || echo absent'])).trim(), 'absent');
  }

  load.start();
  await load.waitForResponder('web-blue');
  await c(['--profile', 'green', 'up', '-d', 'web-green']);
  await load.waitForResponder('web-green');
  await c(['stop', '-t', '15', 'web-blue']);
  await new Promise((r) => setTimeout(r, 1000));
  const s = await load.stop();
  console.log(caseLine(stack, s, `blue=${s.byName['web-blue'] ?? 0} green=${s.byName['web-green'] ?? 0}`));
  assert.equal(s.failed, 0, load.failures());
  assert.ok((s.byName['web-green'] ?? 0) > 0);
});
}
