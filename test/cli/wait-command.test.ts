// `bluegreen wait` through the binary against an in-process proxy and admin API.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { refusedPort, sleep, startUpstream } from '../support/servers.ts';
import { startAdmin } from '../control/harness.ts';

const bin = fileURLToPath(new URL('../../bin/bluegreen.js', import.meta.url));

function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const cleanEnv = { ...process.env, BLUEGREEN_ADMIN: '', BLUEGREEN_ADMIN_TOKEN: '', ...env };
    execFile(process.execPath, [bin, ...args], { env: cleanEnv, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** Until the admin server holds a wait (the CLI process starts in a second or two). */
async function untilWaiting(admin: { readonly waiting: number }): Promise<void> {
  for (let i = 0; i < 2000 && admin.waiting === 0; i++) await sleep(5);
}

test('bluegreen wait: 0 once routed (the container appears after the call), 4 with the reason at the timeout, gone', async (t) => {
  const h = await startAdmin({ token: 'tok' });
  t.after(() => h.close());
  const app = await startUpstream('app');
  t.after(() => app.close());
  const reg = h.proxy.registry;
  const env = { BLUEGREEN_ADMIN: h.adminUrl, BLUEGREEN_ADMIN_TOKEN: 'tok' };

  const waiting = cli(['wait', 'web-7', '--timeout', '20s'], env);
  await untilWaiting(h.admin);
  assert.equal(h.admin.waiting, 1, 'the CLI is waiting');
  reg.addUpstream({ id: 'f00d0000aaaa', name: 'web-7', service: 'web', host: '127.0.0.1', port: app.port, state: 'starting' });
  reg.setState('f00d0000aaaa', 'ready');
  const ok = await waiting;
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /^container web-7 \(f00d0000aaaa\) is routed: it is in service web's rotation\n$/);

  reg.addUpstream({ id: 'f00d0000bbbb', name: 'web-8', service: 'web', host: '127.0.0.1', port: app.port, state: 'starting' });
  const late = await cli(['wait', 'f00d0000bb', '--timeout', '100ms'], env);
  assert.equal(late.code, 4);
  assert.match(late.stderr, /^bluegreen wait: WAIT_TIMEOUT: not routed after 100ms: container web-8 \(f00d0000bbbb\) is not healthy yet: starting/);

  const json = await cli(['wait', 'web-8', '--state', 'gone', '--timeout', '0', '--json'], env);
  assert.equal(json.code, 4);
  assert.equal(JSON.parse(json.stdout).reason, 'present');

  const gone = cli(['wait', 'web-8', '--state', 'gone'], env);
  await untilWaiting(h.admin);
  reg.drain('f00d0000bbbb');
  const g = await gone;
  assert.equal(g.code, 0, g.stderr);
  assert.match(g.stdout, /left the proxy at .* \(drained\)/);
});

test('bluegreen wait: usage 2, refused 1, unreachable 3', async (t) => {
  const h = await startAdmin({ token: 'tok' });
  t.after(() => h.close());
  const usage = await cli(['wait']);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /expected one CONTAINER, got 0 arguments/);
  const state = await cli(['wait', 'x', '--state', 'up']);
  assert.equal(state.code, 2);
  assert.match(state.stderr, /--state "up" is not one of routed, ready, gone/);
  const refused = await cli(['wait', 'x', '--admin', h.adminUrl, '--token', 'wrong']);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /^UNAUTHORIZED: /);
  const unreachable = await cli(['wait', 'x', '--admin', `http://127.0.0.1:${await refusedPort()}`]);
  assert.equal(unreachable.code, 3);
  assert.match(unreachable.stderr, /cannot reach the admin API/);
});
