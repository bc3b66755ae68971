// The README's plain shell deploy script (examples/deploy.sh, included in the README verbatim) on
// the real Docker Engine, under a steady mixed GET + 8 KiB POST load through `bluegreen serve`:
// two releases with its GET /api/wait handshakes fail nothing and hold nothing; a release with a bad
// label is refused at once while the old container keeps serving. Then the same release without
// the waits (docker run, then docker stop of the old one at once): the race the waits remove,
// counted as requests the proxy had to hold because no container was ready, and as failed
// requests through a second proxy that holds nothing (--hold-timeout 0). The app takes 1.5 s to
// listen, as real apps take time to start. Names are unique to the run (prefix bgw-).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ServiceStatus, StatusSnapshot } from '../../src/control/status.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import { docker, ensureDockerAndImages, removeContainers, removeNetworks, repoRoot, TESTAPP_IMAGE, waitFor } from './support/docker.ts';
import { Load, type LoadSummary } from './support/load.ts';
import { ProxyProcess } from './support/proxy-process.ts';

const RUN = `bgw-${Date.now().toString(36)}`;
const SERVICE = RUN;
const HOST = `${RUN}.e2e.test`;
const SCRIPT = join(repoRoot, 'examples', 'deploy.sh');
/** The test's own network (the default bridge may be missing on a shared engine). */
const NET = `${RUN}-net`;

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

function sh(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<Ran> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    execFile('sh', [file, ...args], { env, timeout: 180_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      resolve({ code, stdout, stderr, ms: Date.now() - t0 });
    });
  });
}

function report(t: TestContext, text: string): void {
  console.log(text);
  t.diagnostic(text);
}

/** One case's figures; failWindowMs: first failed request sent to last one answered (a closed loop inflates counts of fast 503s). */
function line(label: string, r: { s: LoadSummary; held: number; maxHoldMs: number; failWindowMs: number }, extra: string): string {
  const { s } = r;
  const kinds = Object.entries(s.byKind).map(([k, v]) => `${k}:${v}`).join(',');
  return `case ${label}: sent=${s.sent} failed=${s.failed}${kinds ? ` (${kinds})` : ''} failWindowMs=${r.failWindowMs} held=${r.held} maxHoldMs=${r.maxHoldMs} maxLatencyMs=${s.maxLatencyMs} ${extra}`;
}

/** The app of release `n`: the test app, slow to start, lingering 500 ms after SIGTERM like deploy-web.yml. */
function appArgs(n: number, labels: string[] = []): string[] {
  const name = `${RUN}-v${n}`;
  return [
    '--name', name, '--network', NET,
    '-e', `NAME=${name}`, '-e', `VERSION=${n}`, '-e', 'STARTUP_DELAY_MS=1500', '-e', 'LINGER_MS=500', '-e', 'LATENCY_MS=5',
    '-l', `bluegreen.hosts=${HOST}`, '-l', 'bluegreen.port=8080', '-l', 'bluegreen.healthcheck.path=/health',
    ...labels,
  ];
}

/** A bluegreen serve process and how to read its status of SERVICE. */
async function startProxy(t: TestContext, name: string, args: string[] = []) {
  const proxy = await ProxyProcess.start({ name, args });
  t.after(() => proxy.stop());
  await proxy.waitForLog((l) => l.msg === 'synced with Docker', 15_000, 'first sync with Docker');
  const adminLine = await proxy.waitForLog((l) => l.msg === 'admin API listening', 5_000, 'admin listener');
  const admin = `http://127.0.0.1:${String(adminLine['port'])}`;
  const status = async (): Promise<ServiceStatus> => {
    const s = (await (await fetch(`${admin}/api/status`)).json()) as StatusSnapshot;
    const svc = s.services.find((x) => x.name === SERVICE);
    assert.ok(svc, `${name} knows ${SERVICE}`);
    return svc;
  };
  return { proxy, admin, status };
}

/** Steady load through each proxy while `during` runs; per proxy: the summary and requests held. */
async function underLoad(t: TestContext, proxies: { proxy: ProxyProcess; status: () => Promise<ServiceStatus> }[], serving: string, during: () => Promise<void>) {
  const loads = proxies.map((p) => new Load({ url: p.proxy.url, host: HOST }).start());
  t.after(() => Promise.all(loads.map((l) => l.stop())));
  for (const l of loads) await l.waitForResponder(serving, 20);
  const before = await Promise.all(proxies.map((p) => p.status()));
  await during();
  const out = [];
  for (const [i, l] of loads.entries()) {
    const s = await l.stop();
    const after = await proxies[i]!.status();
    const failed = l.samples.filter((x) => x.failure !== undefined);
    const failWindowMs = failed.length ? Math.max(...failed.map((x) => x.end)) - Math.min(...failed.map((x) => x.start)) : 0;
    out.push({ s, held: after.heldTotal - before[i]!.heldTotal, maxHoldMs: after.maxHoldMs, failWindowMs, failures: l.failures() });
  }
  return out;
}

