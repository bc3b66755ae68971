// Runs inside a fresh network namespace (`unshare -n`, started by test/e2e/upgrade.test.ts):
// sets net.ipv4.tcp_migrate_req there (the host's value is never touched), starts two upstream app
// servers, a bluegreen process on 127.0.0.1:8080, and mixed load (keep-alive clients and clients
// that open a new connection per request; GETs and 8 KiB POSTs checked by sha256). Then it upgrades
// the proxy N times: a new `bluegreen serve` on the same address (SO_REUSEPORT), wait for its
// /healthz (ready after its first Docker sync), SIGTERM the old one, wait for it to exit.
// Prints one JSON line with the figures.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Load } from './load.ts';
import { NewConnectionLoad } from './new-connection-load.ts';

const { values } = parseArgs({ options: { migrate: { type: 'string' }, upgrades: { type: 'string', default: '4' }, bin: { type: 'string' } } });
const migrate = values.migrate === '1' ? '1' : '0';
const upgrades = Number(values.upgrades);
const bin = values.bin!;
const HOST = 'upgrade.test';
const LISTEN = '127.0.0.1:8080';

execFileSync('ip', ['link', 'set', 'lo', 'up']);
writeFileSync('/proc/sys/net/ipv4/tcp_migrate_req', migrate);
const sysctl = readFileSync('/proc/sys/net/ipv4/tcp_migrate_req', 'utf8').trim();

/** An app server: GET answers {name}, POST echoes {name, bytes, sha256} of the body. */
async function app(name: string): Promise<Server> {
  const s = createServer((req, res) => {
    const h = createHash('sha256');
    let bytes = 0;
    req.on('data', (c: Buffer) => {
      bytes += c.length;
      h.update(c);
    });
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(req.method === 'POST' ? { name, bytes, sha256: h.digest('hex') } : { name }));
    });
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return s;
}
const apps = [await app('app-1'), await app('app-2')];
const dir = mkdtempSync(join(tmpdir(), 'bgu-upgrade-'));
const config = join(dir, 'bluegreen.yml');
writeFileSync(
  config,
  'staticUpstreams:\n' +
    apps.map((a) => `  - { service: bgu-web, address: "127.0.0.1:${(a.address() as AddressInfo).port}", hosts: [${HOST}] }\n`).join(''),
);

interface Instance {
  child: ChildProcess;
  admin: number;
  out: string;
  exited: Promise<number | null>;
}

function startProxy(admin: number): Instance {
  const child = spawn(process.execPath, [bin, 'serve', '--config', config, '--listen', LISTEN, '--admin', `127.0.0.1:${admin}`, '--log-level', 'info'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const inst: Instance = { child, admin, out: '', exited: new Promise((r) => child.on('exit', (code) => r(code))) };
  child.stdout!.on('data', (c) => (inst.out += c));
  child.stderr!.on('data', (c) => (inst.out += c));
  return inst;
}

function healthz(admin: number): Promise<number> {
  return new Promise((resolve) => {
    const req = httpRequest({ host: '127.0.0.1', port: admin, path: '/healthz', agent: false, timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

async function waitReady(inst: Instance, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while ((await healthz(inst.admin)) !== 200) {
    if (Date.now() > end) throw new Error(`proxy on admin ${inst.admin} not ready within ${ms} ms:\n${inst.out}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

let current = startProxy(9901);
const all = [current];
try {
  await waitReady(current);
  const keepAlive = new Load({ url: `http://${LISTEN}`, host: HOST, clients: 4 }).start();
  const fresh = new NewConnectionLoad({ url: `http://${LISTEN}`, host: HOST, clients: 4 });
  await new Promise((r) => setTimeout(r, 1500));
  const steps: { readyMs: number; oldExitMs: number; overlapMs: number; oldExit: number | null }[] = [];
  for (let k = 1; k <= upgrades; k++) {
    const spawnedAt = Date.now();
    const next = startProxy(9901 + k);
    all.push(next);
    await waitReady(next);
    const readyAt = Date.now();
    const termAt = Date.now();
    current.child.kill('SIGTERM');
    const code = await current.exited;
    const exitAt = Date.now();
    steps.push({ readyMs: readyAt - spawnedAt, oldExitMs: exitAt - termAt, overlapMs: exitAt - readyAt, oldExit: code });
    current = next;
    await new Promise((r) => setTimeout(r, 1000));
  }
  const ka = await keepAlive.stop();
  const nc = await fresh.stop();
  const failures = [...keepAlive.samples, ...fresh.samples]
    .filter((s) => s.failure)
    .slice(0, 10)
    .map((s) => `${s.method} ${s.failure} ${s.status} ${s.detail ?? ''}`);
  process.stdout.write(JSON.stringify({ migrate: sysctl, upgrades, keepAlive: ka, newConnections: nc, steps, failures }) + '\n');
} finally {
  for (const p of all) p.child.kill('SIGKILL');
  for (const a of apps) a.close();
}
process.exit(0);
