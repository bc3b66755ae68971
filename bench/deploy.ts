// Deploy benchmark: `npm run bench:deploy [-- --quick] [--deploys N] [--only bluegreen,nginx] [--cases a,b] [--sequential]`.
//
// Seed scenario (issue 4): the app runs in a `network_mode: host` container on port 3000 or 4000.
// A deploy starts the new version on the other port, waits for its /health (with a timeout),
// then `docker stop -t 10`s the old one (or, when the new one never became healthy, removes the
// new one and keeps the old). The proxies of a case run side by side in front of the same
// containers, through the same deploys, each with its own mixed load (bench/deploy-load.ts) for
// the whole case (`--sequential`: one proxy after another, each with its own deploys):
//   - bluegreen: `bin/bluegreen.js serve` as a host process; the containers carry its labels
//   - Caddy, nginx, HAProxy (when installed; else "skipped"): host processes with configs in a
//     temp dir (bench/peers/configs.ts) listing both ports.
// Swarm cases: one stack with the app service (endpoint_mode: dnsrr) and a service per proxy, the
// peers from images of the installed binaries (bench/peers/build-images.sh) resolving the app's
// tasks through Docker's DNS.
// Prints a table per case, writes bench/results/deploy-<stamp>.json and a PNG timeline per case.
// Traffic goes only to loopback and to the containers this bench creates (names bgb-<pid>-*).
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { findExecutable, killAllNow, spawnChild, stopAll, stopChild, type Child } from './children.ts';
import { renderTimeline, type Timeline } from './deploy-chart.ts';
import { DEFAULT_SHAPE, DeployLoad, SLOW_MS, type Sample } from './deploy-load.ts';
import { caddyConfig, caddySwarmConfig, haproxyConfig, haproxySwarmConfig, nginxConfig, nginxSwarmConfig, SWARM_PEER_PORT, type PeerCommand } from './peers/configs.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const RESULTS_DIR = join(ROOT, 'bench', 'results');
const IMAGE = 'bluegreen/testapp:local';
const PORTS = [3000, 4000] as const;
const PREFIX = `bgb-${process.pid}-`;
/** The bluegreen service and host of this run (discovery sees every container on the engine). */
const SERVICE = `${PREFIX}app`;
const HOST = `${SERVICE}.localhost`;
const STOP_TIMEOUT_S = 10;
/** The graceful app closes what is left (WebSockets: close 1001) this long after SIGTERM. */
const APP_GRACE_MS = 3000;
const UNHEALTHY_WAIT_MS = 4000;
const HEALTH_WAIT_MS = 30_000;
const WARMUP_MS = 3000;
const GAP_MS = 500;
/**
 * After a deploy that stopped a port, the next one starts no sooner than this after that stop began
 * (when the port went down), so a port is re-used only after the peers' passive-health windows
 * (nginx fail_timeout, Caddy fail_duration: 5 s) have passed: real deploys are minutes apart.
 */
const PORT_REUSE_MS = 5000;

type ProxyName = 'bluegreen' | 'caddy' | 'nginx' | 'haproxy';
const PROXIES: ProxyName[] = ['bluegreen', 'caddy', 'nginx', 'haproxy'];

/**
 * How a case deploys: `seed` (docker run on the other port, wait for /health, docker stop the old
 * one), `bluegreen-deploy` (the same two ports as the colors of a compose project, released by
 * `bluegreen deploy`), `swarm` (docker stack deploy, a rolling update of a 3-replica service).
 */
type DeployKind = 'seed' | 'bluegreen-deploy' | 'swarm';

interface CaseDef {
  name: string;
  describe: string;
  kind?: DeployKind;
  /** swarm: the service's update order. */
  order?: 'start-first' | 'stop-first';
  env: Record<string, string>;
  /** The new version never becomes healthy. */
  unhealthy?: boolean;
  /** The app runs under bin/bluegreen-entrypoint. */
  entrypoint?: boolean;
  /** Proxies this case runs for (default all). */
  only?: ProxyName[];
  /**
   * The app exits at once on SIGTERM: a POST in flight then cannot be replayed safely (allowed and
   * counted), and open WebSockets die with it (allowed) unless bluegreen drained it first.
   */
  exitsAtOnce?: 'posts-may-fail' | 'websockets-may-drop';
}

const CASES: CaseDef[] = [
  { name: 'graceful', describe: `graceful SIGTERM (finishes in-flight requests, closes WebSockets with 1001 after ${APP_GRACE_MS / 1000} s)`, env: { ON_SIGTERM: 'graceful', GRACE_MS: String(APP_GRACE_MS) } },
  { name: 'exit', describe: 'exits at once on SIGTERM (in-flight requests killed)', env: { ON_SIGTERM: 'exit' }, exitsAtOnce: 'posts-may-fail' },
  { name: 'slow-start', describe: 'graceful, 3 s slow start', env: { ON_SIGTERM: 'graceful', GRACE_MS: String(APP_GRACE_MS), STARTUP_DELAY_MS: '3000' } },
  { name: 'unhealthy', describe: `new version never healthy (deploy waits ${UNHEALTHY_WAIT_MS / 1000} s for /health, then removes it)`, env: { ON_SIGTERM: 'graceful', GRACE_MS: String(APP_GRACE_MS) }, unhealthy: true },
  {
    name: 'exit+entrypoint',
    describe: 'exits at once on SIGTERM, run under bin/bluegreen-entrypoint (BLUEGREEN_TERM_DELAY=5)',
    env: { ON_SIGTERM: 'exit', BLUEGREEN_TERM_DELAY: '5' },
    entrypoint: true,
    exitsAtOnce: 'websockets-may-drop',
    only: ['bluegreen'],
  },
  {
    name: 'exit+deploy',
    describe: `exits at once on SIGTERM, released by bluegreen deploy (compose colors on ports ${3000}/${4000}: start, wait ready, switch, drain --drain-timeout 3s, stop)`,
    kind: 'bluegreen-deploy',
    env: { ON_SIGTERM: 'exit' },
    only: ['bluegreen'],
  },
  {
    name: 'swarm-start-first',
    describe: 'docker stack deploy, rolling update of 3 replicas, order start-first, parallelism 1 (graceful app)',
    kind: 'swarm',
    order: 'start-first',
    env: { ON_SIGTERM: 'graceful', GRACE_MS: String(APP_GRACE_MS) },
  },
  {
    name: 'swarm-stop-first',
    describe: 'docker stack deploy, rolling update of 3 replicas, order stop-first, parallelism 1 (graceful app)',
    kind: 'swarm',
    order: 'stop-first',
    env: { ON_SIGTERM: 'graceful', GRACE_MS: String(APP_GRACE_MS) },
  },
];

