// Throughput benchmark: `npm run bench [-- --connections N --duration S ...]`.
//
// Loads, on loopback only and for a fixed duration, (a) the upstream directly, (b) the bluegreen
// proxy and (c) nginx proxy_pass with upstream keep-alive (when nginx is installed), all in front
// of the same upstream process (bench/upstream-server.ts) in the same run. Each of the upstream,
// the proxy / nginx and the load generator (wrk when on PATH, else autocannon) is its own process.
// Prints req/s, p50 and p99 per target, the ratios proxy/direct and proxy/nginx, and PASS/MISS
// against the targets; writes JSON to bench/results/throughput-<timestamp>.json. A MISS fails
// the process only with --strict. Every child is killed at the end, on error and on Ctrl-C.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { findExecutable, killAllNow, spawnChild, stopAll, stopChild, type Child } from './children.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const RESULTS_DIR = join(ROOT, 'bench', 'results');
const BODY_BYTES = 100;
const TARGET_NGINX_RATIO = 0.3;
const TARGET_P99_MS = 10;
const TARGET_CONNECTIONS = 50;

const HELP = `usage: npm run bench -- [options]

  --connections N   concurrent keep-alive connections (default 50)
  --duration S      measured seconds per target (default 10)
  --warmup S        warm-up seconds per target, not measured (default 2)
  --threads N       wrk threads (default 1; ignored by autocannon)
  --tool NAME       wrk|autocannon (default: wrk when on PATH, else autocannon)
  --no-nginx        skip the nginx target
  --cpu-prof        run the proxy with --cpu-prof and print its top 10 self-time functions
                    (profiling slows the proxy: its numbers in such a run are not comparable)
  --strict          exit 1 when a target is missed
  --post BYTES      every request is a POST with a body of BYTES (default 0: GET)
env BENCH_BLUEGREEN_BIN  the bluegreen CLI to run (default bin/bluegreen.js of this checkout)
`;

// ---------------------------------------------------------------------------------------------
// Options

/** A bad command line: reported without a stack trace. */
class UsageError extends Error {}

interface Options {
  connections: number;
  duration: number;
  warmup: number;
  threads: number;
  tool: 'wrk' | 'autocannon' | undefined;
  nginx: boolean;
  cpuProf: boolean;
  strict: boolean;
  /** POST a body of this many bytes instead of GET (0: GET). */
  postBytes: number;
}

const OPTION_SPEC = {
  connections: { type: 'string', default: '50' },
  duration: { type: 'string', default: '10' },
  warmup: { type: 'string', default: '2' },
  threads: { type: 'string', default: '1' },
  tool: { type: 'string' },
  'no-nginx': { type: 'boolean', default: false },
  'cpu-prof': { type: 'boolean', default: false },
  strict: { type: 'boolean', default: false },
  post: { type: 'string', default: '0' },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

function parseOptions(argv: string[]): Options | undefined {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTION_SPEC, strict: true });
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n\n${HELP}`);
  }
  const { values } = parsed;
  if (values.help) {
    process.stdout.write(HELP);
    return undefined;
  }
  const int = (name: string, text: string, min: number): number => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be an integer >= ${min}, got ${JSON.stringify(text)}`);
    return n;
  };
  const tool = values.tool;
  if (tool !== undefined && tool !== 'wrk' && tool !== 'autocannon') {
    throw new UsageError(`--tool must be wrk or autocannon, got ${JSON.stringify(tool)}`);
  }
  const opts: Options = {
    connections: int('connections', values.connections, 1),
    duration: int('duration', values.duration, 1),
    warmup: int('warmup', values.warmup, 0),
    threads: int('threads', values.threads, 1),
    tool,
    nginx: !values['no-nginx'],
    cpuProf: values['cpu-prof'],
    strict: values.strict,
    postBytes: int('post', values.post, 0),
  };
  if (opts.threads > opts.connections) opts.threads = opts.connections;
  return opts;
}

// ---------------------------------------------------------------------------------------------

