// Soak: `npm run soak [-- --duration 600] [--deploy-every 20] [--png FILE]`.
//
// The real proxy process (`bin/bluegreen.js serve`, as a host process watching the real Docker
// Engine) under a steady mixed load for --duration seconds, with a deploy every --deploy-every
// seconds, alternating:
//   - blue/green: `bluegreen deploy` of bench/soak-stack.yml (docker compose; start the idle color,
//     wait until the proxy says ready, switch, drain the old color through the proxy with a 3 s
//     deadline — open WebSockets are closed with 1001 — then compose stop);
//   - rolling: a service of two labelled replicas (no colors), replaced one at a time: docker run
//     the new one, wait until the proxy lists it ready, docker stop -t 10 the old one, docker rm.
// Load (bench/deploy-load.ts), on each of the two services: 2 GET workers, one 8 KiB POST worker
// (echo checked), one worker of 2 s requests, 2 WebSockets sending a message every 100 ms; each
// HTTP worker pauses 10 ms between requests (a steady few hundred req/s, not a saturating one).
// Every second it samples the proxy's RSS (/proc/PID/status), open fds (/proc/PID/fd) and V8 heap
// (bluegreen_nodejs_heap_size_used_bytes on the admin /metrics).
//
// It fails (exit 1) on: any failed request (non-2xx, reset, timeout, corrupt echo), any WebSocket
// that ended other than by a 1001 close (or failed its handshake), a failed deploy, the proxy
// exiting, or growth of the median RSS or median fd count from the second window to the last one
// beyond the bounds below (windows: 60 s, or a third of --duration when that is shorter; see the
// README's Tests section for why these bounds). Writes bench/results/soak-<stamp>.{png,json,log}.
// Everything it creates on the engine is named bgs-<run>-… and removed at the end (also on Ctrl-C).
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { compose, docker, ensureDockerAndImages, removeContainers, removeNetworks, repoRoot as ROOT, runTestApp, TESTAPP_IMAGE } from '../test/e2e/support/docker.ts';
import { killAllNow, spawnChild, stopAll, type Child } from './children.ts';
import { HeapProbe, inspectorUrl } from './heap-probe.ts';
import { DeployLoad, type LoadShape, type Sample, type WsEvent } from './deploy-load.ts';
import { renderSoak, type SoakTimeline } from './soak-chart.ts';

// Growth bounds, second window vs last (README, Tests: the measurements behind them). V8 grows its
// committed heap (heap total) under GC pressure and keeps it, without any leak, and RSS follows; so
// the RSS check takes out what the heap total's growth explains. A JS leak shows as growth of the
// heap's post-GC floor, a native one (buffers, sockets, malloc) as RSS growth the heap does not
// explain; raw RSS only has a loose sanity bound.
/** Median RSS growth minus the median heap total's growth (when positive) (MiB). */
export const OUTSIDE_HEAP_GROWTH_BOUND_MIB = 16;
/**
 * V8 heap used right after a full GC (asked for through the proxy's inspector), end of the second
 * window vs end of the run (MiB). The least heap sample of a window, gated on before, moved by
 * several MiB with uncollected garbage (1.0–8.8 MiB in 60-second runs without any leak).
 */
export const HEAP_AFTER_GC_GROWTH_BOUND_MIB = 8;
/** Median RSS (MiB): V8's heap sizing included. */
export const RSS_GROWTH_BOUND_MIB = 128;
/** Median open fd count. */
export const FD_GROWTH_BOUND = 8;

const RUN = `bgs-${Date.now().toString(36)}`;
const BG_SERVICE = `${RUN}-bg`;
const BG_HOST = `bg.${RUN}.soak.test`;
const ROLL_SERVICE = `${RUN}-roll`;
const ROLL_HOST = `roll.${RUN}.soak.test`;
const REPLICAS = 2;
/** The rolling service's network (its own: the engine is shared, and the default bridge may be gone). */
const ROLL_NETWORK = `${RUN}-net`;
const STACK = join(ROOT, 'bench', 'soak-stack.yml');
const BIN = join(ROOT, 'bin', 'bluegreen.js');
const RESULTS_DIR = join(ROOT, 'bench', 'results');
const SHAPE: LoadShape = { get: 2, post8k: 1, post1m: 0, slow: 1, websockets: 2 };
const PAUSE_MS = 10;
const MiB = 1024 * 1024;

const HELP = `usage: npm run soak -- [options]
  --duration S       seconds of load (default 600; CI runs 60)
  --deploy-every S   seconds between deploys, alternating blue/green and rolling (default 20)
  --png FILE         the chart (default bench/results/soak-<stamp>.png)
  -h, --help
`;

class UsageError extends Error {}

interface Options {
  durationS: number;
  everyS: number;
  png: string | undefined;
}

