import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addUpstream, refusedPort, sleep, startUpstream } from '../support/servers.ts';
import { request } from '../support/http.ts';
import { api, sample, startAdmin } from './harness.ts';

async function scrape(adminUrl: string): Promise<string> {
  const res = await fetch(`${adminUrl}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
  return res.text();
}

test('requests by service, upstream and status class after known traffic; every name is bluegreen_*', async (t) => {
  const h = await startAdmin();
  t.after(() => h.close());
  const up = await startUpstream('u', (req, res) => {
    res.statusCode = req.url === '/boom' ? 500 : 200;
    res.end('x');
  });
  t.after(() => up.close());
  const u = addUpstream(h.proxy, 'web', up.port);
  h.proxy.registry.defineService('web', { hosts: ['web.example'] });
  for (let i = 0; i < 3; i++) assert.equal((await request(`${h.url}/ok`, { headers: { host: 'web.example' } })).status, 200);
  assert.equal((await request(`${h.url}/boom`, { headers: { host: 'web.example' } })).status, 500);
  assert.equal((await request(`${h.url}/`, { headers: { host: 'nowhere.example' } })).status, 404);

  const text = await scrape(h.adminUrl);
  assert.equal(sample(text, 'bluegreen_requests_total', { service: 'web', upstream: u.name, status_class: '2xx' }), 3);
  assert.equal(sample(text, 'bluegreen_requests_total', { service: 'web', upstream: u.name, status_class: '5xx' }), 1);
  assert.equal(sample(text, 'bluegreen_requests_total', { service: '', upstream: '', status_class: '4xx' }), 1);
  assert.equal(sample(text, 'bluegreen_upstream_in_flight', { service: 'web', upstream: u.name, color: '' }), 0);
  assert.equal(sample(text, 'bluegreen_upstreams', { service: 'web', state: 'ready' }), 1);
  assert.equal(sample(text, 'bluegreen_held_requests', { service: 'web' }), 0);
  assert.equal(sample(text, 'bluegreen_service_paused', { service: 'web' }), 0);
  assert.equal(sample(text, 'bluegreen_router_conflicts'), 0);
  const names = new Set([...text.matchAll(/^# TYPE (\S+) (\w+)$/gm)].map((m) => `${m[1]} ${m[2]}`));
  for (const expected of [
    'bluegreen_requests_total counter',
    'bluegreen_retries_total counter',
    'bluegreen_upstream_in_flight gauge',
    'bluegreen_held_requests gauge',
    'bluegreen_hold_duration_seconds histogram',
    'bluegreen_drain_duration_seconds histogram',
    'bluegreen_drain_aborted_total counter',
    // prom-client's process and Node.js metrics, under our prefix (the soak reads the heap from them)
    'bluegreen_process_resident_memory_bytes gauge',
    'bluegreen_process_open_fds gauge',
    'bluegreen_nodejs_heap_size_used_bytes gauge',
    'bluegreen_nodejs_eventloop_lag_p99_seconds gauge',
  ]) {
    assert.ok(names.has(expected), `missing ${expected}`);
  }
  for (const n of names) assert.match(n, /^bluegreen_/);
  // Values of this very process: RSS and heap are real byte counts, the open fds include the admin socket.
  const rss = sample(text, 'bluegreen_process_resident_memory_bytes') ?? 0;
  assert.ok(rss > 10 * 1024 * 1024 && rss < 64 * 1024 ** 3, `rss ${rss}`);
  const heap = sample(text, 'bluegreen_nodejs_heap_size_used_bytes') ?? 0;
  assert.ok(heap > 1024 * 1024 && heap < rss, `heap ${heap}`);
  assert.ok((sample(text, 'bluegreen_process_open_fds') ?? 0) >= 3);
});

test('in-flight gauge during a slow request; hold histogram after a held request; a retry is counted on the failed upstream', async (t) => {
  const h = await startAdmin();
  t.after(() => h.close());
  const good = await startUpstream('good', (req, res) => setTimeout(() => res.end('ok'), req.url === '/slow' ? 500 : 0));
  t.after(() => good.close());
  const bad = addUpstream(h.proxy, 'web', await refusedPort(), 'ready', { color: 'blue' });
  const g = addUpstream(h.proxy, 'web', good.port, 'starting', { color: 'blue' });

  // The only ready upstream refuses: the GET is retried, waits, and goes to `good` once it is ready.
  const held = request(`${h.url}/held`);
  // Once it is held (a loaded machine may take a while to get it there), keep it held for 120 ms:
  // more than the 0.1 s bucket, less than the 250 ms pause before a failed upstream is tried again.
  for (let i = 0; i < 500 && sample(await scrape(h.adminUrl), 'bluegreen_held_requests', { service: 'web' }) !== 1; i++) await sleep(10);
  await sleep(120);
  g.setState('ready');
  assert.equal((await held).status, 200);

  const slow = request(`${h.url}/slow`);
  await sleep(200);
  let text = await scrape(h.adminUrl);
  assert.equal(sample(text, 'bluegreen_upstream_in_flight', { service: 'web', upstream: g.name, color: 'blue' }), 1);
  await slow;

  text = await scrape(h.adminUrl);
  assert.equal(sample(text, 'bluegreen_upstream_in_flight', { service: 'web', upstream: g.name, color: 'blue' }), 0);
  assert.equal(sample(text, 'bluegreen_retries_total', { service: 'web', upstream: bad.name }), 1);
  assert.equal(sample(text, 'bluegreen_requests_total', { service: 'web', upstream: g.name, status_class: '2xx' }), 2);
  assert.equal(sample(text, 'bluegreen_hold_duration_seconds_count', { service: 'web' }), 1);
  const heldSeconds = sample(text, 'bluegreen_hold_duration_seconds_sum', { service: 'web' })!;
  assert.ok(heldSeconds >= 0.1 && heldSeconds < 2, `held ${heldSeconds}s`);
  assert.equal(sample(text, 'bluegreen_hold_duration_seconds_bucket', { service: 'web', le: '0.1' }), 0);
  assert.equal(sample(text, 'bluegreen_hold_duration_seconds_bucket', { service: 'web', le: '+Inf' }), 1);
  assert.equal(sample(text, 'bluegreen_service_active_color', { service: 'web', color: 'blue' }), 1);
});

test('drains: duration by outcome, and requests aborted at the deadline', async (t) => {
  const h = await startAdmin();
  t.after(() => h.close());
  const up = await startUpstream('u', (req, res) => setTimeout(() => res.end('late'), req.url === '/hang' ? 5000 : 0));
  t.after(() => up.close());
  const quick = addUpstream(h.proxy, 'web', up.port);
  const stuck = addUpstream(h.proxy, 'web', up.port);
  assert.equal((await api(h.adminUrl, `/api/upstreams/${quick.id}/drain`, { method: 'POST' })).json.state, 'gone');

  // Aborted at the deadline, the GET goes back to wait for another upstream (none comes; the
  // proxy's stop answers it).
  void request(`${h.url}/hang`).catch(() => {});
  await sleep(100);
  const r = await api(h.adminUrl, `/api/upstreams/${stuck.id}/drain`, { body: { timeout: '300ms' } });
  assert.equal(r.json.state, 'draining');
  await sleep(500);

  const text = await scrape(h.adminUrl);
  assert.equal(sample(text, 'bluegreen_drain_duration_seconds_count', { service: 'web', outcome: 'drained' }), 1);
  assert.equal(sample(text, 'bluegreen_drain_duration_seconds_count', { service: 'web', outcome: 'deadline' }), 1);
  const s = sample(text, 'bluegreen_drain_duration_seconds_sum', { service: 'web', outcome: 'deadline' })!;
  assert.ok(s >= 0.25 && s < 1.5, `drain took ${s}s`);
  assert.equal(sample(text, 'bluegreen_drain_aborted_total', { service: 'web' }), 1);
  assert.equal(sample(text, 'bluegreen_upstreams', { service: 'web', state: 'ready' }), undefined);
});

test('discovery and config providers: their counts become metrics, their problems appear in the status', async (t) => {
  const rejected = [{ id: 'c0ffee', name: 'broken-app', problems: ['bluegreen.port: "http" is not a port'] }];
  const discovery = { status: () => ({ connected: true, events: 42, reconnects: 2 }), rejected };
  const configStatus = {
    status: () => ({ path: '/etc/bluegreen/bluegreen.yml', reloads: 5, reloadFailures: 1 }),
    errors: [{ path: '/etc/bluegreen/bluegreen.yml', key: 'hold.timeout', message: 'duration "soon" needs a unit' }],
  };
  const h = await startAdmin({ discovery, configStatus });
  t.after(() => h.close());
  const text = await scrape(h.adminUrl);
  assert.equal(sample(text, 'bluegreen_discovery_events_total'), 42);
  assert.equal(sample(text, 'bluegreen_discovery_reconnects_total'), 2);
  assert.equal(sample(text, 'bluegreen_discovery_connected'), 1);
  assert.equal(sample(text, 'bluegreen_discovery_rejected_containers'), 1);
  assert.equal(sample(text, 'bluegreen_config_reloads_total'), 5);
  assert.equal(sample(text, 'bluegreen_config_reload_failures_total'), 1);
  assert.equal(sample(text, 'bluegreen_config_errors'), 1);

  const s = await api(h.adminUrl, '/api/status');
  assert.deepEqual(s.json.discovery, { status: { connected: true, events: 42, reconnects: 2 }, rejected });
  assert.deepEqual(s.json.config.errors, configStatus.errors);
  assert.equal(s.json.config.status.reloads, 5);

  // Without providers, those metrics are absent and the sections are null.
  const plain = await startAdmin();
  t.after(() => plain.close());
  assert.doesNotMatch(await scrape(plain.adminUrl), /bluegreen_(discovery|config)_/);
});