/** The run's temp dir (wrk script, nginx prefix and config); removed at the end. */
let tmpDir: string | undefined;
function removeTmp(): void {
  if (tmpDir) rmSync(tmpDir, { recursive: true, force: true });
  tmpDir = undefined;
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

function get(url: string): Promise<{ status: number; body: Buffer }> {
  return new Promise((res, rej) => {
    const req = request(url, { agent: false, timeout: 2000 }, (resp) => {
      const chunks: Buffer[] = [];
      resp.on('data', (c: Buffer) => chunks.push(c));
      resp.on('end', () => res({ status: resp.statusCode ?? 0, body: Buffer.concat(chunks) }));
      resp.on('error', rej);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', rej);
    req.end();
  });
}

/** Waits until `url` answers 200 with the upstream's body; fails early when `child` exits. */
async function waitReady(url: string, child: Child, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (child.done) throw new Error(`${child.name} ${child.exitText} before it was ready:\n${child.tail()}`);
    try {
      const { status, body } = await get(url);
      if (status === 200 && body.length === BODY_BYTES) return;
      last = `answered ${status} with ${body.length} bytes`;
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(100);
  }
  throw new Error(`${child.name} at ${url} not ready after ${timeoutMs} ms (last: ${last}):\n${child.tail()}`);
}

// ---------------------------------------------------------------------------------------------
// CPU accounting (Linux /proc; absent elsewhere): how many cores each process group kept busy.

const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100;

/** utime+stime in seconds of every live process whose process group is `pgid`. */
function groupCpuSeconds(pgid: number): number | undefined {
  let dirs: string[];
  try {
    dirs = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return undefined;
  }
  let ticks = 0;
  for (const d of dirs) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${d}/stat`, 'utf8');
    } catch {
      continue;
    }
    // Fields after "(comm)": state ppid pgrp ... utime is field 14, stime 15 (1-based).
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(f[2]) !== pgid) continue;
    ticks += Number(f[11]) + Number(f[12]);
  }
  return ticks / CLK_TCK;
}

/** Busy (non-idle, non-iowait) seconds of the whole machine, summed over cores. */
function machineBusySeconds(): number | undefined {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const [user, nice, system, , , irq, softirq, steal] = f;
    return (user! + nice! + system! + irq! + softirq! + steal!) / CLK_TCK;
  } catch {
    return undefined;
  }
}

interface CpuUse {
  /** Cores kept busy by the target (the proxy, or nginx master+worker); absent for direct. */
  target?: number;
  upstream?: number;
  /** The load generator (this process's reaped children: wrk or autocannon) plus the bench itself. */
  loadgen?: number;
  /** The whole machine (/proc/stat), softirq included. */
  machine?: number;
  /** machine - target - upstream - loadgen: the kernel's softirq work and anything else running. */
  other?: number;
}

/** This process's CPU plus that of its children it has reaped (the finished load generator). */
function selfAndReapedSeconds(): number | undefined {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / CLK_TCK;
  } catch {
    return undefined;
  }
}

function cpuSnapshot(groups: { target?: Child; upstream: Child }): () => CpuUse {
  const pgid = (c: Child | undefined): number | undefined => c?.proc.pid;
  const read = () => ({
    t: Date.now(),
    target: pgid(groups.target) === undefined ? undefined : groupCpuSeconds(pgid(groups.target)!),
    upstream: groupCpuSeconds(pgid(groups.upstream)!),
    loadgen: selfAndReapedSeconds(),
    machine: machineBusySeconds(),
  });
  const a = read();
  return () => {
    const b = read();
    const secs = (b.t - a.t) / 1000;
    const rate = (x: number | undefined, y: number | undefined): number | undefined =>
      x === undefined || y === undefined ? undefined : Math.round(((y - x) / secs) * 100) / 100;
    const use: CpuUse = {
      target: rate(a.target, b.target),
      upstream: rate(a.upstream, b.upstream),
      loadgen: rate(a.loadgen, b.loadgen),
      machine: rate(a.machine, b.machine),
    };
    if (use.machine !== undefined && use.upstream !== undefined && use.loadgen !== undefined) {
      use.other = Math.round((use.machine - (use.target ?? 0) - use.upstream - use.loadgen) * 100) / 100;
    }
    return use;
  };
}

const fmtInt = (n: number): string => Math.round(n).toLocaleString('en-US');
const fmtMs = (n: number): string => `${n.toFixed(2)} ms`;
const fmtRatio = (n: number | undefined): string => (n === undefined ? 'n/a' : `${(n * 100).toFixed(1)}%`);

// ---------------------------------------------------------------------------------------------
// Load generators

interface Measurement {
  requests: number;
  seconds: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Socket errors and timeouts. */
  socketErrors: number;
  /** Responses that were not 2xx/3xx. */
  badStatus: number;
  /** Cores busy during the measured run (filled in by the caller). */
  cpu?: CpuUse;
}

interface LoadTool {
  name: 'wrk' | 'autocannon';
  version: string;
  describe: string;
  run(url: string, seconds: number): Promise<Measurement>;
}

const WRK_DONE_LUA = `
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50_us":%d,"p99_us":%d,"max_us":%d}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
`;

function wrkTool(path: string, opts: Options, tmp: string): LoadTool {
  const v = spawnSync(path, ['-v'], { encoding: 'utf8' });
  const version = /wrk\s+(\S+)/.exec(`${v.stdout}${v.stderr}`)?.[1] ?? 'unknown';
  const script = join(tmp, 'wrk-done.lua');
  const post = opts.postBytes > 0 ? `wrk.method = "POST"\nwrk.body = string.rep("x", ${opts.postBytes})\nwrk.headers["Content-Type"] = "application/octet-stream"\n` : '';
  writeFileSync(script, post + WRK_DONE_LUA);
  return {
    name: 'wrk',
    version,
    describe: `wrk ${version} (${opts.threads} thread${opts.threads === 1 ? '' : 's'})`,
    async run(url, seconds) {
      const args = ['-t', String(opts.threads), '-c', String(opts.connections), '-d', `${seconds}s`, '--timeout', '5s', '-s', script, url];
      let stdout = '';
      const child = spawnChild('wrk', path, args, { cwd: ROOT, onStdout: (s) => (stdout += s) });
      await child.exited;
      const line = /^BENCH_JSON (.*)$/m.exec(stdout)?.[1];
      if (!line) throw new Error(`wrk ${child.exitText} without results:\n${child.tail()}`);
      const r = JSON.parse(line) as Record<string, number>;
      const secs = r.duration_us! / 1e6;
      return {
        requests: r.requests!,
        seconds: secs,
        rps: r.requests! / secs,
        p50Ms: r.p50_us! / 1000,
        p99Ms: r.p99_us! / 1000,
        maxMs: r.max_us! / 1000,
        socketErrors: r.connect! + r.read! + r.write! + r.timeout!,
        badStatus: r.status!,
      };
    },
  };
}

function autocannonTool(opts: Options): LoadTool | undefined {
  let pkgDir: string;
  try {
    pkgDir = dirname(fileURLToPath(import.meta.resolve('autocannon/package.json')));
  } catch {
    return undefined;
  }
  const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as { version: string; bin: string | Record<string, string> };
  const bin = join(pkgDir, typeof pkg.bin === 'string' ? pkg.bin : pkg.bin.autocannon!);
  return {
    name: 'autocannon',
    version: pkg.version,
    describe: `autocannon ${pkg.version} (1 Node process)`,
    async run(url, seconds) {
      const args = [bin, '--json', '-c', String(opts.connections), '-d', String(seconds), '-t', '5', url];
      if (opts.postBytes > 0) args.push('-m', 'POST', '-H', 'content-type=application/octet-stream', '-b', 'x'.repeat(opts.postBytes));
      let stdout = '';
      const child = spawnChild('autocannon', process.execPath, args, { cwd: ROOT, onStdout: (s) => (stdout += s) });
      await child.exited;
      const start = stdout.indexOf('{');
      if (start < 0) throw new Error(`autocannon ${child.exitText} without results:\n${child.tail()}`);
      const r = JSON.parse(stdout.slice(start)) as {
        requests: { total: number };
        duration: number;
        latency: { p50: number; p99: number; max: number };
        errors: number;
        timeouts: number;
        non2xx: number;
      };
      return {
        requests: r.requests.total,
        seconds: r.duration,
        rps: r.requests.total / r.duration,
        p50Ms: r.latency.p50,
        p99Ms: r.latency.p99,
        maxMs: r.latency.max,
        socketErrors: r.errors + r.timeouts,
        badStatus: r.non2xx,
      };
    },
  };
}

function pickTool(opts: Options, tmp: string): LoadTool {
  const wrk = findExecutable('wrk');
  if (opts.tool === 'wrk' || (opts.tool === undefined && wrk)) {
    if (!wrk) throw new Error('--tool wrk: wrk is not installed (apt-get install wrk)');
    return wrkTool(wrk, opts, tmp);
  }
  const ac = autocannonTool(opts);
  if (!ac) throw new Error('no load generator: install wrk (apt-get install wrk) or run npm install (autocannon devDependency)');
  return ac;
}

// ---------------------------------------------------------------------------------------------
// Targets

interface Target {
  url: string;
  child: Child;
}

async function startUpstream(): Promise<{ port: number; child: Child }> {
  let resolvePort: (port: number) => void = () => {};
  const portP = new Promise<number>((res) => (resolvePort = res));
  let buf = '';
  const child = spawnChild('upstream', process.execPath, ['bench/upstream-server.ts', '--port', '0', '--body-bytes', String(BODY_BYTES)], {
    cwd: ROOT,
    ipc: true,
    onStdout: (s) => {
      buf += s;
      const m = /\{"port":(\d+)\}/.exec(buf);
      if (m) resolvePort(Number(m[1]));
    },
  });
  const port = await Promise.race([
    portP,
    child.exited.then(() => Promise.reject(new Error(`upstream ${child.exitText}:\n${child.tail()}`))),
    sleep(10_000).then(() => Promise.reject(new Error(`upstream did not report its port:\n${child.tail()}`))),
  ]);
  await waitReady(`http://127.0.0.1:${port}/`, child);
  return { port, child };
}

async function startProxy(upstreamPort: number, cpuProfDir: string | undefined): Promise<Target> {
  const port = await freePort();
  // Its own admin port too: the default (9901) may be taken by another proxy on this machine.
  const adminPort = await freePort();
  const nodeArgs = cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', cpuProfDir] : [];
  const child = spawnChild('proxy', process.execPath, [
    ...nodeArgs,
    process.env.BENCH_BLUEGREEN_BIN ?? 'bin/bluegreen.js',
    'serve',
    '--listen',
    `127.0.0.1:${port}`,
    '--admin',
    `127.0.0.1:${adminPort}`,
    '--upstream',
    `web=127.0.0.1:${upstreamPort}`,
    '--log-level',
    'warn',
  ], { cwd: ROOT });
  const url = `http://127.0.0.1:${port}/`;
  await waitReady(url, child);
  return { url, child };
}

function nginxVersion(path: string): string {
  const r = spawnSync(path, ['-v'], { encoding: 'utf8' });
  return /nginx\/(\S+)/.exec(`${r.stdout}${r.stderr}`)?.[1] ?? 'unknown';
}

function versionAtLeast(v: string, min: [number, number, number]): boolean {
  const parts = v.split('.').map(Number);
  for (let i = 0; i < 3; i++) {
    const a = parts[i] ?? 0;
    if (a !== min[i]) return a > min[i]!;
  }
  return true;
}

async function startNginx(path: string, version: string, upstreamPort: number, tmp: string): Promise<Target> {
  const port = await freePort();
  const prefix = join(tmp, 'nginx');
  mkdirSync(join(prefix, 'logs'), { recursive: true });
  const conf = join(prefix, 'nginx.conf');
  writeFileSync(
    conf,
    `# Written by bench/throughput.ts; runs in the foreground under ${prefix}.
daemon off;
master_process on;
worker_processes 1;
pid ${prefix}/nginx.pid;
error_log ${prefix}/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${prefix}/client_body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;
  upstream bench_upstream {
    server 127.0.0.1:${upstreamPort};
    keepalive 64;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:${port};
    keepalive_requests 1000000;
    location / {
      proxy_pass http://bench_upstream;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`,
  );
  // -e (startup error log) exists since 1.19.5; older builds may log to their compiled-in path.
  const args = versionAtLeast(version, [1, 19, 5]) ? ['-e', join(prefix, 'logs', 'error.log')] : [];
  const child = spawnChild('nginx', path, [...args, '-p', prefix, '-c', conf], { cwd: ROOT });
  const url = `http://127.0.0.1:${port}/`;
  try {
    await waitReady(url, child);
  } catch (err) {
    const log = join(prefix, 'logs', 'error.log');
    const tail = existsSync(log) ? readFileSync(log, 'utf8').slice(-2000) : '';
    throw new Error(`${(err as Error).message}\n${tail}`);
  }
  return { url, child };
}

// ---------------------------------------------------------------------------------------------
// CPU profile summary

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
}

interface HotFunction {
  function: string;
  location: string;
  selfMs: number;
  percent: number;
}

function topSelfTime(file: string, n: number): HotFunction[] {
  const prof = JSON.parse(readFileSync(file, 'utf8')) as { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] };
  const byId = new Map<number, ProfileNode>(prof.nodes.map((node) => [node.id, node]));
  const self = new Map<string, { fn: string; loc: string; us: number }>();
  let total = 0;
  for (let i = 0; i < prof.samples.length; i++) {
    const node = byId.get(prof.samples[i]!);
    const dt = Math.max(0, prof.timeDeltas[i] ?? 0);
    if (!node) continue;
    total += dt;
    const cf = node.callFrame;
    let url = cf.url;
    if (url.startsWith('file://')) url = relative(ROOT, fileURLToPath(url));
    const loc = url ? `${url}:${cf.lineNumber + 1}` : '';
    const fn = cf.functionName || '(anonymous)';
    const key = `${fn}\u0000${loc}`;
    const entry = self.get(key) ?? { fn, loc, us: 0 };
    entry.us += dt;
    self.set(key, entry);
  }
  return [...self.values()]
    .sort((a, b) => b.us - a.us)
    .slice(0, n)
    .map((e) => ({ function: e.fn, location: e.loc, selfMs: e.us / 1000, percent: total ? (100 * e.us) / total : 0 }));
}

// ---------------------------------------------------------------------------------------------
// Main

interface TargetReport {
  name: 'direct' | 'proxy' | 'nginx';
  url?: string;
  skipped?: string;
  measurement?: Measurement;
}

interface Check {
  name: string;
  value: string;
  result: 'PASS' | 'MISS' | 'SKIP';
  note?: string;
}

async function main(): Promise<number> {
  const opts = parseOptions(process.argv.slice(2));
  if (!opts) return 0;
  const tmp = mkdtempSync(join(tmpdir(), 'bluegreen-bench-'));
  tmpDir = tmp;
  try {
    return await run(opts, tmp);
  } finally {
    await stopAll();
    removeTmp();
  }
}

async function run(opts: Options, tmp: string): Promise<number> {
  const started = new Date();
  const stamp = started.toISOString().replace(/[:.]/g, '-');
  const tool = pickTool(opts, tmp);
  const nginxPath = opts.nginx ? findExecutable('nginx') : undefined;
  const nginxVer = nginxPath ? nginxVersion(nginxPath) : undefined;
  const cores = availableParallelism();
  const say = (s = ''): boolean => process.stdout.write(`${s}\n`);

  say('bluegreen throughput bench (loopback only)');
  say(`load generator: ${tool.describe}; ${opts.connections} connections; ${opts.warmup} s warm-up + ${opts.duration} s measured per target; ${opts.postBytes > 0 ? `POST / with ${opts.postBytes} bytes` : 'GET /'} -> ${BODY_BYTES}-byte body`);
  say(`node ${process.version}; nginx ${nginxVer ?? (opts.nginx ? 'not installed' : 'disabled (--no-nginx)')}; ${cores} CPU cores (${cpus()[0]?.model.trim() ?? 'unknown'})`);
  if (cores <= 2) {
    say(`note: only ${cores} cores: the load generator, the target (proxy or nginx) and the upstream are 3 busy processes sharing them,`);
    say('      so absolute req/s is bounded by CPU contention; the ratios between targets are the meaningful part.');
  }
  // Other work on the machine (a test suite, a build) skews everything: measure it for a second.
  const busy0 = machineBusySeconds();
  await sleep(1000);
  const busy1 = machineBusySeconds();
  const load = busy0 === undefined || busy1 === undefined ? undefined : Math.round((busy1 - busy0) * 100) / 100;
  if (load !== undefined && load >= 0.25) say(`note: ${load.toFixed(2)} cores were already busy in the second before the run: other work skews the numbers.`);
  if (opts.cpuProf) say('note: --cpu-prof: the proxy runs under the V8 profiler, which slows it; its numbers here are not comparable.');
  say();

  const upstream = await startUpstream();
  const upstreamUrl = `http://127.0.0.1:${upstream.port}/`;
  const reports: TargetReport[] = [];
  const measure = async (name: TargetReport['name'], url: string, target?: Child): Promise<Measurement> => {
    process.stdout.write(`  ${name}: warm-up ${opts.warmup} s, measuring ${opts.duration} s ...`);
    if (opts.warmup > 0) await tool.run(url, opts.warmup);
    const cpu = cpuSnapshot({ target, upstream: upstream.child });
    const m = await tool.run(url, opts.duration);
    m.cpu = cpu();
    say(` ${fmtInt(m.rps)} req/s`);
    reports.push({ name, url, measurement: m });
    return m;
  };

  await measure('direct', upstreamUrl);

  const profDir = opts.cpuProf ? join(RESULTS_DIR, `cpuprof-${stamp}`) : undefined;
  if (profDir) mkdirSync(profDir, { recursive: true });
  const proxy = await startProxy(upstream.port, profDir);
  await measure('proxy', proxy.url, proxy.child);
  await stopChild(proxy.child, 15_000);
  if (proxy.child.exitText !== 'exited with code 0') say(`  warning: proxy ${proxy.child.exitText} on SIGTERM`);

  if (!opts.nginx) {
    reports.push({ name: 'nginx', skipped: 'disabled (--no-nginx)' });
  } else if (!nginxPath || !nginxVer) {
    reports.push({ name: 'nginx', skipped: 'not installed' });
  } else {
    const nginx = await startNginx(nginxPath, nginxVer, upstream.port, tmp);
    await measure('nginx', nginx.url, nginx.child);
    await stopChild(nginx.child);
  }
  await stopChild(upstream.child);

  // ---- report
  const m = (name: TargetReport['name']): Measurement | undefined => reports.find((r) => r.name === name)?.measurement;
  const direct = m('direct');
  const prox = m('proxy');
  const ngx = m('nginx');
  const proxyOverDirect = prox && direct ? prox.rps / direct.rps : undefined;
  const proxyOverNginx = prox && ngx ? prox.rps / ngx.rps : undefined;

  say();
  say(`${'target'.padEnd(8)}${'req/s'.padStart(10)}${'p50'.padStart(11)}${'p99'.padStart(11)}${'max'.padStart(11)}   errors`);
  for (const name of ['direct', 'proxy', 'nginx'] as const) {
    const r = reports.find((x) => x.name === name);
    if (!r?.measurement) {
      say(`${name}: skipped (${r?.skipped ?? 'not run'})`);
      continue;
    }
    const x = r.measurement;
    const errs = x.socketErrors + x.badStatus === 0 ? '0' : `${x.socketErrors} socket, ${x.badStatus} non-2xx/3xx`;
    say(`${name.padEnd(8)}${fmtInt(x.rps).padStart(10)}${fmtMs(x.p50Ms).padStart(11)}${fmtMs(x.p99Ms).padStart(11)}${fmtMs(x.maxMs).padStart(11)}   ${errs}`);
  }
  say();
  const cores1 = (n: number | undefined): string => (n === undefined ? '?' : n.toFixed(2));
  say(`cores busy during each measured run (of ${cores}; "other" = softirq and anything else running):`);
  for (const r of reports) {
    const c = r.measurement?.cpu;
    if (!c) continue;
    const t = r.name === 'direct' ? '' : `${r.name} ${cores1(c.target)}, `;
    say(`  ${r.name.padEnd(7)} ${t}upstream ${cores1(c.upstream)}, ${tool.name} ${cores1(c.loadgen)}, other ${cores1(c.other)}, machine ${cores1(c.machine)}`);
  }
  const noisy = reports.filter((r) => (r.measurement?.cpu?.other ?? 0) > 0.5).map((r) => r.name);
  if (noisy.length) say(`warning: other work took > 0.5 core during ${noisy.join(', ')}: those numbers are skewed; rerun on a quiet machine.`);
  say();
  say(`proxy/direct req/s: ${fmtRatio(proxyOverDirect)}`);
  say(`proxy/nginx  req/s: ${proxyOverNginx === undefined ? 'n/a (nginx skipped)' : fmtRatio(proxyOverNginx)}`);

  const proxyErrors = prox ? prox.socketErrors + prox.badStatus : 0;
  const errNote = proxyErrors > 0 ? `proxy had ${proxyErrors} errors` : undefined;
  const checks: Check[] = [];
  if (proxyOverNginx === undefined) {
    checks.push({ name: `proxy req/s >= ${TARGET_NGINX_RATIO * 100}% of nginx`, value: 'n/a', result: 'SKIP', note: 'nginx skipped' });
  } else {
    const ok = proxyOverNginx >= TARGET_NGINX_RATIO && !errNote;
    checks.push({ name: `proxy req/s >= ${TARGET_NGINX_RATIO * 100}% of nginx`, value: fmtRatio(proxyOverNginx), result: ok ? 'PASS' : 'MISS', note: errNote });
  }
  if (prox) {
    const ok = prox.p99Ms <= TARGET_P99_MS && !errNote;
    checks.push({ name: `proxy p99 <= ${TARGET_P99_MS} ms`, value: fmtMs(prox.p99Ms), result: ok ? 'PASS' : 'MISS', note: errNote });
  }
  say();
  say(`targets (defined at ${TARGET_CONNECTIONS} connections${opts.connections === TARGET_CONNECTIONS ? '' : `; this run used ${opts.connections}, so treat these as indicative`}${opts.cpuProf ? '; profiled run' : ''}):`);
  for (const c of checks) say(`  ${c.result.padEnd(4)}  ${c.name}: ${c.value}${c.note ? ` (${c.note})` : ''}`);

  let hot: HotFunction[] | undefined;
  let profFile: string | undefined;
  if (profDir) {
    const f = readdirSync(profDir).find((x) => x.endsWith('.cpuprofile'));
    if (!f) {
      say('\n--cpu-prof: the proxy wrote no .cpuprofile (did it exit cleanly?)');
    } else {
      profFile = join(profDir, f);
      hot = topSelfTime(profFile, 10);
      say(`\nproxy CPU profile, top 10 by self time (${relative(ROOT, profFile)}):`);
      for (const h of hot) say(`  ${h.percent.toFixed(1).padStart(5)}%  ${h.selfMs.toFixed(0).padStart(7)} ms  ${h.function}  ${h.location}`);
    }
  }

  mkdirSync(RESULTS_DIR, { recursive: true });
  const out = join(RESULTS_DIR, `throughput-${stamp}.json`);
  const json = {
    timestamp: started.toISOString(),
    tool: { name: tool.name, version: tool.version, threads: tool.name === 'wrk' ? opts.threads : 1 },
    options: { connections: opts.connections, durationS: opts.duration, warmupS: opts.warmup, bodyBytes: BODY_BYTES, cpuProf: opts.cpuProf, postBytes: opts.postBytes, bluegreenBin: process.env.BENCH_BLUEGREEN_BIN },
    machine: { cores, cpu: cpus()[0]?.model.trim(), coresBusyBeforeRun: load ?? null, node: process.version, nginx: nginxVer ?? null },
    targets: Object.fromEntries(reports.map((r) => [r.name, r.measurement ?? { skipped: r.skipped }])),
    ratios: { proxyOverDirect: proxyOverDirect ?? null, proxyOverNginx: proxyOverNginx ?? null },
    checks,
    cpuProfile: profFile ? { file: relative(ROOT, profFile), top: hot } : undefined,
  };
  writeFileSync(out, `${JSON.stringify(json, null, 2)}\n`);
  say(`\nresults: ${relative(ROOT, out)}`);

  const missed = checks.some((c) => c.result === 'MISS');
  return opts.strict && missed ? 1 : 0;
}

// Ctrl-C / termination: stop every child, then exit. 'exit' is the last line of defence.
let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    if (interrupted) {
      killAllNow();
      process.exit(130);
    }
    interrupted = true;
    process.stderr.write(`\nbench: ${sig}, stopping child processes\n`);
    stopAll().then(
      () => process.exit(130),
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
    process.stderr.write(`\nbench: ${text}\n`);
    await stopAll().catch(() => {});
    process.exit(1);
  },
);
