import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { sleep } from '../support/servers.ts';

const entrypoint = fileURLToPath(new URL('../../bin/bluegreen-entrypoint', import.meta.url));
// An app that logs each signal it gets and exits at once on SIGTERM with status 3.
const app = `
process.stdout.write('up\\n');
for (const s of ['SIGHUP', 'SIGUSR1']) process.on(s, () => process.stdout.write(s + '\\n'));
process.on('SIGTERM', () => { process.stdout.write('SIGTERM ' + Date.now() + '\\n'); process.exit(3); });
setInterval(() => {}, 1000);
`;

function start(env: Record<string, string>) {
  const child = spawn('sh', [entrypoint, process.execPath, '-e', app], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (c) => (out += c));
  child.stderr.on('data', (c) => (out += c));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return { child, exited, out: () => out };
}

test('SIGTERM reaches the app only after BLUEGREEN_TERM_DELAY; other signals at once; exit status is the app\'s', async () => {
  const p = start({ BLUEGREEN_TERM_DELAY: '1' });
  for (let i = 0; i < 100 && !p.out().includes('up'); i++) await sleep(20);
  p.child.kill('SIGHUP');
  await sleep(200);
  assert.match(p.out(), /SIGHUP/);
  const t0 = Date.now();
  p.child.kill('SIGTERM');
  await sleep(300);
  assert.doesNotMatch(p.out(), /SIGTERM/, 'not forwarded yet');
  p.child.kill('SIGUSR1');
  await sleep(200);
  assert.match(p.out(), /SIGUSR1/, 'other signals are still forwarded during the delay');
  assert.equal(await p.exited, 3);
  const at = Number(/SIGTERM (\d+)/.exec(p.out())![1]);
  assert.ok(at - t0 >= 950, `SIGTERM forwarded after ${at - t0} ms`);
});

test('a bad delay is refused with a message', async () => {
  const p = start({ BLUEGREEN_TERM_DELAY: 'soon' });
  assert.equal(await p.exited, 64);
  assert.match(p.out(), /BLUEGREEN_TERM_DELAY=soon is not a number of seconds/);
});