test('README deploy script: docker run, /api/wait routed, docker stop, /api/wait gone, under load: nothing failed or held; without the waits, requests are held (or fail where the proxy does not hold)', { timeout: 300_000 }, async (t) => {
  await ensureDockerAndImages(); // fails (never skips) when Docker cannot be started
  const script = readFileSync(SCRIPT, 'utf8');
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
  assert.ok(readme.includes(`\`\`\`sh\n${script}\`\`\``), 'the README shows examples/deploy.sh verbatim');

  await docker(['network', 'create', NET]);
  t.after(() => removeContainers(RUN).then(() => removeNetworks(RUN)).then(() => {}, () => {}));
  // The script's proxy, and beside it one that holds nothing (--hold-timeout 0), like a proxy
  // without a hold queue: there the race shows as failed requests.
  const holding = await startProxy(t, RUN);
  const noHold = await startProxy(t, `${RUN}-nohold`, ['--hold-timeout', '0']);
  const env: NodeJS.ProcessEnv = { ...process.env, BLUEGREEN_ADMIN: holding.admin, BLUEGREEN_ADMIN_TOKEN: '' };
  const deploy = async (n: number, labels: string[] = []) => {
    const r = await sh(SCRIPT, [SERVICE, TESTAPP_IMAGE, ...appArgs(n, labels)], env);
    console.log(`$ examples/deploy.sh ${SERVICE} ... v${n}  → exit ${r.code} in ${r.ms} ms\n${r.stdout}${r.stderr}`);
    return r;
  };
  const running = async () => (await docker(['ps', '--filter', `label=bluegreen.service=${SERVICE}`, '--format', '{{.Names}}'])).split('\n').filter(Boolean).sort();

  // First release: nothing old to stop.
  const first = await deploy(1);
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, /"reason":"routed"/);

  let second!: Ran, third!: Ran, bad!: Ran;
  const [a, b] = await underLoad(t, [holding, noHold], `${RUN}-v1`, async () => {
    second = await deploy(2);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, /"reason":"routed"[\s\S]*"reason":"gone"/, 'waited for v2 routed, then for v1 gone');
    third = await deploy(3);
    assert.equal(third.code, 0, third.stderr);
    assert.deepEqual(await running(), [`${RUN}-v3`]);
    // A bad label: refused at once (409, the label and why in the answer), the new container
    // removed, the old one still serving.
    bad = await deploy(4, ['-l', 'bluegreen.port=80x']);
    assert.equal(bad.code, 1, `${bad.stdout}${bad.stderr}`);
    assert.match(bad.stdout, /"code":"WAIT_FAILED".*"reason":"rejected"/);
    assert.match(bad.stdout, /bluegreen\.port/);
    assert.deepEqual(await running(), [`${RUN}-v3`]);
    await sleep(500);
  });
  const times = `v2Ms=${second.ms} v3Ms=${third.ms} badLabelMs=${bad.ms}`;
  report(t, line('deploy script with /api/wait', a!, times));
  report(t, line('deploy script with /api/wait, proxy --hold-timeout 0', b!, times));
  assert.equal(a!.s.failed, 0, a!.failures);
  assert.equal(b!.s.failed, 0, `with the waits even a proxy that holds nothing fails nothing\n${b!.failures}`);
  assert.ok((a!.s.byName[`${RUN}-v2`] ?? 0) > 0, `v2 served: ${JSON.stringify(a!.s.byName)}`);

  // The same release without the waits: the old container stops while the new one still starts.
  let noWaitMs = 0;
  const [a2, b2] = await underLoad(t, [holding, noHold], `${RUN}-v3`, async () => {
    const [old] = (await docker(['ps', '-q', '--no-trunc', '--filter', `label=bluegreen.service=${SERVICE}`])).split('\n').filter(Boolean);
    const t0 = Date.now();
    await docker(['run', '-d', '-l', `bluegreen.service=${SERVICE}`, ...appArgs(5), TESTAPP_IMAGE]);
    await docker(['stop', old!]);
    await docker(['rm', old!]);
    noWaitMs = Date.now() - t0;
    await waitFor(async () => (await holding.status()).upstreams.some((u) => u.name === `${RUN}-v5` && u.state === 'ready'), 30_000, { what: 'v5 ready' });
    await sleep(500);
  });
  report(t, line('same release without the waits', a2!, `scriptMs=${noWaitMs}`));
  report(t, line('same release without the waits, proxy --hold-timeout 0', b2!, `scriptMs=${noWaitMs}`));
  assert.ok(a2!.held > 0, 'without the waits requests arrive while no container is ready (the proxy holds them)');
  assert.ok(b2!.s.failed > 0, 'a proxy that does not hold fails them');
});
