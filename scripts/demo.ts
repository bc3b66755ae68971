// `npm run demo` (after scripts/demo.sh has Node 24 and the npm dependencies in place):
// starts a Docker Engine when none answers (Debian, root), builds the proxy and demo app images with
// no registry, starts compose/quickstart.yml, runs a blue/green deploy of the demo app under mixed
// GET and 8 KiB POST load, prints what it measured and where to look, and leaves the stack running.
//   --down   remove everything the demo started
//   --pull   build on the official node:24-slim instead of the locally seeded base
import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Load } from '../test/e2e/support/load.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const PROJECT = 'bluegreen-demo';
const PORT = process.env.BLUEGREEN_PORT ?? '8080';
const ADMIN_PORT = process.env.BLUEGREEN_ADMIN_PORT ?? '9901';
const TOKEN = process.env.BLUEGREEN_ADMIN_TOKEN ?? 'quickstart';
const args = new Set(process.argv.slice(2));
for (const a of args) if (!['--down', '--pull'].includes(a)) fail('arguments', `unknown option ${a} (use --down or --pull)`);

function fail(step: string, why: string, hint = ''): never {
  process.stderr.write(`✖ step '${step}' failed: ${why}${hint ? `\n  what to do: ${hint}` : ''}\n`);
  process.exit(1);
}

/** Runs a command; resolves with stdout; rejects with the command's stderr tail. */
function sh(cmd: string, argv: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { cwd: root, env: { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH}`, ...env } });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (err += c));
    child.on('error', (e) => reject(e));
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} ${argv.join(' ')} exited ${code}: ${(err || out).trim().split('\n').slice(-5).join(' | ')}`))));
  });
}

async function step<T>(name: string, fn: () => Promise<T>, hint: string): Promise<T> {
  const t0 = Date.now();
  process.stdout.write(`▶ ${name}\n`);
  try {
    const v = await fn();
    process.stdout.write(`✔ ${name} (${Date.now() - t0} ms)\n`);
    return v;
  } catch (err) {
    fail(name, (err as Error).message, hint);
  }
}

/** What compose/quickstart.yml reads from the environment. */
function composeEnv(): NodeJS.ProcessEnv {
  return {
    BLUEGREEN_PORT: PORT,
    BLUEGREEN_ADMIN_PORT: ADMIN_PORT,
    BLUEGREEN_ADMIN_TOKEN: TOKEN,
    DOCKER_GID: String(statSync('/var/run/docker.sock').gid),
  };
}

let composeCmd: string[] | undefined;
async function compose(argv: string[]): Promise<string> {
  if (!composeCmd) {
    composeCmd = await sh('docker', ['compose', 'version']).then(() => ['docker', 'compose'], () => ['docker-compose']);
  }
  return sh(composeCmd[0]!, [...composeCmd.slice(1), '-p', PROJECT, '-f', 'compose/quickstart.yml', '--profile', 'green', ...argv], composeEnv());
}

async function admin(path: string, method = 'GET', body?: unknown): Promise<any> {
  const r = await fetch(`http://127.0.0.1:${ADMIN_PORT}${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!r.ok) throw new Error(`admin API ${method} ${path}: ${r.status} ${await r.text()}`);
  return r.json();
}

async function until(what: string, ms: number, fn: () => Promise<boolean>): Promise<void> {
  const end = Date.now() + ms;
  while (!(await fn().catch(() => false))) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const readyOf = async (color: string) =>
  ((await admin('/api/status')).services as any[]).some((s) => s.name === 'web' && s.upstreams.some((u: any) => u.color === color && u.state === 'ready'));

await step('Docker Engine', () => sh('bash', ['scripts/ensure-docker.sh']), 'start Docker (Docker Desktop, or `dockerd`), or run the demo as root on Debian so it can install docker.io');
if (args.has('--down')) {
  await step('remove the demo stack', () => compose(['down', '-v', '--remove-orphans', '-t', '5']), `docker ps -a --filter name=${PROJECT}`);
  process.exit(0);
}
const pull = args.has('--pull') ? ['--pull'] : [];
// node:24-slim when it is here (or --pull fetches it), else a base seeded from the Node 24 binary.
const slimHere = await sh('docker', ['image', 'inspect', 'node:24-slim']).then(() => true, () => false);
if (args.has('--pull')) await step('pull node:24-slim', () => sh('docker', ['pull', 'node:24-slim']), 'an image registry must be reachable for --pull');
const demoBase = slimHere || args.has('--pull') ? { BASE_IMAGE: 'node:24-slim' } : {};
await step('demo app and base images', () => sh('bash', ['scripts/build-images.sh'], demoBase).then(() => sh('docker', ['tag', 'bluegreen/testapp:local', 'bluegreen/demo-app:local'])), 'see the message above; FORCE=1 scripts/build-images.sh rebuilds from scratch');
await step('bluegreen image', () => sh('bash', ['scripts/build-proxy-image.sh', ...pull]), 'run `npm run image` to see the full build output');
await step('start the quickstart stack (proxy + web-blue)', async () => {
  await compose(['stop', '-t', '15', 'web-green']).catch(() => '');
  // A fresh proxy each run, so a previous run's color choice (deploy sets manual mode) does not carry over.
  await compose(['up', '-d', '--force-recreate', 'proxy', 'web-blue']);
  await until('the proxy to route to web-blue', 60_000, () => readyOf('blue'));
}, `docker logs ${PROJECT}_proxy_1 (or ${PROJECT}-proxy-1); is port ${PORT} or ${ADMIN_PORT} taken? set BLUEGREEN_PORT / BLUEGREEN_ADMIN_PORT`);

const load = new Load({ url: `http://127.0.0.1:${PORT}`, host: 'demo.localhost', clients: 6 });
const deployArgs = ['bin/bluegreen.js', 'deploy', 'web', '-f', 'compose/quickstart.yml', '-p', PROJECT, '--admin', `http://127.0.0.1:${ADMIN_PORT}`, '--token', TOKEN];
await step(`bluegreen deploy web (blue → green) under GET + 8 KiB POST load`, async () => {
  load.start();
  await new Promise((r) => setTimeout(r, 1500));
  const out = await sh(process.execPath, deployArgs, composeEnv());
  process.stdout.write(`${out.trimEnd().replace(/^/gm, '    ')}\n`);
  await new Promise((r) => setTimeout(r, 1500));
}, `npx bluegreen status --admin http://127.0.0.1:${ADMIN_PORT} --token ${TOKEN}`);
const s = await load.stop();

process.stdout.write(`
requests sent: ${s.sent}   failed: ${s.failed}   max hold: ${s.maxLatencyMs} ms   (web-blue ${s.byName['web-blue'] ?? 0}, web-green ${s.byName['web-green'] ?? 0})
proxy:      http://127.0.0.1:${PORT}/
dashboard:  http://127.0.0.1:${ADMIN_PORT}/   (token: ${TOKEN})
metrics:    curl -H 'Authorization: Bearer ${TOKEN}' http://127.0.0.1:${ADMIN_PORT}/metrics
status:     npx bluegreen status --admin http://127.0.0.1:${ADMIN_PORT} --token ${TOKEN}
deploy:     npx bluegreen deploy web -f compose/quickstart.yml -p ${PROJECT} --admin http://127.0.0.1:${ADMIN_PORT} --token ${TOKEN}
The stack keeps running; remove it with: npm run demo -- --down
`);
if (s.failed > 0) {
  process.stdout.write(load.failures());
  process.exit(1);
}
