import { bin, spawnBluegreen } from '../support/serve-process.ts';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request as undiciRequest } from 'undici';
import { refusedPort, sleep, startUpstream } from '../support/servers.ts';


async function until<T>(fn: () => Promise<T | undefined>, ms: number, what: string): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

test('serve applies a valid config change live on a kept-alive connection, and rejects an invalid one while the last good config keeps serving', async (t) => {
  const a = await startUpstream('a');
  const b = await startUpstream('b');
  t.after(() => a.close());
  t.after(() => b.close());
  const dir = await mkdtemp(join(tmpdir(), 'bg-config-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'bluegreen.yml');
  const port = await refusedPort();
  const adminPort = await refusedPort();
  const write = async (text: string) => {
    await writeFile(`${file}.tmp`, text);
    await rename(`${file}.tmp`, file); // atomic replace, as config management tools do
  };
  await write(`staticUpstreams:\n  - { service: web, address: "127.0.0.1:${a.port}" }\n`);
  const proxy = spawnBluegreen(t, ['serve', '--config', file, '--no-docker', '--listen', `127.0.0.1:${port}`, '--admin', `127.0.0.1:${adminPort}`]);
  const { child, exited } = proxy;

  const agent = new Agent({ connections: 1, keepAliveTimeout: 60_000 }); // one kept-alive connection throughout
  t.after(() => agent.close());
  const get = async () => {
    const r = await undiciRequest(`http://127.0.0.1:${port}/x`, { dispatcher: agent });
    return `${r.statusCode} ${await r.body.text()}`;
  };
  assert.equal(await until(async () => get(), 10_000, 'the proxy to serve'), '200 a GET /x 0');

  // A valid change: the upstream moves from a to b, live, on the same client connection.
  await write(`staticUpstreams:\n  - { service: web, address: "127.0.0.1:${b.port}" }\nholdTimeout: 5s\n`);
  await until(async () => ((await get()) === '200 b GET /x 0' ? true : undefined), 10_000, 'the change to apply');
  assert.match(proxy.output(), /"msg":"upstream draining"/);

  // An invalid change: rejected, reported by the admin API, and b keeps serving.
  await write(`staticUpstreams:\n  - { service: web, address: "127.0.0.1:${a.port}" }\nholdTimeout: 30x\n`);
  const status = await until(async () => {
    const r = await fetch(`http://127.0.0.1:${adminPort}/api/status`);
    const j = (await r.json()) as { config?: { errors?: unknown[] } };
    return j.config?.errors?.length ? JSON.stringify(j.config) : undefined;
  }, 10_000, 'the config error in /api/status');
  assert.match(status, /holdTimeout/);
  assert.match(proxy.output(), /bluegreen\.yml.*holdTimeout/);
  for (let i = 0; i < 5; i++) assert.equal(await get(), '200 b GET /x 0');

  child.kill('SIGTERM');
  assert.equal(await exited, 0);
});

test('serve refuses to start with an invalid config file, naming the file, key and reason', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'bg-config-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'bluegreen.yml');
  await writeFile(file, 'holdTimout: 5s\n');
  const child = spawn(process.execPath, [bin, 'serve', '--config', file, '--no-docker', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (c) => (err += c));
  const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  assert.equal(code, 2);
  assert.ok(err.includes(file), err);
  assert.match(err, /holdTimout.*(did you mean|holdTimeout)/);
});