const HELP = `usage: npm run bench:deploy -- [options]

  --quick           one deploy per case, bluegreen only unless --only says otherwise (CI smoke);
                    exits 1 when bluegreen misses any target
  --deploys N       deploys per case and proxy (default 5)
  --only LIST       proxies to run, comma-separated (default bluegreen,caddy,nginx,haproxy)
  --sequential      run the proxies of a case one after another, each through its own deploys
                    (default: side by side, each with its own load, through the same deploys)
  --cases LIST      cases to run (default ${CASES.map((c) => c.name).join(',')})
  --render FILE     only print the tables and (re)draw the PNG timelines of a results JSON (bench/results/deploy-*.json)
  --bluegreen-bin F the bluegreen CLI to run (default bin/bluegreen.js of this checkout; e.g. that of a
                    clean worktree, so uncommitted edits do not end up in the figures)
`;

/** A bad command line: reported without a stack trace. */
class UsageError extends Error {}

interface Options {
  deploys: number;
  quick: boolean;
  sequential: boolean;
  proxies: ProxyName[];
  cases: CaseDef[];
  bluegreenBin: string;
  render?: string;
}

function parseOptions(argv: string[]): Options | undefined {
  let values;
  try {
    values = parseArgs({
      args: argv,
      strict: true,
      options: {
        quick: { type: 'boolean', default: false },
        sequential: { type: 'boolean', default: false },
        deploys: { type: 'string' },
        only: { type: 'string' },
        cases: { type: 'string' },
        'bluegreen-bin': { type: 'string' },
        render: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }).values;
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n\n${HELP}`);
  }
  if (values.help) {
    process.stdout.write(HELP);
    return undefined;
  }
  const deploys = values.deploys !== undefined ? Number(values.deploys) : values.quick ? 1 : 5;
  if (!Number.isInteger(deploys) || deploys < 1) throw new UsageError(`--deploys must be an integer >= 1`);
  const list = (s: string | undefined): string[] | undefined => s?.split(',').map((x) => x.trim()).filter(Boolean);
  const proxies = (list(values.only) ?? (values.quick ? ['bluegreen'] : PROXIES)) as ProxyName[];
  for (const p of proxies) if (!PROXIES.includes(p)) throw new UsageError(`--only: unknown proxy ${p}`);
  const caseNames = list(values.cases) ?? CASES.map((c) => c.name);
  const cases = caseNames.map((n) => {
    const c = CASES.find((x) => x.name === n);
    if (!c) throw new UsageError(`--cases: unknown case ${n}`);
    return c;
  });
  return { deploys, quick: values.quick, sequential: values.sequential, proxies, cases, bluegreenBin: resolve(values['bluegreen-bin'] ?? join(ROOT, 'bin', 'bluegreen.js')), render: values.render };
}


// ---------------------------------------------------------------------------------------------
// Docker

function docker(args: string[], timeoutMs = 60_000): Promise<string> {
  return new Promise((res, rej) => {
    const p = spawn('docker', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (c: Buffer) => (out += c.toString()));
    p.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) res(out);
      else rej(new Error(`docker ${args.join(' ')} failed (${code}): ${err.trim() || out.trim()}`));
    });
  });
}

function removeOurContainersSync(): void {
  swarmHost.teardownSync();
  const ps = spawnSync('docker', ['ps', '-aq', '--filter', `name=^${PREFIX}`], { encoding: 'utf8' });
  const ids = (ps.stdout ?? '').split('\n').filter(Boolean);
  if (ids.length) spawnSync('docker', ['rm', '-f', ...ids], { stdio: 'ignore' });
}

let containerSeq = 0;

/** Starts the app on `port` (host network), labelled for bluegreen. Resolves with its name. */
async function startApp(c: CaseDef, port: number, version: string, healthy: boolean): Promise<string> {
  const name = `${PREFIX}${c.name.replace(/[^a-z0-9-]/g, '-')}-${++containerSeq}`;
  const env = { ...c.env, PORT: String(port), NAME: name, VERSION: version, HEALTHY: String(healthy) };
  const args = ['run', '-d', '--name', name, '--network', 'host', '--stop-timeout', String(STOP_TIMEOUT_S)];
  for (const [k, v] of Object.entries(env)) args.push('-e', `${k}=${v}`);
  const labels = {
    'bluegreen.service': SERVICE,
    'bluegreen.hosts': HOST,
    'bluegreen.port': String(port),
    'bluegreen.healthcheck.path': '/health',
  };
  for (const [k, v] of Object.entries(labels)) args.push('--label', `${k}=${v}`);
  if (c.entrypoint) {
    args.push('-v', `${join(ROOT, 'bin', 'bluegreen-entrypoint')}:/usr/local/bin/bluegreen-entrypoint:ro`, '--entrypoint', '/usr/local/bin/bluegreen-entrypoint');
    args.push(IMAGE, 'node', '/app/server.js');
  } else args.push(IMAGE);
  await docker(args);
  return name;
}

// ---------------------------------------------------------------------------------------------
// Small helpers

const sleep = (ms: number): Promise<void> => new Promise((res) => setTimeout(res, ms));

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => res(port));
    });
  });
}

function portFree(port: number): Promise<boolean> {
  return new Promise((res) => {
    const srv = createServer();
    srv.once('error', () => res(false));
    srv.listen(port, '0.0.0.0', () => srv.close(() => res(true)));
  });
}

function get(url: string, host?: string): Promise<{ status: number; body: string }> {
  return new Promise((res, rej) => {
    const req = request(url, { agent: false, timeout: 2000, headers: host ? { host } : {} }, (resp) => {
      let body = '';
      resp.on('data', (c: Buffer) => (body += c.toString()));
      resp.on('end', () => res({ status: resp.statusCode ?? 0, body }));
      resp.on('error', rej);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', rej);
    req.end();
  });
}

/** Polls `url` until it answers 200; false after timeoutMs. */
async function waitOk(url: string, timeoutMs: number, host?: string): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      if ((await get(url, host)).status === 200) return true;
    } catch {
      // not yet
    }
    await sleep(100);
  }
  return false;
}

function versionOf(bin: string, args: string[], re: RegExp): string {
  const r = spawnSync(bin, args, { encoding: 'utf8' });
  return re.exec(`${r.stdout}${r.stderr}`)?.[1] ?? 'unknown';
}

// ---------------------------------------------------------------------------------------------
// One case for one proxy

interface DeployRecord {
  start: number;
  end: number;
  healthy: boolean;
  /** From the start until the new version answered /health. */
  readyMs?: number;
  /** How long `docker stop` of the old version took. */
  stopMs?: number;
}

interface Row {
  case: string;
  proxy: ProxyName;
  version?: string;
  config?: string;
  skipped?: string;
  sent?: number;
  failed?: number;
  failedByKind?: Record<string, number>;
  failedByRequest?: Record<string, number>;
  failedIdempotent?: number;
  /** POSTs answered 502 "lost the connection to upstream" (written, then the connection broke: not replayable). */
  postsLostConnection?: number;
  wsDropped?: number;
  wsClosed?: number;
  wsMessagesLost?: number;
  servedByUnhealthy?: number;
  p99SteadyMs?: number;
  p99DeployMs?: number;
  maxHoldMs?: number;
  throughputRps?: number;
  seconds?: number;
  deploys?: DeployRecord[];
  failureSamples?: string[];
  timeline?: Timeline;
}

interface Running {
  url: string;
  child: Child;
  /** bluegreen's admin API. */
  adminUrl?: string;
}

async function startProxy(proxy: ProxyName, tmp: string, opts: Options): Promise<Running & { version: string; config: string }> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let child: Child;
  let version: string;
  let config: string;
  let adminUrl: string | undefined;
  if (proxy === 'bluegreen') {
    const adminPort = await freePort();
    adminUrl = `http://127.0.0.1:${adminPort}`;
    child = spawnChild('bluegreen', process.execPath, [opts.bluegreenBin, 'serve', '--listen', `127.0.0.1:${port}`, '--admin', `127.0.0.1:${adminPort}`, '--host-address', '127.0.0.1'], { cwd: ROOT });
    version = bluegreenVersion(opts);
    config = 'labels bluegreen.service, bluegreen.port, bluegreen.healthcheck.path=/health; defaults';
  } else {
    const bin = findExecutable(proxy)!;
    const dir = join(tmp, proxy);
    const cmd: PeerCommand = (proxy === 'caddy' ? caddyConfig : proxy === 'nginx' ? nginxConfig : haproxyConfig)(bin, dir, port, [...PORTS]);
    child = spawnChild(proxy, cmd.cmd, cmd.args, { cwd: ROOT, env: cmd.env });
    version = peerVersion(proxy, bin);
    config = cmd.describe;
  }
  if (!(await waitOk(`${url}/ready-check`, 20_000, HOST))) {
    throw new Error(`${proxy} did not answer through ${url} (${child.exitText || 'running'}):\n${child.tail()}`);
  }
  return { url, child, version, config, adminUrl };
}

/** The package version of the bluegreen that runs, and its commit when it is a git checkout. */
function bluegreenVersion(opts: Options): string {
  const dir = dirname(dirname(opts.bluegreenBin));
  const commit = spawnSync('git', ['-C', dir, 'describe', '--always', '--dirty'], { encoding: 'utf8' }).stdout.trim();
  let pkg = '';
  try {
    pkg = (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version?: string }).version ?? '';
  } catch {
    // no package.json next to it
  }
  return [pkg, commit && `@${commit}`].filter(Boolean).join(' ');
}

