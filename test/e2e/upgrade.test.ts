import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './support/docker.ts';
import { caseLine, type LoadSummary } from './support/load.ts';

// Upgrading the proxy itself: a new bluegreen process on the same address (SO_REUSEPORT) becomes
// ready, then the old one drains and exits, under mixed load (keep-alive clients and a new
// connection per request; GET and 8 KiB POST). Each case runs in a fresh network namespace
// (unshare -n) so that net.ipv4.tcp_migrate_req can be set there without touching the host's.

interface NetnsResult {
  migrate: string;
  upgrades: number;
  keepAlive: LoadSummary;
  newConnections: LoadSummary;
  steps: { readyMs: number; oldExitMs: number; overlapMs: number; oldExit: number | null }[];
  failures: string[];
}

function runInNetns(migrate: 0 | 1, upgrades: number): Promise<NetnsResult> {
  const runner = join(repoRoot, 'test', 'e2e', 'support', 'upgrade-netns.ts');
  const child = spawn('unshare', ['-n', '--', process.execPath, runner, '--migrate', String(migrate), '--upgrades', String(upgrades), '--bin', join(repoRoot, 'bin', 'bluegreen.js')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (c) => (out += c));
  child.stderr.on('data', (c) => (err += c));
  return new Promise((resolve, reject) => {
    child.on('exit', (code) => {
      const line = out.trim().split('\n').pop() ?? '';
      if (code !== 0 || !line.startsWith('{')) return reject(new Error(`netns runner exited ${code}:\n${out}\n${err}`));
      resolve(JSON.parse(line) as NetnsResult);
    });
  });
}

function report(label: string, r: NetnsResult): LoadSummary {
  const sum = (a: LoadSummary, b: LoadSummary): LoadSummary => ({
    sent: a.sent + b.sent,
    ok: a.ok + b.ok,
    failed: a.failed + b.failed,
    byKind: Object.fromEntries([...new Set([...Object.keys(a.byKind), ...Object.keys(b.byKind)])].map((k) => [k, (a.byKind[k as 'reset'] ?? 0) + (b.byKind[k as 'reset'] ?? 0)])),
    maxLatencyMs: Math.max(a.maxLatencyMs, b.maxLatencyMs),
    byName: {},
  });
  const total = sum(r.keepAlive, r.newConnections);
  const overlaps = r.steps.map((s) => s.overlapMs);
  console.log(
    caseLine(
      label,
      total,
      `upgrades=${r.upgrades} keepAlive=${r.keepAlive.sent}/${r.keepAlive.failed} newConnections=${r.newConnections.sent}/${r.newConnections.failed} ` +
        `newReadyMs=${r.steps.map((s) => s.readyMs).join(',')} overlapMs=${overlaps.join(',')} (new ready → old exited)`,
    ),
  );
  for (const f of r.failures) console.log(`  ${f}`);
  return total;
}

test('upgrade: two bluegreen serve processes on one address, tcp_migrate_req=1: no failed request', async () => {
  const hostValue = readFileSync('/proc/sys/net/ipv4/tcp_migrate_req', 'utf8');
  const r = await runInNetns(1, 4);
  assert.equal(readFileSync('/proc/sys/net/ipv4/tcp_migrate_req', 'utf8'), hostValue, "the host's value is untouched");
  assert.equal(r.migrate, '1');
  const total = report('upgrade, processes, tcp_migrate_req=1', r);
  assert.equal(r.steps.length, 4);
  for (const s of r.steps) assert.equal(s.oldExit, 0, 'the old process drains and exits 0');
  assert.ok(r.keepAlive.sent > 100 && r.newConnections.sent > 100, 'both kinds of clients sent requests throughout');
  assert.equal(total.failed, 0, r.failures.join('\n'));
});

test('upgrade: the same with tcp_migrate_req=0 (figure printed: connections queued on the closing listener are reset)', async () => {
  const r = await runInNetns(0, 4);
  assert.equal(r.migrate, '0');
  const total = report('upgrade, processes, tcp_migrate_req=0', r);
  for (const s of r.steps) assert.equal(s.oldExit, 0);
  // Only new connections can be hit (the kernel resets what is still in the old listener's accept queue).
  assert.equal(r.keepAlive.failed, 0, r.failures.join('\n'));
  assert.equal(total.failed, r.newConnections.failed);
});
