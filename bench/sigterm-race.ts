// The SIGTERM race, on loopback, many times over:
// `node bench/sigterm-race.ts [--rounds 40] [--lag-ms 3] [--concurrency 24] [--body-bytes 8192]`.
//
// An app that shuts down gracefully (test/e2e/app/server.js, ON_SIGTERM=graceful: Node's
// server.close(), which closes idle keep-alive connections at once) gets SIGTERM while POSTs
// stream through the proxy; the proxy learns of the stop `--lag-ms` later (Docker's kill event
// reaches it a moment after the signal reaches the app) and drains the upstream. A POST the proxy
// writes onto a connection the app is closing in that moment is reset unread; without
// `Expect: 100-continue` the proxy cannot tell that from an app that died processing it, so it
// answers 502. Each round starts a fresh app process, routes to it, then stops the old one.
// The same rounds run with Expect on (the default) and off (expectContinueTimeout 0), alternating,
// and the failed POSTs of each are printed. Traffic: loopback only.
import { spawn, type ChildProcess } from 'node:child_process';
import { Agent, request } from 'node:http';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { Proxy } from '../src/proxy.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const APP = join(ROOT, 'test', 'e2e', 'app', 'server.js');
const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '40' },
    'lag-ms': { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '24' },
    'body-bytes': { type: 'string', default: '8192' },
  },
});
const ROUNDS = Number(values.rounds);
const LAG_MS = Number(values['lag-ms']);
const CONCURRENCY = Number(values.concurrency);
/** 0: bodyless POSTs (Expect needs a body, so those rely on the pre-write check alone). */
const BODY = Buffer.alloc(Number(values['body-bytes']), 'x');
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface App {
  child: ChildProcess;
  port: number;
  exited: Promise<void>;
}

function startApp(): Promise<App> {
  return new Promise((resolveApp, reject) => {
    const child = spawn(process.execPath, [APP], {
      env: { ...process.env, PORT: '0', HOST: '127.0.0.1', ON_SIGTERM: 'graceful', GRACE_MS: '3000', NAME: 'race' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    let buf = '';
    child.stdout!.on('data', (c: Buffer) => {
      buf += c.toString();
      const m = /"event":"listening","port":(\d+)/.exec(buf);
      if (m) {
        child.stdout!.removeAllListeners('data');
        child.stdout!.resume();
        resolveApp({ child, port: Number(m[1]), exited });
      }
    });
    child.once('error', reject);
  });
}

interface Tally {
  sent: number;
  failed: number;
  kinds: Map<string, number>;
}

/** POST loops on keep-alive connections until `stop` is set. */
function load(port: number, tally: Tally, stop: { now: boolean }): Promise<void>[] {
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const one = (): Promise<void> =>
    new Promise((done) => {
      const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/order', agent, headers: { host: 'race.localhost', 'content-length': BODY.length } }, (res) => {
        res.resume();
        res.on('end', () => {
          tally.sent++;
          if (res.statusCode !== 200) {
            tally.failed++;
            const k = `${res.statusCode} ${res.headers['x-bluegreen-error'] ?? ''}`;
            tally.kinds.set(k, (tally.kinds.get(k) ?? 0) + 1);
          }
          done();
        });
      });
      req.on('error', (err: Error & { code?: string }) => {
        tally.sent++;
        tally.failed++;
        tally.kinds.set(err.code ?? err.message, (tally.kinds.get(err.code ?? err.message) ?? 0) + 1);
        done();
      });
      req.end(BODY);
    });
  return Array.from({ length: CONCURRENCY }, async () => {
    while (!stop.now) await one();
  });
}

async function run(expectOn: boolean, rounds: number): Promise<Tally> {
  const proxy = new Proxy({
    logger: pino({ level: 'silent' }),
    listen: { host: '127.0.0.1', port: 0 },
    dataPlane: { expectContinueTimeoutMs: expectOn ? 1000 : 0, defaultService: 'race' },
  });
  const { port } = await proxy.start();
  let seq = 0;
  const add = (app: App) =>
    proxy.registry.addUpstream({ id: `race-${++seq}`, name: `race-${seq}`, service: 'race', host: '127.0.0.1', port: app.port, state: 'ready' });
  let current = await startApp();
  let currentUp = add(current);
  const tally: Tally = { sent: 0, failed: 0, kinds: new Map() };
  const stop = { now: false };
  const loops = load(port, tally, stop);
  try {
    for (let i = 0; i < rounds; i++) {
      const next = await startApp();
      const nextUp = add(next);
      await sleep(250); // both serve: keep-alive connections to the old one are busy and idle in turn
      const old = current;
      const oldId = currentUp.id;
      old.child.kill('SIGTERM');
      setTimeout(() => proxy.registry.drain(oldId, Date.now() + 10_000), LAG_MS);
      current = next;
      currentUp = nextUp;
      await old.exited;
    }
  } finally {
    stop.now = true;
    await Promise.all(loops);
    current.child.kill('SIGTERM');
    await current.exited;
    await proxy.stop(1000);
  }
  return tally;
}

const fmt = (t: Tally) => `${t.sent} POSTs, ${t.failed} failed${t.failed ? ` (${[...t.kinds].map(([k, n]) => `${k}: ${n}`).join(', ')})` : ''}`;
const totals = { on: { sent: 0, failed: 0 }, off: { sent: 0, failed: 0 } };
const BLOCK = 10;
console.log(`SIGTERM race: ${ROUNDS} app stops per mode, ${CONCURRENCY} concurrent ${BODY.length}-byte POSTs, proxy told ${LAG_MS} ms after the signal`);
for (let done = 0; done < ROUNDS; done += BLOCK) {
  const n = Math.min(BLOCK, ROUNDS - done);
  for (const on of [true, false]) {
    const t = await run(on, n);
    const k = on ? 'on' : 'off';
    totals[k].sent += t.sent;
    totals[k].failed += t.failed;
    console.log(`  Expect ${k.padEnd(3)} ${n} stops: ${fmt(t)}`);
  }
}
console.log(`total Expect on:  ${totals.on.sent} POSTs, ${totals.on.failed} failed`);
console.log(`total Expect off: ${totals.off.sent} POSTs, ${totals.off.failed} failed`);