function options(): Options {
  const { values } = parseArgs({
    options: { duration: { type: 'string' }, 'deploy-every': { type: 'string' }, png: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    process.stdout.write(HELP);
    process.exit(0);
  }
  const num = (v: string | undefined, def: number, name: string, min: number): number => {
    if (v === undefined) return def;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be a whole number of seconds >= ${min}, not ${JSON.stringify(v)}\n${HELP}`);
    return n;
  };
  const everyS = num(values['deploy-every'], 20, 'deploy-every', 5);
  const durationS = num(values.duration, 600, 'duration', 3 * everyS);
  return { durationS, everyS, png: values.png };
}

// ---------------------------------------------------------------------------------------------
// The proxy process

interface Proxy {
  child: Child;
  pid: number;
  url: string;
  admin: string;
  logFile: string;
  /** Log lines at warn (40) or above, as text. */
  warnings: string[];
  errors: string[];
  /** Heap used after a full GC, through the proxy's inspector; undefined when it could not connect (why). */
  heap: HeapProbe | undefined;
  heapProbeError: string | undefined;
}

async function startProxy(logFile: string): Promise<Proxy> {
  const lines: Record<string, unknown>[] = [];
  let partial = '';
  const log: string[] = [];
  const p: Partial<Proxy> = { warnings: [], errors: [], logFile };
  let stderr = '';
  // The inspector on loopback, port 0: the leak check asks it for a full GC (bench/heap-probe.ts).
  const child = spawnChild('bluegreen', process.execPath, ['--inspect=127.0.0.1:0', BIN, 'serve', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--log-level', 'info'], {
    cwd: ROOT,
    env: { BLUEGREEN_CONFIG: '', BLUEGREEN_ADMIN_TOKEN: '' },
    onStderr: (chunk) => {
      if (stderr.length < 64 * 1024) stderr += chunk;
    },
    onStdout: (chunk) => {
      log.push(chunk);
      const parts = (partial + chunk).split('\n');
      partial = parts.pop()!;
      for (const text of parts) {
        if (!text.trim()) continue;
        let l: Record<string, unknown>;
        try {
          l = JSON.parse(text) as Record<string, unknown>;
        } catch {
          l = { msg: text };
        }
        if (lines.length < 1000) lines.push(l);
        const level = Number(l['level'] ?? 0);
        if (level >= 50) p.errors!.push(text);
        else if (level >= 40) p.warnings!.push(text);
      }
    },
  });
  const flush = setInterval(() => {
    if (log.length) writeFileSync(logFile, log.splice(0).join(''), { flag: 'a' });
  }, 1000);
  flush.unref();
  void child.exited.then(() => {
    clearInterval(flush);
    if (log.length) writeFileSync(logFile, log.splice(0).join(''), { flag: 'a' });
  });
  const find = async (msg: string, what: string): Promise<Record<string, unknown>> => {
    const end = Date.now() + 20_000;
    for (;;) {
      const l = lines.find((x) => x['msg'] === msg);
      if (l) return l;
      if (child.done) throw new Error(`the proxy ${child.exitText} before its ${what}:\n${child.tail()}`);
      if (Date.now() > end) throw new Error(`no ${what} from the proxy within 20 s:\n${child.tail()}`);
      await sleep(50);
    }
  };
  const listening = await find('listening', '"listening" line');
  const admin = await find('admin API listening', '"admin API listening" line');
  await find('synced with Docker', 'first sync with Docker');
  const pid = child.proc.pid!;
  // setpriv execs the command: the pid is the proxy's own.
  const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  if (!cmdline.includes('bluegreen.js')) throw new Error(`pid ${pid} is not the proxy (${cmdline.replace(/\0/g, ' ')})`);
  const inspector = inspectorUrl(stderr);
  try {
    if (!inspector) throw new Error('no "Debugger listening" line on its stderr');
    p.heap = await HeapProbe.connect(inspector);
  } catch (err) {
    p.heapProbeError = (err as Error).message;
  }
  return { ...(p as Proxy), child, pid, url: `http://127.0.0.1:${String(listening['port'])}`, admin: `http://127.0.0.1:${String(admin['port'])}` };
}

// ---------------------------------------------------------------------------------------------
// Resource samples

interface ResourceSample {
  /** Seconds since the load started. */
  t: number;
  rss: number;
  fds: number;
  /** NaN when the metrics scrape failed (these three come from the admin /metrics). */
  heapUsed: number;
  heapTotal: number;
  external: number;
}

async function sampleProxy(pid: number, admin: string, t: number): Promise<ResourceSample> {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN);
  const fds = readdirSync(`/proc/${pid}/fd`).length;
  let text = '';
  try {
    text = await (await fetch(`${admin}/metrics`, { signal: AbortSignal.timeout(900) })).text();
  } catch {
    // a slow scrape is not a failure; the heap is only reported
  }
  const metric = (name: string): number => Number(new RegExp(`^bluegreen_${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  return { t, rss: kb * 1024, fds, heapUsed: metric('nodejs_heap_size_used_bytes'), heapTotal: metric('nodejs_heap_size_total_bytes'), external: metric('nodejs_external_memory_bytes') };
}

/**
 * What the proxy's fds are, counted by kind: `tcp ESTABLISHED → 172.18.0.5:8080`, `tcp LISTEN
 * 127.0.0.1:41234`, `unix`, `pipe`, `anon_inode:[eventpoll]`, a file path. Compared between two
 * moments, it says what a growing fd count is made of.
 */
function fdKinds(pid: number): Map<string, number> {
  const TCP_STATES: Record<string, string> = { '01': 'ESTABLISHED', '02': 'SYN_SENT', '03': 'SYN_RECV', '04': 'FIN_WAIT1', '05': 'FIN_WAIT2', '06': 'TIME_WAIT', '07': 'CLOSE', '08': 'CLOSE_WAIT', '09': 'LAST_ACK', '0A': 'LISTEN', '0B': 'CLOSING' };
  const addr = (hex: string): string => {
    const [ip, port] = hex.split(':') as [string, string];
    const p = parseInt(port, 16);
    if (ip.length === 8) return `${(ip.match(/../g) ?? []).reverse().map((b) => parseInt(b, 16)).join('.')}:${p}`;
    if (ip.startsWith('0000000000000000FFFF0000')) return `${(ip.slice(24).match(/../g) ?? []).reverse().map((b) => parseInt(b, 16)).join('.')}:${p}`;
    return `[${ip}]:${p}`;
  };
  const sockets = new Map<string, string>();
  const listening = new Set<number>();
  const rows: { inode: string; state: string; local: string; remote: string }[] = [];
  for (const table of ['tcp', 'tcp6']) {
    let text = '';
    try {
      text = readFileSync(`/proc/${pid}/net/${table}`, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      const state = TCP_STATES[f[3]!] ?? f[3]!;
      if (state === 'LISTEN') listening.add(parseInt(f[1]!.split(':')[1]!, 16));
      rows.push({ inode: f[9]!, state, local: f[1]!, remote: f[2]! });
    }
  }
  for (const r of rows) {
    const localPort = parseInt(r.local.split(':')[1]!, 16);
    // Accepted client connections are counted per listener port, outgoing ones per remote address.
    const what = r.state === 'LISTEN' ? `tcp LISTEN ${addr(r.local)}` : listening.has(localPort) ? `tcp ${r.state} client on :${localPort}` : `tcp ${r.state} → ${addr(r.remote)}`;
    sockets.set(r.inode, what);
  }
  try {
    for (const line of readFileSync(`/proc/${pid}/net/unix`, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f[6]) sockets.set(f[6], `unix ${f[7] ?? '(client)'}`);
    }
  } catch {
    // no unix table: such sockets count as 'socket without state' below
  }
  const kinds = new Map<string, number>();
  let names: string[] = [];
  try {
    names = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return kinds;
  }
  for (const fd of names) {
    let target: string;
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue;
    }
    const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
    // A socket in no table: its TCP connection is over (closed, or in TIME_WAIT) but its fd is still open.
    const kind = inode ? (sockets.get(inode) ?? 'socket whose connection is over, fd still open') : target.replace(/^(pipe|anon_inode):.*$/, '$1').replace(/\d+/g, 'N');
    kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
  }
  return kinds;
}

/** `+3 tcp ESTABLISHED → 10.0.0.2:8080, -1 pipe`: what changed from `a` to `b`, largest changes first. */
function fdDiff(a: Map<string, number>, b: Map<string, number>): string {
  const keys = new Set([...a.keys(), ...b.keys()]);
  const d = [...keys].map((k) => [k, (b.get(k) ?? 0) - (a.get(k) ?? 0)] as const).filter(([, n]) => n !== 0);
  d.sort((x, y) => Math.abs(y[1]) - Math.abs(x[1]));
  return d.length ? d.map(([k, n]) => `${n > 0 ? '+' : ''}${n} ${k}`).join(', ') : 'no change';
}

// ---------------------------------------------------------------------------------------------
// Deploys

interface DeployRecord {
  n: number;
  kind: 'blue/green' | 'rolling';
  /** Seconds since the load started. */
  from: number;
  to: number;
  ok: boolean;
  detail: string;
}

async function bluegreenDeploy(admin: string, version: number): Promise<string> {
  const child = spawnChild(`deploy-${version}`, process.execPath, [BIN, 'deploy', BG_SERVICE, '-f', STACK, '-p', RUN, '--admin', admin, '--timeout', '60s', '--drain-timeout', '3s'], {
    cwd: ROOT,
    env: stackEnv(version),
  });
  await child.exited;
  const out = child.tail();
  if (child.exitText !== 'exited with code 0') throw new Error(`bluegreen deploy ${child.exitText}:\n${out}`);
  // Each step's line is `  ok   1.05 s  wait for green ready ...`: keep the duration and the first words.
  const steps = [...out.matchAll(/^\s+ok\s+([\d.]+ m?s)\s+(\S+(?: \S+)?)/gm)].map((m) => `${m[2]} ${m[1]}`);
  return `${/deployed .*\)/.exec(out)?.[0] ?? out.split('\n').pop() ?? ''} [${steps.join(', ')}]`;
}

function stackEnv(version: number): NodeJS.ProcessEnv {
  return { SOAK_SERVICE: BG_SERVICE, SOAK_HOST: BG_HOST, SOAK_VERSION: String(version), SOAK_IMAGE: TESTAPP_IMAGE, BLUEGREEN_ADMIN_TOKEN: '' };
}

let replicaSeq = 0;
const replicas: string[] = [];

async function startReplica(version: number): Promise<string> {
  const name = `${RUN}-roll-${++replicaSeq}`;
  await runTestApp({
    name,
    env: { NAME: name, VERSION: version, ON_SIGTERM: 'graceful', LINGER_MS: 1000, GRACE_MS: 4000 },
    network: ROLL_NETWORK,
    labels: { 'bluegreen.service': ROLL_SERVICE, 'bluegreen.hosts': ROLL_HOST, 'bluegreen.port': '8080', 'bluegreen.healthcheck.path': '/health' },
    args: ['--stop-timeout', '10'],
  });
  return name;
}

interface StatusUpstream {
  name: string;
  state: string;
}

async function waitReady(admin: string, service: string, name: string, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  let last = 'not listed';
  while (Date.now() < end) {
    try {
      const s = (await (await fetch(`${admin}/api/status`, { signal: AbortSignal.timeout(5000) })).json()) as { services: { name: string; upstreams: StatusUpstream[] }[] };
      const up = s.services.find((x) => x.name === service)?.upstreams.find((u) => u.name === name);
      if (up?.state === 'ready') return;
      last = up ? up.state : 'not listed';
    } catch (err) {
      last = `status unavailable: ${(err as Error).message}`;
    }
    await sleep(200);
  }
  throw new Error(`${name} did not become ready in the proxy within ${timeoutMs / 1000} s (last: ${last})`);
}

/** Replaces the replicas one at a time: start the new one, wait until it is ready, stop and remove the old one. */
async function rollingDeploy(admin: string, version: number): Promise<string> {
  const steps: string[] = [];
  for (let i = 0; i < replicas.length; i++) {
    const old = replicas[i]!;
    const fresh = await startReplica(version);
    try {
      await waitReady(admin, ROLL_SERVICE, fresh);
    } catch (err) {
      await docker(['rm', '-f', fresh]).catch(() => {});
      throw err;
    }
    replicas[i] = fresh;
    const t = Date.now();
    await docker(['stop', '-t', '10', old], { timeoutMs: 30_000 });
    await docker(['rm', '-f', old]);
    steps.push(`${old} → ${fresh} (stop ${((Date.now() - t) / 1000).toFixed(1)} s)`);
  }
  return steps.join(', ');
}

// ---------------------------------------------------------------------------------------------
// Statistics

function median(xs: number[]): number {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
}

const mib = (b: number): string => (Number.isFinite(b) ? (b / MiB).toFixed(1) : '-');

function table(head: string[], rows: (string | number)[][]): string {
  const cells = [head, ...rows.map((r) => r.map(String))];
  const width = head.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  return cells.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(width[i]!) : c.padStart(width[i]!))).join('  ')).join('\n');
}

/** A WebSocket end that counts as a failure: anything but a 1001 close (going away, from a drain). */
function wsFailed(e: WsEvent): boolean {
  return e.type === 'dropped' || e.code !== 1001;
}

// ---------------------------------------------------------------------------------------------

const sleep = (ms: number): Promise<void> => new Promise((res) => setTimeout(res, ms));
const say = (text: string): void => void process.stdout.write(`${text}\n`);

async function main(): Promise<number> {
  const opts = options();
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  mkdirSync(RESULTS_DIR, { recursive: true });
  const png = opts.png ?? join(RESULTS_DIR, `soak-${stamp}.png`);
  const jsonFile = join(RESULTS_DIR, `soak-${stamp}.json`);
  const logFile = join(RESULTS_DIR, `soak-${stamp}.log`);
  const started = new Date();

  await ensureDockerAndImages();
  const engine = (await docker(['version', '--format', '{{.Server.Version}}'])).trim();
  const machine = { cores: availableParallelism(), cpu: cpus()[0]?.model.trim(), node: process.version, docker: engine };
  say(`bluegreen soak ${RUN} — ${started.toISOString()}`);
  say(`machine: ${machine.cores} cores (${machine.cpu}); node ${machine.node}; Docker Engine ${engine}`);
  say(`duration ${opts.durationS} s, a deploy every ${opts.everyS} s (blue/green and rolling in turn); proxy log ${logFile}`);

  const proxy = await startProxy(logFile);
  say(`proxy pid ${proxy.pid} on ${proxy.url}, admin ${proxy.admin}`);

  // Version 0 of both services.
  const first = await bluegreenDeploy(proxy.admin, 0);
  say(`setup: ${first}`);
  await docker(['network', 'create', '--driver', 'bridge', ROLL_NETWORK]);
  for (let i = 0; i < REPLICAS; i++) replicas.push(await startReplica(0));
  for (const r of replicas) await waitReady(proxy.admin, ROLL_SERVICE, r);
  say(`setup: ${BG_SERVICE} (blue/green, host ${BG_HOST}) and ${ROLL_SERVICE} (${replicas.join(', ')}, host ${ROLL_HOST}) ready`);

  const loads = [
    new DeployLoad(proxy.url, BG_HOST, SHAPE, { pauseMs: PAUSE_MS }),
    new DeployLoad(proxy.url, ROLL_HOST, SHAPE, { pauseMs: PAUSE_MS }),
  ];
  const t0 = Date.now();
  for (const l of loads) l.start();
  const since = (ms: number): number => (ms - t0) / 1000;

  // One resource sample a second, on the second.
  const resources: ResourceSample[] = [];
  const win = Math.min(60, Math.floor(opts.durationS / 3));
  /** fd kinds at the end of the second window and at the end of the run. */
  const fdSnapshots: { t: number; kinds: Map<string, number> }[] = [];
  /** Heap used after a full GC at the end of the second window and at the end of the run (bytes, or why not). */
  const heapAfterGc: (number | string)[] = [];
  const probeHeap = async (): Promise<void> => {
    if (!proxy.heap) return void heapAfterGc.push(proxy.heapProbeError ?? 'no inspector');
    heapAfterGc.push(await proxy.heap.usedAfterGc().catch((err: Error) => err.message));
  };
  let sampling = true;
  const sampler = (async () => {
    for (let s = 0; sampling; s++) {
      const wait = t0 + s * 1000 - Date.now();
      if (wait > 0) await sleep(wait);
      if (!sampling) break;
      if (proxy.child.done) break;
      try {
        resources.push(await sampleProxy(proxy.pid, proxy.admin, since(Date.now())));
        if (s === 2 * win - 1) {
          fdSnapshots.push({ t: s, kinds: fdKinds(proxy.pid) });
          await probeHeap();
        }
      } catch {
        if (proxy.child.done) break;
      }
    }
  })();

  const deploys: DeployRecord[] = [];
  for (let n = 1; n * opts.everyS + opts.everyS <= opts.durationS; n++) {
    const wait = t0 + n * opts.everyS * 1000 - Date.now();
    if (wait > 0) await sleep(wait);
    if (proxy.child.done) break;
    const kind = n % 2 === 1 ? 'blue/green' : 'rolling';
    const from = Date.now();
    let ok = true;
    let detail: string;
    try {
      detail = kind === 'blue/green' ? await bluegreenDeploy(proxy.admin, n) : await rollingDeploy(proxy.admin, n);
    } catch (err) {
      ok = false;
      detail = (err as Error).message;
    }
    const rec: DeployRecord = { n, kind, from: since(from), to: since(Date.now()), ok, detail };
    deploys.push(rec);
    say(`+${rec.from.toFixed(0).padStart(4)} s  deploy ${n} ${kind}: ${ok ? 'ok' : 'FAILED'} in ${(rec.to - rec.from).toFixed(1)} s — ${detail.split('\n')[0]}`);
    if (!ok) say(detail);
  }
  const end = t0 + opts.durationS * 1000;
  if (end > Date.now()) await sleep(end - Date.now());
  sampling = false;
  if (!proxy.child.done) fdSnapshots.push({ t: since(Date.now()), kinds: fdKinds(proxy.pid) });
  await sampler;
  if (!proxy.child.done) await probeHeap();
  await Promise.all(loads.map((l) => l.stop()));
  proxy.heap?.close();
  const loadEnd = since(Date.now());
  const proxyAlive = !proxy.child.done;

  // ------------------------------------------------------------------------- results
  const samples: Sample[] = loads.flatMap((l) => l.samples);
  const wsEvents = loads.flatMap((l) => l.wsEvents);
  const serviceOf = (i: number): string => (i === 0 ? BG_SERVICE : ROLL_SERVICE);
  const failed = loads.flatMap((l, i) => l.samples.filter((s) => s.failure).map((s) => ({ ...s, service: serviceOf(i) })));
  const wsFailures = loads.flatMap((l, i) => l.wsEvents.filter(wsFailed).map((e) => ({ ...e, service: serviceOf(i) })));
  const n = opts.durationS;
  const perSec = (): number[] => Array.from({ length: n }, () => 0);
  const okPerSec = perSec();
  const failedPerSec = perSec();
  const wsDroppedPerSec = perSec();
  const bucket = (ms: number): number => Math.floor(since(ms));
  for (const s of samples) {
    const b = bucket(s.end);
    if (b < 0 || b >= n) continue;
    if (s.failure) failedPerSec[b]!++;
    else okPerSec[b]!++;
  }
  for (const e of wsFailures) {
    const b = bucket(e.t);
    if (b >= 0 && b < n) wsDroppedPerSec[b]!++;
  }

  const inWindow = (from: number) => resources.filter((r) => r.t >= from && r.t < from + win);
  const second = inWindow(win);
  const last = inWindow(n - win);
  const stats = (rs: ResourceSample[], from: number) => {
    const heap = rs.filter((r) => Number.isFinite(r.heapUsed) && Number.isFinite(r.heapTotal));
    return {
      from,
      to: from + win,
      rssMedian: median(rs.map((r) => r.rss)),
      fdsMedian: median(rs.map((r) => r.fds)),
      heapMedian: median(heap.map((r) => r.heapUsed)),
      heapTotalMedian: median(heap.map((r) => r.heapTotal)),
      heapFloor: heap.length ? Math.min(...heap.map((r) => r.heapUsed)) : NaN,
      outsideHeapMedian: median(heap.map((r) => r.rss - r.heapTotal)),
      heapSamples: heap.length,
    };
  };
  const growth = { windowS: win, second: stats(second, win), last: stats(last, n - win) };
  const rssGrowth = growth.last.rssMedian - growth.second.rssMedian;
  const heapTotalGrowth = growth.last.heapTotalMedian - growth.second.heapTotalMedian;
  // RSS growth that V8's heap sizing does not explain (a shrinking heap total explains nothing: V8
  // may decommit pages that RSS still counts).
  const outsideHeapGrowth = rssGrowth - Math.max(0, heapTotalGrowth);
  const heapFloorGrowth = growth.last.heapFloor - growth.second.heapFloor;
  const [gcSecond, gcLast] = heapAfterGc;
  const heapAfterGcGrowth = typeof gcSecond === 'number' && typeof gcLast === 'number' ? gcLast - gcSecond : NaN;
  const fdGrowth = growth.last.fdsMedian - growth.second.fdsMedian;

  const reasons: string[] = [];
  if (!proxyAlive) reasons.push(`the proxy ${proxy.child.exitText} during the run`);
  if (failed.length) reasons.push(`${failed.length} failed requests`);
  if (wsFailures.length) reasons.push(`${wsFailures.length} WebSockets ended other than by a 1001 close`);
  const badDeploys = deploys.filter((d) => !d.ok);
  if (badDeploys.length) reasons.push(`${badDeploys.length} failed deploys`);
  const few = (w: { heapSamples: number }, rs: ResourceSample[]) => rs.length < win / 2 || w.heapSamples < win / 2;
  if (few(growth.second, second) || few(growth.last, last)) {
    reasons.push(`too few resource samples (${second.length} and ${last.length}, with the heap ${growth.second.heapSamples} and ${growth.last.heapSamples}, in the compared windows)`);
  }
  const vs = `second vs last ${win}-s window`;
  if (!(rssGrowth <= RSS_GROWTH_BOUND_MIB * MiB)) reasons.push(`RSS grew ${mib(rssGrowth)} MiB (median, ${vs}; bound ${RSS_GROWTH_BOUND_MIB} MiB)`);
  if (!(outsideHeapGrowth <= OUTSIDE_HEAP_GROWTH_BOUND_MIB * MiB)) reasons.push(`RSS grew ${mib(outsideHeapGrowth)} MiB more than the V8 heap total (medians, ${vs}; bound ${OUTSIDE_HEAP_GROWTH_BOUND_MIB} MiB)`);
  if (Number.isNaN(heapAfterGcGrowth)) reasons.push(`the heap after a full GC was not measured (${heapAfterGc.filter((x) => typeof x === 'string').join('; ') || 'the run ended early'})`);
  else if (!(heapAfterGcGrowth <= HEAP_AFTER_GC_GROWTH_BOUND_MIB * MiB)) {
    reasons.push(`the V8 heap after a full GC grew ${mib(heapAfterGcGrowth)} MiB (end of the second window vs end of the run; bound ${HEAP_AFTER_GC_GROWTH_BOUND_MIB} MiB)`);
  }
  if (!(fdGrowth <= FD_GROWTH_BOUND)) reasons.push(`open fds grew by ${fdGrowth} (median, second vs last ${win}-s window; bound ${FD_GROWTH_BOUND})`);

  // Per window (a minute on a full run): the medians, req/s, failures.
  const rows: (string | number)[][] = [];
  for (let from = 0; from + win <= n; from += win) {
    const rs = inWindow(from);
    const ok = okPerSec.slice(from, from + win).reduce((a, b) => a + b, 0);
    const bad = failedPerSec.slice(from, from + win).reduce((a, b) => a + b, 0);
    const rss = rs.map((r) => r.rss);
    rows.push([
      `${from}-${from + win} s${from === win ? ' (2nd)' : from === n - win ? ' (last)' : ''}`,
      mib(median(rss)),
      mib(Math.max(...rss)),
      mib(Math.min(...rs.map((r) => r.heapUsed).filter(Number.isFinite))),
      mib(median(rs.map((r) => r.heapTotal))),
      mib(median(rs.map((r) => r.rss - r.heapTotal))),
      mib(median(rs.map((r) => r.external))),
      median(rs.map((r) => r.fds)),
      Math.max(...rs.map((r) => r.fds)),
      Math.round(ok / win),
      bad,
    ]);
  }
  const kinds = (k: string) => samples.filter((s) => s.kind === k).length;
  const wsMessages = loads.reduce((a, l) => a + l.wsMessagesSent, 0);
  const wsEchoed = loads.reduce((a, l) => a + l.wsMessagesEchoed, 0);
  const wsLost = loads.reduce((a, l) => a + l.wsMessagesLost, 0);
  const ws1001 = wsEvents.filter((e) => !wsFailed(e)).length;
  say('');
  say(table(['window', 'RSS median MiB', 'RSS max', 'heap floor', 'heap total', 'RSS-heap total', 'external', 'fds median', 'fds max', 'ok req/s', 'failed'], rows));
  say('');
  say(`requests: ${samples.length} (GET ${kinds('get')}, 8 KiB POST ${kinds('post8k')}, 2 s ${kinds('slow')}), failed ${failed.length}`);
  say(`WebSockets: ${wsMessages} messages sent, ${wsEchoed} echoed, ${wsLost} lost with their socket; ${ws1001} closed with 1001 by a drain (reconnected), ${wsFailures.length} ended otherwise`);
  say(`deploys: ${deploys.length} (${deploys.filter((d) => d.kind === 'blue/green').length} blue/green, ${deploys.filter((d) => d.kind === 'rolling').length} rolling), ${badDeploys.length} failed; longest ${Math.max(0, ...deploys.map((d) => d.to - d.from)).toFixed(1)} s`);
  const sign = (x: number, f: (x: number) => string) => `${x >= 0 ? '+' : ''}${f(x)}`;
  const g = growth;
  say(`growth, second (${g.second.from}-${g.second.to} s) vs last (${g.last.from}-${g.last.to} s) window:`);
  say(`  RSS median                 ${mib(g.second.rssMedian)} → ${mib(g.last.rssMedian)} MiB (${sign(rssGrowth, mib)}, bound +${RSS_GROWTH_BOUND_MIB})`);
  say(`  RSS beyond heap growth     ${sign(outsideHeapGrowth, mib)} MiB (RSS ${sign(rssGrowth, mib)} less heap total ${sign(heapTotalGrowth, mib)} when positive; bound +${OUTSIDE_HEAP_GROWTH_BOUND_MIB}; RSS − heap total ${mib(g.second.outsideHeapMedian)} → ${mib(g.last.outsideHeapMedian)} MiB)`);
  say(
    `  V8 heap after a full GC    ${typeof gcSecond === 'number' ? mib(gcSecond) : '?'} → ${typeof gcLast === 'number' ? mib(gcLast) : '?'} MiB (${Number.isNaN(heapAfterGcGrowth) ? 'not measured' : sign(heapAfterGcGrowth, mib)}, bound +${HEAP_AFTER_GC_GROWTH_BOUND_MIB}; end of the second window vs end of the run)`,
  );
  say(`  V8 heap least sample       ${mib(g.second.heapFloor)} → ${mib(g.last.heapFloor)} MiB (${sign(heapFloorGrowth, mib)}, not gating: it carries uncollected garbage); heap total ${mib(g.second.heapTotalMedian)} → ${mib(g.last.heapTotalMedian)} MiB`);
  say(`  open fds median            ${g.second.fdsMedian} → ${g.last.fdsMedian} (${sign(fdGrowth, String)}, bound +${FD_GROWTH_BOUND})`);
  const fdChange = fdSnapshots.length === 2 ? fdDiff(fdSnapshots[0]!.kinds, fdSnapshots[1]!.kinds) : 'not measured';
  if (fdSnapshots.length === 2) say(`open fds by kind, ${fdSnapshots[0]!.t.toFixed(0)} s → ${fdSnapshots[1]!.t.toFixed(0)} s: ${fdChange}`);
  say(`proxy log: ${proxy.errors.length} error and ${proxy.warnings.length} warning lines (${logFile})`);
  for (const s of failed.slice(0, 10)) say(`  failed +${since(s.start).toFixed(1)} s ${s.service} ${s.kind} ${s.failure} ${(s.detail ?? '').replace(/\s+/g, ' ').slice(0, 160)}`);
  for (const e of wsFailures.slice(0, 10)) say(`  ws +${since(e.t).toFixed(1)} s ${e.service} ${e.type} ${e.detail.replace(/\s+/g, ' ').slice(0, 160)}`);
  for (const e of proxy.errors.slice(0, 5)) say(`  proxy error: ${e.slice(0, 240)}`);

  const verdict = reasons.length ? `FAIL: ${reasons.join('; ')}` : 'PASS';
  const timeline: SoakTimeline = {
    rssMiB: Array.from({ length: n }, () => null),
    heapMiB: Array.from({ length: n }, () => null),
    heapTotalMiB: Array.from({ length: n }, () => null),
    fds: Array.from({ length: n }, () => null),
    okPerSec,
    failedPerSec,
    wsDroppedPerSec,
    deploys: deploys.map((d) => ({ kind: d.kind, from: d.from, to: d.to })),
    windows: [
      { from: growth.second.from, to: growth.second.to },
      { from: growth.last.from, to: growth.last.to },
    ],
  };
  for (const r of resources) {
    const b = Math.floor(r.t);
    if (b < 0 || b >= n) continue;
    timeline.rssMiB[b] = r.rss / MiB;
    timeline.heapMiB[b] = Number.isFinite(r.heapUsed) ? r.heapUsed / MiB : null;
    timeline.heapTotalMiB[b] = Number.isFinite(r.heapTotal) ? r.heapTotal / MiB : null;
    timeline.fds[b] = r.fds;
  }
  const subtitle =
    `${started.toISOString().slice(0, 16).replace('T', ' ')} UTC, ${machine.cores} cores, node ${machine.node}, Docker ${engine}: ${samples.length} requests, ${failed.length} failed; ` +
    `${deploys.length} deploys; RSS ${mib(growth.second.rssMedian)} → ${mib(growth.last.rssMedian)} MiB, fds ${growth.second.fdsMedian} → ${growth.last.fdsMedian} — ${reasons.length ? 'FAIL' : 'PASS'}`;
  await renderSoak(png, `bluegreen soak: ${n} s of mixed load, a deploy every ${opts.everyS} s (blue/green and rolling in turn)`, subtitle, timeline);
  writeFileSync(
    jsonFile,
    JSON.stringify(
      {
        run: RUN,
        started: started.toISOString(),
        machine,
        options: {
          durationS: opts.durationS,
          deployEveryS: opts.everyS,
          shapePerService: SHAPE,
          pauseMs: PAUSE_MS,
          bounds: { rssMiB: RSS_GROWTH_BOUND_MIB, outsideHeapMiB: OUTSIDE_HEAP_GROWTH_BOUND_MIB, heapAfterGcMiB: HEAP_AFTER_GC_GROWTH_BOUND_MIB, fds: FD_GROWTH_BOUND },
        },
        loadStarted: new Date(t0).toISOString(),
        verdict,
        requests: { sent: samples.length, failed: failed.length, get: kinds('get'), post8k: kinds('post8k'), slow: kinds('slow') },
        websockets: { messages: wsMessages, echoed: wsEchoed, lost: wsLost, closed1001: ws1001, failed: wsFailures.length },
        growth: { ...growth, rssGrowth, heapTotalGrowth, outsideHeapGrowth, heapFloorGrowth, heapAfterGc, heapAfterGcGrowth, fdGrowth },
        fdKinds: fdSnapshots.map((x) => ({ t: x.t, kinds: Object.fromEntries(x.kinds) })),
        fdChange,
        loadEndS: loadEnd,
        deploys,
        failures: failed.slice(0, 100).map((s) => ({ ...s, start: since(s.start), end: since(s.end) })),
        wsFailures: wsFailures.slice(0, 100).map((e) => ({ ...e, t: since(e.t) })),
        proxyErrors: proxy.errors.slice(0, 50),
        resources,
        okPerSec,
      },
      null,
      1,
    ),
  );
  say(`chart: ${png}`);
  say(`json: ${jsonFile}`);
  say(verdict);
  return reasons.length ? 1 : 0;
}

// ---------------------------------------------------------------------------------------------
// Cleanup: the proxy, the compose project, every container and network named after this run.

let cleaned = false;
async function cleanup(): Promise<void> {
  if (cleaned) return;
  cleaned = true;
  await stopAll().catch(() => {});
  await compose(['-p', RUN, '-f', STACK, 'down', '-v', '--remove-orphans', '-t', '1'], { env: { ...process.env, ...stackEnv(0) }, timeoutMs: 120_000 }).catch(() => {});
  await removeContainers(RUN).catch(() => {});
  await removeNetworks(RUN).catch(() => {});
}

function cleanupSync(): void {
  killAllNow();
  const ps = spawnSync('docker', ['ps', '-aq', '--filter', `name=^${RUN}`], { encoding: 'utf8' });
  const ids = (ps.stdout ?? '').split('\n').filter(Boolean);
  if (ids.length) spawnSync('docker', ['rm', '-f', '-v', ...ids], { stdio: 'ignore' });
  const nets = spawnSync('docker', ['network', 'ls', '-q', '--filter', `name=^${RUN}`], { encoding: 'utf8' });
  const netIds = (nets.stdout ?? '').split('\n').filter(Boolean);
  if (netIds.length) spawnSync('docker', ['network', 'rm', ...netIds], { stdio: 'ignore' });
}

let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    if (interrupted) {
      cleanupSync();
      process.exit(130);
    }
    interrupted = true;
    process.stderr.write(`\nsoak: ${sig}, stopping the proxy and removing ${RUN}-* containers\n`);
    cleanup().then(
      () => process.exit(130),
      () => process.exit(130),
    );
  });
}
process.on('exit', () => killAllNow());

main().then(
  async (code) => {
    await cleanup();
    process.exit(code);
  },
  async (err: unknown) => {
    const text = err instanceof UsageError ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err);
    process.stderr.write(`\nsoak: ${text}\n`);
    await cleanup();
    process.exit(err instanceof UsageError ? 2 : 1);
  },
);

