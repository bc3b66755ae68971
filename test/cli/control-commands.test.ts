import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { addUpstream, refusedPort, startUpstream } from '../support/servers.ts';
import { startAdmin } from '../control/harness.ts';

const bin = fileURLToPath(new URL('../../bin/bluegreen.js', import.meta.url));

/** Runs the real CLI in a child process (asynchronously, so the in-process admin API can answer). */
function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const cleanEnv = { ...process.env, BLUEGREEN_ADMIN: '', BLUEGREEN_ADMIN_TOKEN: '', ...env };
    execFile(process.execPath, [bin, ...args], { env: cleanEnv, timeout: 20_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

test('bluegreen status prints services and upstreams as a table', async (t) => {
  const h = await startAdmin();
  t.after(() => h.close());
  const up = await startUpstream('u');
  t.after(() => up.close());
  const b = addUpstream(h.proxy, 'web', up.port, 'ready', { color: 'blue', createdAt: 1 });
  addUpstream(h.proxy, 'web', up.port, 'starting', { color: 'green', createdAt: 2 });
  h.proxy.registry.defineService('api', { hosts: ['api.example.com'], pathPrefix: '/v1' });

  const r = await cli(['status', '--admin', h.adminUrl]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.split('\n');
  assert.match(lines[0]!, /^SERVICE\s+ROUTE\s+ACTIVE\s+MODE\s+PAUSED\s+HELD\s+READY$/);
  assert.match(r.stdout, /^api\s+api\.example\.com\/v1\s+-\s+-\s+no\s+0\s+0\/0$/m);
  assert.match(r.stdout, /^web\s+\(default\)\s+blue\s+auto\s+no\s+0\s+1\/2$/m);
  assert.match(r.stdout, /^SERVICE\s+UPSTREAM\s+ID\s+ADDRESS\s+COLOR\s+STATE\s+IN-FLIGHT/m);
  assert.match(r.stdout, new RegExp(`^web\\s+${b.name}\\s+${b.id}\\s+127\\.0\\.0\\.1:${up.port}\\s+blue\\*\\s+ready\\s+0`, 'm'));
  assert.match(r.stdout, /\sgreen\s+starting\s/);

  const json = await cli(['status', '--json'], { BLUEGREEN_ADMIN: h.adminUrl });
  assert.equal(json.code, 0, json.stderr);
  assert.equal(JSON.parse(json.stdout).services.length, 2);
});

test('switch, pause, resume, color-mode and drain change the proxy and print the result', async (t) => {
  const h = await startAdmin();
  t.after(() => h.close());
  const up = await startUpstream('u');
  t.after(() => up.close());
  addUpstream(h.proxy, 'web', up.port, 'ready', { color: 'blue', createdAt: 1 });
  const g = addUpstream(h.proxy, 'web', up.port, 'ready', { color: 'green', createdAt: 2 });
  const admin = ['--admin', h.adminUrl];
  const svc = () => h.proxy.registry.service('web')!;

  let r = await cli(['color-mode', 'web', 'manual', ...admin]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(svc().colorMode, 'manual');
  r = await cli(['switch', 'web', 'blue', ...admin]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'web: active color is now blue (switching: manual)\n');
  assert.equal(svc().activeColor, 'blue');
  r = await cli(['pause', 'web', ...admin]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^web: paused/);
  assert.equal(svc().paused, true);
  r = await cli(['resume', 'web', ...admin]);
  assert.equal(r.stdout, 'web: resumed\n');
  assert.equal(svc().paused, false);
  r = await cli(['drain', g.id, '--timeout', '5s', ...admin]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`^web/${g.name} \\(${g.id}\\): drained and removed`));
  assert.equal(h.proxy.registry.upstreams.has(g.id), false);
});

test('exit codes: 1 with CODE: message for API errors, 2 for usage, 3 when the admin API cannot be reached', async (t) => {
  const h = await startAdmin({ token: 'tok' });
  t.after(() => h.close());
  h.proxy.registry.defineService('web');

  let r = await cli(['pause', 'nope', '--admin', h.adminUrl, '--token', 'tok']);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, 'UNKNOWN_SERVICE: no service named nope\n');
  r = await cli(['status', '--admin', h.adminUrl]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^UNAUTHORIZED: /);
  r = await cli(['status', '--admin', h.adminUrl], { BLUEGREEN_ADMIN_TOKEN: 'tok' });
  assert.equal(r.code, 0, r.stderr);

  for (const args of [['switch', 'web'], ['color-mode', 'web', 'sometimes'], ['drain', 'x', '--timeout', 'soon'], ['status', '--bogus'], ['resume']]) {
    r = await cli([...args, '--admin', h.adminUrl, '--token', 'tok']);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /usage: bluegreen/);
  }
  r = await cli(['pause', 'web', '--admin', 'ftp://x']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--admin: admin URL ftp:\/\/x is not http/);

  r = await cli(['status', '--admin', `http://127.0.0.1:${await refusedPort()}`]);
  assert.equal(r.code, 3);
  assert.match(r.stderr, /cannot reach the admin API at http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/);
  // Something that answers, but not like the admin API.
  const other = await startUpstream('not-admin');
  t.after(() => other.close());
  r = await cli(['status', '--admin', `http://127.0.0.1:${other.port}`]);
  assert.equal(r.code, 3);
  assert.match(r.stderr, /bluegreen admin API/);
});
