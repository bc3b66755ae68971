// The `bluegreen deploy` command line: usage errors, exit codes, a rollback through the real binary.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { addUpstream, refusedPort, startUpstream } from '../support/servers.ts';
import { startAdmin } from '../control/harness.ts';

const bin = fileURLToPath(new URL('../../bin/bluegreen.js', import.meta.url));
const emptyDir = mkdtempSync(join(tmpdir(), 'bluegreen-deploy-'));

function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const cleanEnv = { ...process.env, BLUEGREEN_ADMIN: '', BLUEGREEN_ADMIN_TOKEN: '', COMPOSE_FILE: '', ...env };
    execFile(process.execPath, [bin, ...args], { env: cleanEnv, cwd: emptyDir, timeout: 20_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

test('deploy usage errors exit 2 and say what is wrong', async () => {
  const table: [string[], RegExp][] = [
    [['deploy'], /expected one SERVICE, got 0 arguments/],
    [['deploy', 'a', 'b'], /expected one SERVICE, got 2 arguments/],
    [['deploy', 'web', '--rollback', '--image', 'x:1'], /--image does not go with --rollback/],
    [['deploy', 'web', '--rollback', '--keep-old'], /--keep-old does not go with --rollback/],
    [['deploy', 'web', '--timeout', '5'], /--timeout "5" needs a unit/],
    [['deploy', 'web', '-f', 'x.yml', '--drain-timeout', 'soon'], /--drain-timeout "soon"/],
    [['deploy', 'web', '--image-var', 'WEB-IMAGE'], /--image-var "WEB-IMAGE" is not a variable name/],
    [['deploy', 'web', '--bogus'], /Unknown option '--bogus'/],
    [['deploy', 'web'], /no compose file: pass -f FILE \(looked for compose.yaml, compose.yml, docker-compose.yaml, docker-compose.yml in /],
  ];
  const results = await Promise.all(table.map(([args]) => cli(args)));
  table.forEach(([args, want], i) => {
    assert.equal(results[i]!.code, 2, `${args.join(' ')}: ${results[i]!.stderr}`);
    assert.match(results[i]!.stderr, want, args.join(' '));
  });
  const help = await cli(['deploy', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /compose up -d --no-deps --force-recreate SERVICE-<idle>/);
  assert.match(help.stdout, /4 +deploy failed, nothing switched/);
});

test('deploy --rollback through the binary: 0 when the other color is warm, 4 when not, 1 refused, 3 unreachable', async (t) => {
  const h = await startAdmin({ token: 'secret' });
  t.after(() => h.close());
  const app = await startUpstream('app');
  t.after(() => app.close());
  addUpstream(h.proxy, 'web', app.port, 'ready', { color: 'blue', createdAt: 1 });
  addUpstream(h.proxy, 'web', app.port, 'ready', { color: 'green', createdAt: 2 });
  assert.equal(h.proxy.registry.service('web')!.activeColor, 'green');
  const admin = ['--admin', h.adminUrl];

  const ok = await cli(['deploy', 'web', '--rollback', ...admin, '--token', 'secret']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /^ {2}ok .* switch web to blue: active blue$/m);
  assert.match(ok.stdout, /^rolled back web: blue is active \(1 ready upstream\); green keeps running, idle/m);
  assert.equal(h.proxy.registry.service('web')!.activeColor, 'blue');

  const none = await cli(['deploy', 'nope', '--rollback', ...admin], { BLUEGREEN_ADMIN_TOKEN: 'secret' });
  assert.equal(none.code, 4);
  assert.match(none.stderr, /deploy failed, nothing switched: the proxy knows no service nope/);

  const refused = await cli(['deploy', 'web', '--rollback', ...admin, '--token', 'wrong']);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /^UNAUTHORIZED: /m);

  const unreachable = await cli(['deploy', 'web', '--rollback', '--admin', `http://127.0.0.1:${await refusedPort()}`]);
  assert.equal(unreachable.code, 3);
  assert.match(unreachable.stderr, /cannot reach the admin API/);
  assert.equal(h.proxy.registry.service('web')!.activeColor, 'blue');
});
