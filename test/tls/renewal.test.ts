import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent as HttpsAgent } from 'node:https';
import { mkdir, mkdtemp, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { addUpstream, sleep, startUpstream } from '../support/servers.ts';
import { createCa, type Pem } from './certs.ts';
import { captureLogger, handshake, httpsGet, startTlsProxy } from './harness.ts';

// Renewal under load, the way certbot does it: the new files go to archive/DOMAIN/ and the
// symlinks in live/DOMAIN/ are replaced one by one (unlink, symlink: cert, privkey, chain,
// fullchain), so for a moment the key is new and the chain old, or a link is missing.

const NAME = 'app.example.com';
const CLIENTS = 20;
const KEEP_ALIVE_CLIENTS = 2;
/** The load runs at least this long, and on until the renewal has been served to enough new connections. */
const RUN_MS = 3000;
const RENEW_AT_MS = 1200;
const MIN_REQUESTS = 200;
const MIN_AFTER_SWITCH = 40;
/** Give up (and fail) after this long: a loaded CI machine is slow, not this slow. */
const CAP_MS = 30_000;

interface Sample {
  start: number;
  serial?: string;
  error?: string;
}

test('a certificate renewed certbot-style under 20 concurrent HTTPS clients: zero failed handshakes or requests; new connections get the new certificate at once; kept-alive connections stay up', async (t) => {
  const ca = await createCa();
  t.after(() => ca.close());
  const base = await mkdtemp(join(tmpdir(), 'bg-le-'));
  t.after(() => rm(base, { recursive: true, force: true }));
  const live = join(base, 'live');
  const archive = join(base, 'archive', NAME);
  await mkdir(join(live, NAME), { recursive: true });
  await mkdir(archive, { recursive: true });
  const install = async (n: number, pem: Pem) => {
    await writeFile(join(archive, `cert${n}.pem`), pem.cert);
    await writeFile(join(archive, `chain${n}.pem`), ca.cert);
    await writeFile(join(archive, `fullchain${n}.pem`), pem.cert + ca.cert);
    await writeFile(join(archive, `privkey${n}.pem`), pem.key);
    for (const kind of ['cert', 'privkey', 'chain', 'fullchain']) {
      const link = join(live, NAME, `${kind}.pem`);
      await unlink(link).catch(() => {});
      await symlink(join('..', '..', 'archive', NAME, `${kind}${n}.pem`), link);
    }
  };
  const v1 = await ca.issue([NAME]);
  const v2 = await ca.issue([NAME]);
  assert.notEqual(v1.serial, v2.serial);
  await install(1, v1);

  const up = await startUpstream('app');
  t.after(() => up.close());
  const { logger, lines } = captureLogger();
  const p = await startTlsProxy(live, { logger, debounceMs: 200 });
  t.after(() => p.proxy.stop(0));
  addUpstream(p.proxy, 'app', up.port);
  assert.equal((await handshake(p.tlsPort, { ca: ca.cert, servername: NAME })).serial, v1.serial);

  let switchedAt = Infinity;
  p.proxy.certificates!.on('change', () => {
    if (p.proxy.certificates!.select(NAME)?.serialNumber === v2.serial) switchedAt = Math.min(switchedAt, performance.now());
  });

  const samples: Sample[] = [];
  let handshakes = 0;
  const started = performance.now();
  let afterSwitchCount = 0;
  const done = () => {
    const now = performance.now();
    if (now > started + CAP_MS) return true;
    return now > started + RUN_MS && samples.length >= MIN_REQUESTS && now > switchedAt + 500 && afterSwitchCount >= MIN_AFTER_SWITCH;
  };
  const worker = async () => {
    while (!done()) {
      const s: Sample = { start: performance.now() };
      samples.push(s);
      if (s.start > switchedAt) afterSwitchCount++;
      try {
        const r = await httpsGet(p.tlsPort, { ca: ca.cert, servername: NAME, path: '/load' });
        handshakes++; // a verified handshake on a new connection (agent: false)
        if (r.status !== 200 || r.body !== 'app GET /load 0') s.error = `status ${r.status}: ${r.body}`;
        s.serial = r.serial;
      } catch (err) {
        s.error = (err as Error).message;
      }
    }
  };
  // Clients on one kept-alive connection each: the renewal must not drop it.
  const keptSockets: Set<TLSSocket>[] = [];
  let keptRequests = 0;
  let keptFailures = 0;
  const keptAlive = async () => {
    const agent = new HttpsAgent({ keepAlive: true, maxSockets: 1 });
    const sockets = new Set<TLSSocket>();
    keptSockets.push(sockets);
    try {
      while (!done()) {
        try {
          const r = await httpsGet(p.tlsPort, { ca: ca.cert, servername: NAME, path: '/kept', agent });
          keptRequests++;
          sockets.add(r.socket);
          if (r.status !== 200) keptFailures++;
        } catch {
          keptFailures++;
        }
        await sleep(5);
      }
    } finally {
      agent.destroy();
    }
  };
  let writtenAt = 0;
  const renew = async () => {
    await sleep(RENEW_AT_MS);
    writtenAt = performance.now();
    await install(2, v2);
  };
  await Promise.all([
    ...Array.from({ length: CLIENTS }, worker),
    ...Array.from({ length: KEEP_ALIVE_CLIENTS }, keptAlive),
    renew(),
  ]);

  const failed = samples.filter((s) => s.error);
  const afterSwitch = samples.filter((s) => s.start > switchedAt);
  const beforeWrite = samples.filter((s) => s.start < writtenAt && !s.error);
  const rejections = lines.filter((l) => l.msg.startsWith('certificate rejected'));
  t.diagnostic(
    `load ran ${Math.round(performance.now() - started)} ms; requests ${samples.length}, verified handshakes ${handshakes}, failed ${failed.length}; ` +
      `new certificate served ${Math.round(switchedAt - writtenAt)} ms after the write; ` +
      `${afterSwitch.length} new connections after that, all v2: ${afterSwitch.every((s) => s.serial === v2.serial)}; ` +
      `kept-alive: ${keptRequests} requests on ${keptSockets.map((s) => s.size).join('+')} connection(s), ${keptFailures} failed; ` +
      `transient rejections logged during the swap: ${rejections.length}`,
  );
  assert.deepEqual(failed.map((s) => s.error), [], 'no failed handshake or request');
  assert.ok(samples.length >= MIN_REQUESTS, `enough load: ${samples.length} requests`);
  assert.equal(handshakes, samples.length);
  assert.ok(Number.isFinite(switchedAt), 'the renewal was picked up without a restart');
  assert.ok(switchedAt - writtenAt < 10_000, `picked up within 10 s (${Math.round(switchedAt - writtenAt)} ms)`);
  assert.ok(beforeWrite.every((s) => s.serial === v1.serial), 'v1 before the write');
  assert.ok(afterSwitch.length >= MIN_AFTER_SWITCH, `load continued after the switch: ${afterSwitch.length}`);
  assert.deepEqual([...new Set(afterSwitch.map((s) => s.serial))], [v2.serial], 'every connection made after the switch got v2');
  assert.equal(keptFailures, 0);
  assert.deepEqual(keptSockets.map((s) => s.size), Array(KEEP_ALIVE_CLIENTS).fill(1), 'each kept-alive connection survived the renewal');
  assert.ok(lines.some((l) => l.msg === 'certificate renewed' && l.serial === v2.serial && l.previousSerial === v1.serial));
  for (const l of rejections) assert.equal(l.serving && (l.serving as { serial: string }).serial, v1.serial, 'while the swap was half done, v1 kept serving');
  const h = await handshake(p.tlsPort, { ca: ca.cert, servername: NAME });
  assert.equal(h.serial, v2.serial);
  assert.equal(h.fingerprint256, v2.fingerprint256);
});
