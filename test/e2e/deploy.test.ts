// `bluegreen deploy` end to end on the real Docker Engine: `bluegreen serve` runs as a host process,
// the stack test/e2e/stacks/deploy-web.yml (web-blue, web-green: the test app with a Docker
// healthcheck) runs under docker compose (v2, else v1), and the CLI drives the releases under a
// steady mixed GET + 8 KiB POST load: blue → green → blue without a failed request, then a release
// whose new color never becomes healthy: exit 4, nothing switched, the old color still serving, the
// new one stopped. Names are unique to the run: other tests share the engine.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ServiceStatus, StatusSnapshot } from '../../src/control/status.ts';
import { compose, docker, ensureDockerAndImages, repoRoot, TESTAPP_IMAGE } from './support/docker.ts';
import { Load, type LoadSummary } from './support/load.ts';
import { ProxyProcess } from './support/proxy-process.ts';

const RUN = `bgdeploy${Date.now().toString(36)}`;
const SERVICE = RUN;
const HOST = `${RUN}.e2e.test`;
const STACK = join(repoRoot, 'test', 'e2e', 'stacks', 'deploy-web.yml');
const BIN = join(repoRoot, 'bin', 'bluegreen.js');
const IMAGE_V2 = `${RUN}/app:v2`;
const IMAGE_V3 = `${RUN}/app:v3`;

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

function cli(args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env, timeout: 120_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      resolve({ code, stdout, stderr, ms: Date.now() - t0 });
    });
  });
}

function report(t: TestContext, text: string): void {
  console.log(text);
  t.diagnostic(text);
}

function line(label: string, s: LoadSummary, maxHoldMs: number, extra: string): string {
  const kinds = Object.entries(s.byKind).map(([k, v]) => `${k}:${v}`).join(',');
  return `${label}: sent=${s.sent} failed=${s.failed}${kinds ? ` (${kinds})` : ''} maxHoldMs=${maxHoldMs} maxLatencyMs=${s.maxLatencyMs} ${extra}`;
}