function peerVersion(proxy: ProxyName, bin: string): string {
  if (proxy === 'caddy') return versionOf(bin, ['version'], /v?(\d+\.\d+\.\d+)/);
  if (proxy === 'nginx') return versionOf(bin, ['-v'], /nginx\/(\S+)/);
  return versionOf(bin, ['-v'], /version (\S+)/);
}

function percentile(values: number[], p: number): number | undefined {
  if (!values.length) return undefined;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}

/** Runs case `c` once for `proxies` side by side (each its own load, the same deploys): a row each. */
async function runCase(c: CaseDef, proxies: ProxyName[], opts: Options, tmp: string): Promise<Row[]> {
  if (c.kind === 'bluegreen-deploy') return [await runBluegreenDeployCase(c, opts, tmp)];
  if (c.kind === 'swarm') return runSwarmCase(c, proxies, opts, tmp);
  let slot = 0;
  let current = await startApp(c, PORTS[slot], 'v0', true);
  if (!(await waitOk(`http://127.0.0.1:${PORTS[slot]}/health`, HEALTH_WAIT_MS))) throw new Error(`the first app (${current}) never became healthy`);
  const running: (Running & { version: string; config: string; proxy: ProxyName })[] = [];
  const loads: DeployLoad[] = [];
  const deploys: DeployRecord[] = [];
  let t0 = 0;
  let tStop = 0;
  let stopBegan = 0;
  try {
    for (const proxy of proxies) running.push({ ...(await startProxy(proxy, tmp, opts)), proxy });
    for (const p of running) loads.push(new DeployLoad(p.url, HOST).start());
    t0 = Date.now();
    await sleep(WARMUP_MS);
    for (let i = 1; i <= opts.deploys; i++) {
      const next = 1 - slot;
      const healthy = !c.unhealthy;
      const rec: DeployRecord = { start: Date.now(), end: 0, healthy: false };
      const fresh = await startApp(c, PORTS[next], healthy ? `v${i}` : 'unhealthy', healthy);
      const ok = await waitOk(`http://127.0.0.1:${PORTS[next]}/health`, c.unhealthy ? UNHEALTHY_WAIT_MS : HEALTH_WAIT_MS);
      if (ok) {
        rec.healthy = true;
        rec.readyMs = Date.now() - rec.start;
        const s0 = Date.now();
        stopBegan = s0;
        await docker(['stop', '-t', String(STOP_TIMEOUT_S), current]);
        rec.stopMs = Date.now() - s0;
        await docker(['rm', '-f', current]);
        current = fresh;
        slot = next;
      } else {
        await docker(['rm', '-f', fresh]);
      }
      rec.end = Date.now();
      deploys.push(rec);
      await sleep(Math.max(GAP_MS, stopBegan + PORT_REUSE_MS - Date.now()));
    }
  } finally {
    tStop = Date.now();
    await Promise.all(loads.map((l) => l.stop()));
    await Promise.all(running.map((p) => stopChild(p.child, 15_000)));
    await docker(['rm', '-f', current]).catch(() => {});
  }
  return running.map((p, i) => summarize(c, p.proxy, p, loads[i]!, deploys, t0, tStop));
}

// ---------------------------------------------------------------------------------------------
// Case: the exit-at-once app released by `bluegreen deploy` (compose colors on the seed ports)

const COMPOSE_PROJECT = `${PREFIX}compose`;

function composeColorsFile(c: CaseDef): string {
  const color = (name: 'blue' | 'green', port: number): string[] => [
    `  ${SERVICE}-${name}:`,
    `    image: ${IMAGE}`,
    `    network_mode: host`,
    `    stop_grace_period: ${STOP_TIMEOUT_S}s`,
    `    environment:`,
    ...Object.entries({ ...c.env, PORT: String(port), NAME: `${SERVICE}-${name}`, VERSION: '${VERSION:-v0}' }).map(([k, v]) => `      ${k}: "${v}"`),
    `    labels:`,
    ...Object.entries({
      'bluegreen.service': SERVICE,
      'bluegreen.color': name,
      'bluegreen.hosts': HOST,
      'bluegreen.port': String(port),
      'bluegreen.healthcheck.path': '/health',
    }).map(([k, v]) => `      ${k}: "${v}"`),
  ];
  return ['# written by bench/deploy.ts: the two colors of the exit+deploy case', 'services:', ...color('blue', PORTS[0]), ...color('green', PORTS[1]), ''].join('\n');
}

