// The README's quickstart, run as written: `npm run demo`, then every line of the 60-second
// walkthrough (the ```sh block after "Then, in 60 seconds"), then `npm run demo -- --down`.
// It uses the README's ports (8080 and 9901), so it first checks that they are free.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { ensureDockerAndImages, repoRoot } from './support/docker.ts';

/**
 * A user's PATH: without the Node 24 that npm test put first, so the README's commands run with the
 * machine's own node (Node 20 on the CI machine), as they would in a user's shell.
 */
function userPath(): string {
  const node24 = dirname(process.execPath);
  return (process.env.PATH ?? '').split(':').filter((d) => d !== node24 && !d.includes('.tools/node24')).join(':');
}

function sh(line: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-c', line], { cwd: repoRoot, env: { ...process.env, ...env, PATH: userPath() } });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (out += c));
    child.on('exit', (code) => resolve({ code, out }));
  });
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** The walkthrough's commands: lines of the sh block after the marker, comments stripped. */
export function walkthrough(readme: string): string[] {
  const at = readme.indexOf('Then, in 60 seconds');
  assert.ok(at > 0, 'README has the walkthrough');
  const block = /```sh\n([\s\S]*?)```/.exec(readme.slice(at));
  assert.ok(block, 'the walkthrough is a sh block');
  return block[1]!
    .split('\n')
    .map((l) => l.replace(/\s+#.*$/, '').trim())
    .filter(Boolean);
}

test('README quickstart: npm run demo, the walkthrough as written, npm run demo -- --down', { timeout: 600_000 }, async (t) => {
  await ensureDockerAndImages();
  for (const p of [8080, 9901]) assert.ok(await portFree(p), `port ${p} is taken: the README's quickstart needs it`);
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
  const quick = /## Quickstart\n\n```sh\n([\s\S]*?)```/.exec(readme);
  assert.equal(quick?.[1]?.trim(), 'npm run demo\nnpm test', 'the quickstart starts with exactly the two commands');
  t.after(() => sh('npm run demo -- --down', {}));

  const demo = await sh('npm run demo', {});
  const tail = demo.out.trim().split('\n').slice(-8).join('\n');
  console.log(tail);
  assert.equal(demo.code, 0, demo.out);
  assert.match(demo.out, /requests sent: \d+ +failed: 0 /);

  let env: NodeJS.ProcessEnv = {};
  for (const line of walkthrough(readme)) {
    if (line.startsWith('export ')) {
      for (const [, k, v] of line.slice(7).matchAll(/(\w+)=(\S+)/g)) env = { ...env, [k!]: v! };
      continue;
    }
    const r = await sh(line, env);
    console.log(`$ ${line}\n${r.out.trim().split('\n').slice(-3).join('\n')}`);
    assert.equal(r.code, 0, `${line}\n${r.out}`);
  }
  // The run-from-the-checkout block, as one script (it starts the proxy in the background).
  const checkout = /Run it from the checkout[\s\S]*?```sh\n([\s\S]*?)```/.exec(readme);
  assert.ok(checkout, 'README has the run-from-the-checkout block');
  t.after(() => sh('docker rm -f hello-1', {}));
  const run = await sh(`set -e\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n${checkout[1]}`, {});
  console.log(run.out.trim().split('\n').slice(-6).join('\n'));
  assert.equal(run.code, 0, run.out);
  assert.match(run.out, /"name":"hello-1"|hello-1/);

  const status = await sh('npx bluegreen status --json', env);
  assert.match(status.out, /"activeColor":\s*"blue"/, 'demo → green; deploy → blue; deploy --keep-old → green; rollback → blue');
});