test('bluegreen deploy with docker compose: blue → green → blue under load fails nothing; a never-healthy color never switches', { timeout: 240_000 }, async (t) => {
  await ensureDockerAndImages(); // fails (never skips) when Docker cannot be started
  const env: NodeJS.ProcessEnv = { ...process.env, DEPLOY_SERVICE: SERVICE, DEPLOY_HOST: HOST, BLUEGREEN_ADMIN: '', BLUEGREEN_ADMIN_TOKEN: '' };
  delete env.WEB_IMAGE;
  delete env.WEB_HEALTHY;
  const c = (args: string[]) => compose(['-p', RUN, '-f', STACK, ...args], { env, timeoutMs: 120_000 });
  t.after(async () => {
    await c(['down', '-v', '--remove-orphans', '-t', '1']).catch(() => {});
    await docker(['rmi', IMAGE_V2, IMAGE_V3]).catch(() => {});
  });
  await docker(['tag', TESTAPP_IMAGE, IMAGE_V2]);
  await docker(['tag', TESTAPP_IMAGE, IMAGE_V3]);

  const proxy = await ProxyProcess.start({ name: RUN });
  t.after(() => proxy.stop());
  await proxy.waitForLog((l) => l.msg === 'synced with Docker', 15_000, 'first sync with Docker');
  const adminLine = await proxy.waitForLog((l) => l.msg === 'admin API listening', 5_000, 'admin listener');
  const admin = `http://127.0.0.1:${String(adminLine['port'])}`;
  const status = async (): Promise<ServiceStatus | undefined> => {
    const s = (await (await fetch(`${admin}/api/status`)).json()) as StatusSnapshot;
    return s.services.find((x) => x.name === SERVICE);
  };
  const deploy = async (args: string[], extraEnv: NodeJS.ProcessEnv = {}) => {
    const r = await cli(['deploy', SERVICE, '-f', STACK, '-p', RUN, '--admin', admin, ...args], { ...env, ...extraEnv });
    console.log(`$ bluegreen deploy ${SERVICE} ${args.join(' ')}  → exit ${r.code} in ${r.ms} ms\n${r.stdout}${r.stderr}`);
    return r;
  };
  /** Every container of a compose service, running or not. */
  const containersOf = async (svc: string) =>
    (await docker(['ps', '-a', '-q', '--filter', `label=com.docker.compose.project=${RUN}`, '--filter', `label=com.docker.compose.service=${svc}`])).split('\n').filter(Boolean);
  const inspect = async (id: string, format: string) => (await docker(['inspect', '-f', format, id])).trim();

  // First release: the proxy does not know the service yet, so it starts blue.
  const first = await deploy([]);
  assert.equal(first.code, 0, first.stderr);
  assert.equal((await status())?.activeColor, 'blue');

  const load = new Load({ url: proxy.url, host: HOST }).start();
  t.after(() => load.stop());
  await load.waitForResponder('web-blue', 20);

  const toGreen = await deploy(['--image', IMAGE_V2, '--timeout', '30s']);
  assert.equal(toGreen.code, 0, toGreen.stderr);
  assert.equal((await status())?.activeColor, 'green');
  const [green] = await containersOf('web-green');
  assert.equal(await inspect(green!, '{{.Config.Image}}'), IMAGE_V2, 'the new color runs the --image');
  for (const id of await containersOf('web-blue')) assert.equal(await inspect(id, '{{.State.Running}}'), 'false', 'old color stopped');
  await load.waitForResponder('web-green', 20);

  const toBlue = await deploy(['--image', IMAGE_V3, '--timeout', '30s']);
  assert.equal(toBlue.code, 0, toBlue.stderr);
  assert.equal((await status())?.activeColor, 'blue');
  const [blue] = await containersOf('web-blue');
  assert.equal(await inspect(blue!, '{{.Config.Image}}'), IMAGE_V3);
  await load.waitForResponder('web-blue', 20);
  await sleep(300);
  const s = await load.stop();
  const svc = await status();
  report(t, line('deploy', s, svc?.maxHoldMs ?? -1, `blue=${s.byName['web-blue'] ?? 0} green=${s.byName['web-green'] ?? 0} toGreenMs=${toGreen.ms} toBlueMs=${toBlue.ms}`));
  assert.equal(s.failed, 0, load.failures());
  assert.ok((s.byName['web-green'] ?? 0) > 20 && (s.byName['web-blue'] ?? 0) > 20, JSON.stringify(s.byName));
  for (const step of ['wait for green ready', 'switch', 'drain green through the proxy', 'compose stop web-green']) assert.match(toBlue.stdout + toGreen.stdout, new RegExp(step));

  // A release whose new color never becomes healthy: nothing switches, blue keeps serving, green is stopped.
  const load2 = new Load({ url: proxy.url, host: HOST }).start();
  t.after(() => load2.stop());
  await load2.waitForResponder('web-blue', 10);
  const bad = await deploy(['--timeout', '6s'], { WEB_HEALTHY: 'false' });
  assert.equal(bad.code, 4, `exit 4 (deploy failed, nothing switched)\n${bad.stdout}${bad.stderr}`);
  assert.match(bad.stderr, /deploy failed, nothing switched: web-green did not become ready within 6\.00 s; the proxy says \S+ \(\w{12}\): (unhealthy|starting)/);
  assert.match(bad.stderr, /docker says \S+: (running, health unhealthy|exited)/);
  const after = await status();
  assert.equal(after?.activeColor, 'blue', 'nothing switched');
  for (const id of await containersOf('web-green')) assert.equal(await inspect(id, '{{.State.Running}}'), 'false', 'the new color is stopped');
  await sleep(500);
  assert.equal(load2.samples.slice(-10).every((x) => x.name === 'web-blue'), true, 'the old color still serves');
  const s2 = await load2.stop();
  report(t, line('deploy failure', s2, after?.maxHoldMs ?? -1, `exit=${bad.code} blue=${s2.byName['web-blue'] ?? 0} green=${s2.byName['web-green'] ?? 0} failMs=${bad.ms}`));
  assert.equal(s2.failed, 0, load2.failures());
  assert.equal(s2.byName['web-green'] ?? 0, 0, 'the unhealthy color got no request');
});