/** Runs a command; resolves with its exit code and output (never rejects on a non-zero exit). */
function runCommand(cmd: string, args: string[], env: Record<string, string>, timeoutMs: number): Promise<{ code: number; out: string }> {
  return new Promise((res) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let out = '';
    p.stdout.on('data', (b: Buffer) => (out += b.toString()));
    p.stderr.on('data', (b: Buffer) => (out += b.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('error', (err) => {
      clearTimeout(timer);
      res({ code: -1, out: `${out}${err.message}` });
    });
    p.on('close', (code) => {
      clearTimeout(timer);
      res({ code: code ?? -1, out });
    });
  });
}

async function runBluegreenDeployCase(c: CaseDef, opts: Options, tmp: string): Promise<Row> {
  const file = join(tmp, 'bluegreen-deploy.yml');
  writeFileSync(file, composeColorsFile(c));
  const compose = async (args: string[], env: Record<string, string> = {}): Promise<void> => {
    const r = await runCommand('docker-compose', ['-f', file, '-p', COMPOSE_PROJECT, ...args], env, 120_000);
    if (r.code !== 0) throw new Error(`docker-compose ${args.join(' ')} failed (${r.code}): ${r.out.trim()}`);
  };
  await compose(['up', '-d', '--no-deps', `${SERVICE}-blue`], { VERSION: 'v0' });
  if (!(await waitOk(`http://127.0.0.1:${PORTS[0]}/health`, HEALTH_WAIT_MS))) throw new Error(`the blue color never became healthy`);
  const p = await startProxy('bluegreen', tmp, opts);
  const load = new DeployLoad(p.url, HOST).start();
  const t0 = Date.now();
  const deploys: DeployRecord[] = [];
  let tStop = 0;
  try {
    await sleep(WARMUP_MS);
    for (let i = 1; i <= opts.deploys; i++) {
      const rec: DeployRecord = { start: Date.now(), end: 0, healthy: false };
      const args = [opts.bluegreenBin, 'deploy', SERVICE, '-f', file, '-p', COMPOSE_PROJECT, '--admin', p.adminUrl!, '--timeout', '30s', '--drain-timeout', '3s'];
      const r = await runCommand(process.execPath, args, { VERSION: `v${i}`, BLUEGREEN_COMPOSE: 'docker-compose' }, 120_000);
      if (r.code !== 0) throw new Error(`bluegreen deploy ${SERVICE} exited ${r.code}:\n${r.out.trim()}`);
      rec.healthy = true;
      rec.end = Date.now();
      deploys.push(rec);
      await sleep(GAP_MS);
    }
  } finally {
    tStop = Date.now();
    await load.stop();
    await stopChild(p.child, 15_000);
    await runCommand('docker-compose', ['-f', file, '-p', COMPOSE_PROJECT, 'down', '-t', '0'], {}, 60_000);
  }
  return summarize(c, 'bluegreen', p, load, deploys, t0, tStop);
}

// ---------------------------------------------------------------------------------------------
// Swarm cases: docker stack deploy on the host engine's single-node swarm

const SWARM_LOCK = '/tmp/bluegreen-host-swarm.lock';
const SWARM_REPLICAS = 3;
const SWARM_PROXY_IMAGE = 'bgb-bench/bluegreen:local';

/**
 * The host engine's swarm for the swarm cases: the host-wide lock is held from setup to teardown;
 * the swarm is inited only when the engine had none (and left again only then); the overlay
 * network and stacks are this run's own.
 */
class SwarmHost {
  readonly network = `${PREFIX}net`;
  readonly stacks = new Set<string>();
  #lock: ReturnType<typeof spawn> | undefined;
  #inited = false;
  #gwbridgeBefore = true;
  #ready: Promise<void> | undefined;

  setup(opts: Options): Promise<void> {
    this.#ready ??= this.#setup(opts);
    return this.#ready;
  }

  async #setup(opts: Options): Promise<void> {
    if (!findExecutable('flock')) throw new Error('flock (util-linux) is needed for the swarm cases');
    const lock = spawn('flock', [SWARM_LOCK, '-c', 'echo locked; exec cat'], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.#lock = lock;
    process.stdout.write(` (waiting for ${SWARM_LOCK})`);
    await new Promise<void>((res, rej) => {
      lock.stdout!.once('data', () => res());
      lock.once('exit', (code) => rej(new Error(`flock ${SWARM_LOCK} exited ${code}`)));
    });
    const swarm = JSON.parse(await docker(['info', '--format', '{{json .Swarm}}'])) as { LocalNodeState: string; ControlAvailable: boolean };
    this.#gwbridgeBefore = (await docker(['network', 'ls', '-q', '--filter', 'name=^docker_gwbridge$'])).trim() !== '';
    if (swarm.LocalNodeState === 'inactive') {
      await docker(['swarm', 'init', '--advertise-addr', '127.0.0.1']);
      this.#inited = true;
    } else if (swarm.LocalNodeState !== 'active' || !swarm.ControlAvailable) {
      throw new Error(`the engine is in a swarm but not a manager (${JSON.stringify(swarm)}): stacks need a manager`);
    }
    await docker(['network', 'create', '--driver', 'overlay', '--attachable', this.network]);
    // The proxy runs as a stack service: an image of the bluegreen being measured.
    const dir = dirname(dirname(opts.bluegreenBin));
    // Its staging dir (.build/image) is shared with other builds from the same checkout: one retry.
    // `npm run -s` sets npm_config_loglevel=silent: the script's `npm ci | grep` would then see no line and fail.
    const env: NodeJS.ProcessEnv = { ...process.env, TAG: SWARM_PROXY_IMAGE };
    delete env.npm_config_loglevel;
    let built = spawnSync('bash', [join(dir, 'scripts', 'build-proxy-image.sh')], { cwd: dir, encoding: 'utf8', env });
    if (built.status !== 0) built = spawnSync('bash', [join(dir, 'scripts', 'build-proxy-image.sh')], { cwd: dir, encoding: 'utf8', env });
    if (built.status !== 0) throw new Error(`scripts/build-proxy-image.sh failed (${built.status ?? built.signal}):\n${built.stdout}${built.stderr}`);
  }

  /** Removes a stack and waits until its containers are gone. */
  removeStackSync(stack: string): void {
    spawnSync('docker', ['stack', 'rm', stack], { stdio: 'ignore' });
    for (let i = 0; i < 120; i++) {
      const ps = spawnSync('docker', ['ps', '-aq', '--filter', `label=com.docker.stack.namespace=${stack}`], { encoding: 'utf8' });
      if (!(ps.stdout ?? '').trim()) break;
      spawnSync('sleep', ['0.5']);
    }
    this.stacks.delete(stack);
  }

  /** Everything this run made, synchronously (also on exit); then the lock is released. */
  teardownSync(): void {
    if (!this.#lock) return;
    for (const stack of [...this.stacks]) this.removeStackSync(stack);
    for (let i = 0; i < 60; i++) {
      const r = spawnSync('docker', ['network', 'rm', this.network], { encoding: 'utf8' });
      if (r.status === 0 || /not found|No such network/i.test(r.stderr ?? '')) break;
      spawnSync('sleep', ['0.5']);
    }
    if (this.#inited) {
      const services = (spawnSync('docker', ['service', 'ls', '-q'], { encoding: 'utf8' }).stdout ?? '').trim();
      if (services) process.stderr.write(`bench:deploy: not leaving the swarm this run created: other services run on it now\n`);
      else {
        spawnSync('docker', ['swarm', 'leave', '--force'], { stdio: 'ignore' });
        if (!this.#gwbridgeBefore) spawnSync('docker', ['network', 'rm', 'docker_gwbridge'], { stdio: 'ignore' });
      }
      this.#inited = false;
    }
    this.#lock.stdin?.end();
    this.#lock.kill();
    this.#lock = undefined;
  }
}

const swarmHost = new SwarmHost();

/** A proxy of a swarm case: a service of the stack, published in mode host on its own port. */
interface SwarmProxy {
  proxy: ProxyName;
  /** The service's name in the stack file (`proxy` for bluegreen, else the peer's name). */
  service: string;
  port: number;
  image: string;
  /** Peers: the host dir bind-mounted at /etc/bench (their config file). */
  configDir?: string;
  version: string;
  config: string;
}

function swarmStackFile(c: CaseDef, version: string, proxies: SwarmProxy[], gid: number): string {
  const env = { ...c.env, NAME: `${SERVICE}-${version}`, VERSION: version };
  const service = (p: SwarmProxy): string[] => [
    `  ${p.service}:`,
    `    image: ${p.image}`,
    ...(p.proxy === 'bluegreen'
      ? [
          '    command: ["serve", "--listen", "0.0.0.0:8080", "--log-level", "warn"]',
          `    user: "1000:${gid}"`,
          '    volumes:',
          '      - { type: bind, source: /var/run/docker.sock, target: /var/run/docker.sock, read_only: true }',
        ]
      : ['    volumes:', `      - { type: bind, source: ${p.configDir}, target: /etc/bench, read_only: true }`]),
    '    ports:',
    `      - { target: ${p.proxy === 'bluegreen' ? 8080 : SWARM_PEER_PORT}, published: ${p.port}, protocol: tcp, mode: host }`,
    '    networks: [net]',
    '    stop_grace_period: 15s',
    '    deploy:',
    '      replicas: 1',
    '      placement: { constraints: [node.role == manager] }',
  ];
  return [
    '# written by bench/deploy.ts: a swarm case (pattern of compose/swarm.yml), the proxies side by side',
    'version: "3.8"',
    'services:',
    ...proxies.flatMap(service),
    '  app:',
    `    image: ${IMAGE}`,
    '    environment:',
    ...Object.entries(env).map(([k, v]) => `      ${k}: "${v}"`),
    '    labels:',
    `      bluegreen.service: "${SERVICE}"`,
    '    healthcheck: { test: ["CMD", "node", "/app/healthcheck.js"], interval: 1s, timeout: 2s, retries: 2, start_period: 10s }',
    `    stop_grace_period: ${STOP_TIMEOUT_S}s`,
    '    networks: [net]',
    '    deploy:',
    `      replicas: ${SWARM_REPLICAS}`,
    '      endpoint_mode: dnsrr',
    `      labels: { bluegreen.hosts: "${HOST}" }`,
    `      update_config: { order: ${c.order ?? 'start-first'}, parallelism: 1, delay: 0s, monitor: 1s, failure_action: pause }`,
    'networks:',
    `  net: { external: true, name: ${swarmHost.network} }`,
    '',
  ].join('\n');
}

/** Images of the peers for the swarm cases (bench/peers/build-images.sh), built once a run: tag or skip reason. */
const peerImages = new Map<ProxyName, { tag?: string; skipped?: string }>();

function peerImage(proxy: ProxyName): { tag?: string; skipped?: string } {
  const known = peerImages.get(proxy);
  if (known) return known;
  const r = spawnSync('bash', [join(ROOT, 'bench', 'peers', 'build-images.sh'), proxy], { cwd: ROOT, encoding: 'utf8' });
  const line = (r.stdout ?? '').split('\n').find((l) => l.startsWith(`${proxy} `));
  const m = line ? /^\S+ (ok|skipped) (.*)$/.exec(line) : null;
  const result =
    r.status === 0 && m?.[1] === 'ok'
      ? { tag: m[2]! }
      : { skipped: `no container image: ${m?.[1] === 'skipped' ? m[2] : `bench/peers/build-images.sh failed (${r.status ?? r.signal}): ${(r.stderr ?? '').trim().split('\n').pop() ?? ''}`}` };
  peerImages.set(proxy, result);
  return result;
}

async function waitUntil(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await sleep(250);
  }
}

/** A swarm case: one stack with the app and a service per proxy, all through the same rolling updates. */
async function runSwarmCase(c: CaseDef, proxies: ProxyName[], opts: Options, tmp: string): Promise<Row[]> {
  await swarmHost.setup(opts);
  const stack = `${PREFIX}${c.name.replace(/[^a-z0-9-]/g, '-')}`;
  const appService = `${stack}_app`;
  const file = join(tmp, `${stack}.yml`);
  const gid = statSync('/var/run/docker.sock').gid;
  const skipped = new Map<ProxyName, string>();
  const members: SwarmProxy[] = [];
  for (const proxy of proxies) {
    const port = await freePort();
    if (proxy === 'bluegreen') {
      members.push({ proxy, service: 'proxy', port, image: SWARM_PROXY_IMAGE, version: `${bluegreenVersion(opts)} (stack service)`, config: `stack service on overlay ${swarmHost.network}, labels; defaults` });
      continue;
    }
    const img = peerImage(proxy);
    if (!img.tag) {
      skipped.set(proxy, img.skipped ?? 'no container image');
      continue;
    }
    const configDir = join(tmp, `swarm-${c.name.replace(/[^a-z0-9-]/g, '-')}-${proxy}`);
    const cfg = (proxy === 'caddy' ? caddySwarmConfig : proxy === 'nginx' ? nginxSwarmConfig : haproxySwarmConfig)(configDir, appService, 8080);
    members.push({ proxy, service: proxy, port, image: img.tag, configDir, version: `${peerVersion(proxy, findExecutable(proxy)!)} (stack service)`, config: cfg.describe });
  }
  const deployStack = async (version: string): Promise<void> => {
    writeFileSync(file, swarmStackFile(c, version, members, gid));
    await docker(['stack', 'deploy', '--resolve-image', 'never', '-c', file, stack], 120_000);
  };
  swarmHost.stacks.add(stack);
  const running: SwarmProxy[] = [];
  const loads: DeployLoad[] = [];
  const deploys: DeployRecord[] = [];
  let t0 = 0;
  let tStop = 0;
  try {
    await deployStack('v0');
    await waitUntil(`${SWARM_REPLICAS} tasks of ${appService} and the proxies`, 120_000, async () => {
      const out = await docker(['service', 'ls', '--filter', `name=${stack}_`, '--format', '{{.Name}} {{.Replicas}}']);
      return out.includes(`${appService} ${SWARM_REPLICAS}/${SWARM_REPLICAS}`) && members.every((m) => out.includes(`${stack}_${m.service} 1/1`));
    });
    // Each proxy must forward before the load starts (they became ready together: one wait each).
    const ready = await Promise.all(members.map((m) => waitOk(`http://127.0.0.1:${m.port}/ready-check`, 60_000, HOST)));
    members.forEach((m, i) => {
      if (ready[i]) running.push(m);
      else if (m.proxy === 'bluegreen') throw new Error(`the swarm proxy did not answer for ${HOST} on port ${m.port}`);
      else skipped.set(m.proxy, `did not forward within 60 s (its log: bench/results/${stack}-${m.service}.log)`);
    });
    await sleep(2000); // every task registered and ready, not only the first
    for (const m of running) loads.push(new DeployLoad(`http://127.0.0.1:${m.port}`, HOST).start());
    t0 = Date.now();
    await sleep(WARMUP_MS);
    for (let i = 1; i <= opts.deploys; i++) {
      const rec: DeployRecord = { start: Date.now(), end: 0, healthy: false };
      await deployStack(`v${i}`);
      await waitUntil(`the rolling update of ${appService} to v${i}`, 180_000, async () => {
        const raw = await docker(['service', 'inspect', '--format', '{{json .UpdateStatus}}', appService]);
        const st = JSON.parse(raw) as { State?: string; StartedAt?: string; Message?: string } | null;
        if (!st?.StartedAt || Date.parse(st.StartedAt) < rec.start - 2000) return false;
        if (st.State === 'paused' || st.State?.startsWith('rollback')) throw new Error(`update ${st.State}: ${st.Message ?? ''}`);
        return st.State === 'completed';
      });
      rec.healthy = true;
      rec.readyMs = Date.now() - rec.start;
      rec.end = Date.now();
      deploys.push(rec);
      await sleep(GAP_MS);
    }
  } finally {
    tStop = Date.now();
    await Promise.all(loads.map((l) => l.stop()));
    // Each proxy's task history and last log lines, for a failed or surprising run.
    mkdirSync(RESULTS_DIR, { recursive: true });
    for (const m of members) {
      const svc = `${stack}_${m.service}`;
      const tasks = await docker(['service', 'ps', '--no-trunc', '--format', '{{.Name}} {{.CurrentState}} {{.Error}}', svc]).catch((e: Error) => e.message);
      // (`service logs` writes the tasks' stderr to its stderr: runCommand keeps both)
      const logs = (await runCommand('docker', ['service', 'logs', '--raw', '--tail', '40', svc], {}, 30_000)).out;
      writeFileSync(join(RESULTS_DIR, `${stack}-${m.service}.log`), `${tasks}\n${logs}`);
    }
    swarmHost.removeStackSync(stack);
  }
  return proxies.map((proxy) => {
    const i = running.findIndex((m) => m.proxy === proxy);
    if (i >= 0) return summarize(c, proxy, running[i]!, loads[i]!, deploys, t0, tStop);
    return { case: c.name, proxy, skipped: skipped.get(proxy) ?? 'not run' };
  });
}

function summarize(c: CaseDef, proxy: ProxyName, p: { version: string; config: string }, load: DeployLoad, deploys: DeployRecord[], t0: number, t1: number): Row {
  const samples = load.samples;
  // A request is "during a deploy" when it overlaps a deploy window (plus 1 s after it).
  const inDeploy = (s: Sample): boolean => deploys.some((d) => s.start <= d.end + 1000 && s.end >= d.start);
  const failed = samples.filter((s) => s.failure);
  const byKind: Record<string, number> = {};
  const byRequest: Record<string, number> = {};
  for (const s of failed) {
    byKind[s.failure!] = (byKind[s.failure!] ?? 0) + 1;
    byRequest[s.kind] = (byRequest[s.kind] ?? 0) + 1;
  }
  const short = samples.filter((s) => !s.failure && (s.kind === 'get' || s.kind === 'post8k'));
  const hold = (s: Sample): number => s.end - s.start - (s.kind === 'slow' ? SLOW_MS : 0);
  const secs = (t1 - t0) / 1000;
  // The timeline: whole seconds until the load was told to stop (what ends later is counted in the
  // totals, not drawn: the last partial second would look like a drop).
  const n = Math.max(1, Math.floor(secs));
  const okPerSec = new Array<number>(n).fill(0);
  const failedPerSec = new Array<number>(n).fill(0);
  const wsDroppedPerSec = new Array<number>(n).fill(0);
  const bucket = (t: number): number => Math.max(0, Math.floor((t - t0) / 1000));
  for (const s of samples) {
    const b = bucket(s.end);
    if (b < n) (s.failure ? failedPerSec : okPerSec)[b]!++;
  }
  for (const e of load.wsEvents) if (e.type === 'dropped' && bucket(e.t) < n) wsDroppedPerSec[bucket(e.t)]!++;
  const wsDropped = load.wsEvents.filter((e) => e.type === 'dropped').length;
  return {
    case: c.name,
    proxy,
    version: p.version,
    config: p.config,
    sent: samples.length,
    failed: failed.length,
    failedByKind: byKind,
    failedByRequest: byRequest,
    failedIdempotent: failed.filter((s) => s.kind === 'get' || s.kind === 'slow').length,
    postsLostConnection: failed.filter((s) => (s.kind === 'post8k' || s.kind === 'post1m') && /^502 lost the connection to upstream/.test(s.detail ?? '')).length,
    wsDropped,
    wsClosed: load.wsEvents.length - wsDropped,
    wsMessagesLost: load.wsMessagesLost,
    servedByUnhealthy: samples.filter((s) => s.version === 'unhealthy').length,
    p99SteadyMs: percentile(short.filter((s) => !inDeploy(s)).map((s) => s.end - s.start), 99),
    p99DeployMs: percentile(short.filter(inDeploy).map((s) => s.end - s.start), 99),
    maxHoldMs: samples.reduce((m, s) => (s.failure ? m : Math.max(m, hold(s))), 0),
    throughputRps: Math.round((samples.length - failed.length) / secs),
    seconds: Math.round(secs),
    deploys: deploys.map((d) => ({ ...d, start: d.start - t0, end: d.end - t0 })),
    failureSamples: [
      ...failed.slice(0, 8).map((s) => `+${((s.start - t0) / 1000).toFixed(1)}s ${s.kind} ${s.failure} ${s.detail ?? ''}`.replace(/\s+/g, ' ').slice(0, 160)),
      ...load.wsEvents.filter((e) => e.type === 'dropped').slice(0, 4).map((e) => `+${((e.t - t0) / 1000).toFixed(1)}s ws dropped ${e.detail}`.replace(/\s+/g, ' ').slice(0, 160)),
    ],
    timeline: {
      proxy: `${proxy} ${p.version}`,
      okPerSec,
      failedPerSec,
      wsDroppedPerSec,
      deploys: deploys.map((d) => ({ from: (d.start - t0) / 1000, to: (d.end - t0) / 1000 })),
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Report

const ms = (n: number | undefined): string => (n === undefined ? '-' : `${Math.round(n)} ms`);

function tableLines(rows: Row[]): string[] {
  const head = ['proxy', 'sent', 'failed', 'seconds with failures', '5xx', 'reset', 'timeout', 'other', 'WS dropped', 'WS closed', 'p99 steady', 'p99 deploy', 'max hold', 'req/s'];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => ' --- ').join('|')}|`];
  for (const r of rows) {
    if (r.skipped) {
      lines.push(`| ${r.proxy} | skipped: ${r.skipped} |${head.slice(2).map(() => '  ').join('|')}|`);
      continue;
    }
    const k = r.failedByKind ?? {};
    const failed = r.failed ? `**${r.failed}**` : '0';
    const failSecs = r.timeline ? r.timeline.failedPerSec.filter((n, i) => n > 0 || (r.timeline!.wsDroppedPerSec[i] ?? 0) > 0).length : 0;
    lines.push(
      `| ${r.proxy} ${r.version} | ${r.sent} | ${failed} | ${failSecs} | ${k['5xx'] ?? 0} | ${k.reset ?? 0} | ${k.timeout ?? 0} | ${k.other ?? 0} | ${r.wsDropped} | ${r.wsClosed} | ${ms(r.p99SteadyMs)} | ${ms(r.p99DeployMs)} | ${ms(r.maxHoldMs)} | ${r.throughputRps} |`,
    );
  }
  return lines;
}

/**
 * bluegreen's targets (issue 4), as misses: no failed request of any kind and no dropped WebSocket
 * in any case, and no response from a never-healthy version; except that with an app that exits
 * at once a POST in flight may fail (and its WebSockets drop), and under the entrypoint its
 * WebSockets may drop when it exits (requests must not fail). Every miss fails --quick. (A POST a
 * graceful app reset at SIGTERM before reading it was once allowed here as a race on the app's
 * side; since POSTs go upstream with `Expect: 100-continue` it is sent elsewhere, so it counts.)
 */
function targetMisses(c: CaseDef, r: Row): { text: string; gating: boolean }[] {
  if (r.proxy !== 'bluegreen' || r.skipped) return [];
  const misses: { text: string; gating: boolean }[] = [];
  const k = r.failedByKind ?? {};
  const posts = (r.failedByRequest?.post8k ?? 0) + (r.failedByRequest?.post1m ?? 0);
  if (r.failedIdempotent) misses.push({ text: `${r.failedIdempotent} failed GETs`, gating: true });
  const odd = (k.timeout ?? 0) + (k.other ?? 0);
  if (odd) misses.push({ text: `${odd} requests timed out or got a bad answer`, gating: true });
  if (posts > 0 && c.exitsAtOnce !== 'posts-may-fail') {
    misses.push({ text: `${posts} failed POSTs (${r.postsLostConnection ?? 0} of them 502 "lost the connection")`, gating: true });
  }
  if (r.wsDropped && !c.exitsAtOnce) misses.push({ text: `${r.wsDropped} WebSockets dropped without a close frame`, gating: true });
  if (r.servedByUnhealthy) misses.push({ text: `${r.servedByUnhealthy} responses from the never-healthy version`, gating: true });
  return misses;
}

async function main(): Promise<number> {
  const opts = parseOptions(process.argv.slice(2));
  if (!opts) return 0;
  if (opts.render) return renderFromJson(opts.render);
  const tmp = mkdtempSync(join(tmpdir(), 'bgb-deploy-'));
  chmodSync(tmp, 0o755); // nginx's workers (user nobody) keep request bodies under it
  tmpDir = tmp;
  try {
    return await run(opts, tmp);
  } finally {
    await stopAll();
    removeOurContainersSync();
    removeTmp();
  }
}

/** Draws the timelines of a results JSON again (PNG files next to it). */
async function renderFromJson(file: string): Promise<number> {
  type JsonRow = Row & { timeline?: Omit<Timeline, 'proxy' | 'deploys'> };
  const json = JSON.parse(readFileSync(file, 'utf8')) as { cases: { name: string; describe: string }[]; rows: JsonRow[] };
  for (const c of json.cases) {
    const timelines: Timeline[] = json.rows
      .filter((r) => r.case === c.name)
      .map((r) =>
        r.timeline
          ? { ...r.timeline, proxy: `${r.proxy} ${r.version ?? ''}`.trim(), deploys: (r.deploys ?? []).map((d) => ({ from: d.start / 1000, to: d.end / 1000 })) }
          : { proxy: r.proxy, okPerSec: [], failedPerSec: [], wsDroppedPerSec: [], deploys: [], skipped: r.skipped ?? 'not run' },
      );
    const png = file.replace(/\.json$/, `-${c.name.replace(/[^a-z0-9-]/g, '-')}.png`);
    await renderTimeline(png, `deploy benchmark: ${c.name} — ${c.describe}`, timelines);
    const rows = json.rows.filter((r) => r.case === c.name) as Row[];
    process.stdout.write(`\n${c.name}: ${c.describe}\n${tableLines(rows).join('\n')}\n${relative(ROOT, png)}\n`);
  }
  return 0;
}

let tmpDir: string | undefined;
function removeTmp(): void {
  if (tmpDir) rmSync(tmpDir, { recursive: true, force: true });
  tmpDir = undefined;
}

async function run(opts: Options, tmp: string): Promise<number> {
  const started = new Date();
  const stamp = started.toISOString().replace(/[:.]/g, '-');
  const say = (s = ''): void => void process.stdout.write(`${s}\n`);
  for (const port of PORTS) if (!(await portFree(port))) throw new Error(`port ${port} is in use on this host: the seed scenario needs 3000 and 4000 free`);
  await docker(['version', '--format', '{{.Server.Version}}']).catch((err: Error) => {
    throw new Error(`Docker Engine does not answer (run scripts/ensure-docker.sh): ${err.message}`);
  });
  // The test app image (built offline by scripts/build-images.sh; a no-op when up to date).
  const built = spawnSync('bash', [join(ROOT, 'scripts', 'build-images.sh')], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` } });
  if (built.status !== 0) throw new Error(`scripts/build-images.sh failed:\n${built.stderr}`);

  const installed = new Map<ProxyName, string | undefined>(PROXIES.map((p) => [p, p === 'bluegreen' ? process.execPath : findExecutable(p)]));
  const machine = { cores: availableParallelism(), cpu: cpus()[0]?.model.trim(), node: process.version, docker: (await docker(['version', '--format', '{{.Server.Version}}'])).trim() };
  say(`bluegreen deploy benchmark — ${started.toISOString()}`);
  say(`machine: ${machine.cores} cores (${machine.cpu}); node ${machine.node}; Docker Engine ${machine.docker}`);
  say(`load per proxy: ${DEFAULT_SHAPE.get} GET, ${DEFAULT_SHAPE.post8k} 8 KiB POST, ${DEFAULT_SHAPE.post1m} 1 MiB POST, ${DEFAULT_SHAPE.slow} slow (${SLOW_MS} ms) workers back to back, ${DEFAULT_SHAPE.websockets} WebSockets (a message per 100 ms)`);
  say(`proxies of a case: ${opts.sequential ? 'one after another, each through its own deploys (--sequential)' : 'side by side, each with its own load, through the same deploys'}`);
  say(`deploys per case: ${opts.deploys}; docker stop -t ${STOP_TIMEOUT_S}; app ports ${PORTS.join('/')} (network_mode: host)`);
  for (const p of PROXIES) if (!installed.get(p)) say(`${p}: not installed (skipped; apt-get install -y ${p})`);
  say();

  const rows: Row[] = [];
  const missed: string[] = [];
  let gatingMisses = 0;
  const charts: Record<string, string> = {};
  mkdirSync(RESULTS_DIR, { recursive: true });
  for (const c of opts.cases) {
    say(`## case ${c.name}: ${c.describe}`);
    const caseRows: Row[] = [];
    const toRun: ProxyName[] = [];
    for (const proxy of opts.proxies) {
      if (c.only && !c.only.includes(proxy)) continue;
      if (!installed.get(proxy)) caseRows.push({ case: c.name, proxy, skipped: 'not installed' });
      else toRun.push(proxy);
    }
    // Side by side (one run, the same deploys for every proxy) unless --sequential.
    for (const group of opts.sequential ? toRun.map((p) => [p]) : toRun.length ? [toRun] : []) {
      process.stdout.write(`  ${group.join(', ')}${group.length > 1 ? ' side by side' : ''} ...`);
      const t = Date.now();
      const got = await runCase(c, group, opts, tmp);
      say(` (${Math.round((Date.now() - t) / 1000)} s)`);
      for (const row of got) {
        caseRows.push(row);
        if (row.skipped) say(`    ${row.proxy}: skipped: ${row.skipped}`);
        else say(`    ${row.proxy}: ${row.sent} sent, ${row.failed} failed, ${row.wsDropped} WebSockets dropped (${row.seconds} s of load)`);
        for (const f of row.failureSamples ?? []) say(`      ${f}`);
      }
      if (interrupted) break;
    }
    caseRows.sort((x, y) => opts.proxies.indexOf(x.proxy) - opts.proxies.indexOf(y.proxy));
    say();
    for (const l of tableLines(caseRows)) say(l);
    for (const r of caseRows) {
      const m = targetMisses(c, r);
      const text = m.map((x) => x.text + (x.gating ? '' : ' (not gating)')).join(', ');
      if (m.length) missed.push(`${c.name}: ${text}`);
      if (m.some((x) => x.gating)) gatingMisses++;
      if (r.proxy === 'bluegreen' && !r.skipped) say(`bluegreen targets in ${c.name}: ${m.length ? `MISSED (${text})` : 'met'}`);
    }
    const unhealthyServed = caseRows.filter((r) => r.servedByUnhealthy);
    if (unhealthyServed.length) say(`answered by the never-healthy version: ${unhealthyServed.map((r) => `${r.proxy} ${r.servedByUnhealthy}`).join(', ')}`);
    const png = join(RESULTS_DIR, `deploy-${stamp}-${c.name.replace(/[^a-z0-9-]/g, '-')}.png`);
    await renderTimeline(png, `deploy benchmark: ${c.name} — ${c.describe}`, caseRows.map((r) => r.timeline ?? { proxy: r.proxy, okPerSec: [], failedPerSec: [], wsDroppedPerSec: [], deploys: [], skipped: r.skipped }));
    charts[c.name] = relative(ROOT, png);
    say(`timeline: ${relative(ROOT, png)}`);
    say();
    rows.push(...caseRows);
    writeJson();
    if (interrupted) break;
  }
  const out = writeJson();
  say(`results: ${relative(ROOT, out)} (${Math.round((Date.now() - started.getTime()) / 1000)} s)`);
  if (missed.length) say(`bluegreen missed its targets:\n  ${missed.join('\n  ')}`);
  else say('bluegreen met its targets in every case run');
  return opts.quick && gatingMisses > 0 ? 1 : 0;

  /** The results so far (written after every case, so a failing case keeps the earlier ones). */
  function writeJson(): string {
    const out = join(RESULTS_DIR, `deploy-${stamp}.json`);
    const json = {
      timestamp: started.toISOString(),
      durationS: Math.round((Date.now() - started.getTime()) / 1000),
      machine,
      options: { deploys: opts.deploys, quick: opts.quick, sequential: opts.sequential, stopTimeoutS: STOP_TIMEOUT_S, appGraceMs: APP_GRACE_MS, unhealthyWaitMs: UNHEALTHY_WAIT_MS, load: DEFAULT_SHAPE, slowMs: SLOW_MS },
      cases: opts.cases.filter((c) => charts[c.name]).map((c) => ({ name: c.name, describe: c.describe, env: c.env, entrypoint: !!c.entrypoint, chart: charts[c.name] })),
      missed,
      rows: rows.map((r) => ({ ...r, timeline: r.timeline ? { okPerSec: r.timeline.okPerSec, failedPerSec: r.timeline.failedPerSec, wsDroppedPerSec: r.timeline.wsDroppedPerSec } : undefined })),
    };
    writeFileSync(out, `${JSON.stringify(json, null, 2)}\n`);
    return out;
  }
}

let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    if (interrupted) {
      killAllNow();
      removeOurContainersSync();
      process.exit(130);
    }
    interrupted = true;
    process.stderr.write(`\nbench:deploy: ${sig}, stopping child processes and containers\n`);
    stopAll().then(
      () => {
        removeOurContainersSync();
        process.exit(130);
      },
      () => process.exit(130),
    );
  });
}
process.on('exit', () => {
  killAllNow();
  removeTmp();
});

main().then(
  (code) => process.exit(code),
  async (err: unknown) => {
    const text = err instanceof UsageError ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err);
    process.stderr.write(`\nbench:deploy: ${text}\n`);
    await stopAll().catch(() => {});
    removeOurContainersSync();
    process.exit(1);
  },
);
