import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { applyStaticUpstreams } from '../../src/config/apply.ts';
import { diffSettings } from '../../src/config/config-watcher.ts';
import { resolveSettings } from '../../src/config/load.ts';
import type { StaticUpstream } from '../../src/config/schema.ts';
import { Registry } from '../../src/registry/registry.ts';

const log = pino({ level: 'silent' });

function ups(yaml: string): StaticUpstream[] {
  return resolveSettings({ file: '/x.yml', explicit: false, text: `staticUpstreams:\n${yaml}`, env: {} }).settings.staticUpstreams;
}

function snapshot(r: Registry) {
  return {
    upstreams: [...r.upstreams.values()].map((u) => `${u.id} ${u.state}`).sort(),
    services: [...r.services.values()].map((s) => `${s.name} [${s.route.hosts.join(',')}] ${s.route.pathPrefix ?? ''}`).sort(),
  };
}

test('static upstreams: added ready, unchanged ones untouched, removed ones drained, routes set', () => {
  const r = new Registry({ logger: log });
  const v1 = ups(`
  - { service: api, address: "10.0.0.1:80", hosts: [api.example.com] }
  - { service: api, address: "10.0.0.2:80" }
  - { service: web, address: "10.0.0.3:80", path: /web }
`);
  const first = applyStaticUpstreams(r, v1, []);
  assert.deepEqual(first, {
    added: ['static:api:10.0.0.1:80', 'static:api:10.0.0.2:80', 'static:web:10.0.0.3:80'],
    drained: [],
    kept: [],
  });
  assert.deepEqual(snapshot(r), {
    upstreams: ['static:api:10.0.0.1:80 ready', 'static:api:10.0.0.2:80 ready', 'static:web:10.0.0.3:80 ready'],
    services: ['api [api.example.com] ', 'web [] /web'],
  });
  assert.equal(r.upstream('static:api:10.0.0.1:80').name, '10.0.0.1:80');

  // Applying the same list again changes nothing and emits nothing.
  const events: string[] = [];
  for (const e of ['upstream-added', 'upstream-removed', 'upstream-state', 'routes-changed'] as const) r.on(e, () => events.push(e));
  const kept = r.upstream('static:api:10.0.0.1:80');
  assert.deepEqual(applyStaticUpstreams(r, v1, v1), {
    added: [],
    drained: [],
    kept: ['static:api:10.0.0.1:80', 'static:api:10.0.0.2:80', 'static:web:10.0.0.3:80'],
  });
  assert.deepEqual(events, []);

  // An in-flight request on a kept upstream is not disturbed by a reload that changes others.
  let aborted = false;
  const release = kept.track({ kind: 'http', abort: () => (aborted = true) });
  const v2 = ups(`
  - { service: api, address: "10.0.0.1:80", hosts: [api.example.com, "*.api.example.com"] }
  - { service: api, address: "10.0.0.4:80" }
  - { service: web, address: "10.0.0.3:80", path: /web }
`);
  const second = applyStaticUpstreams(r, v2, v1);
  assert.deepEqual(second, {
    added: ['static:api:10.0.0.4:80'],
    drained: ['static:api:10.0.0.2:80'],
    kept: ['static:api:10.0.0.1:80', 'static:web:10.0.0.3:80'],
  });
  assert.equal(r.upstream('static:api:10.0.0.1:80'), kept);
  assert.equal(kept.state, 'ready');
  assert.equal(aborted, false);
  assert.deepEqual(r.service('api')!.route.hosts, ['*.api.example.com', 'api.example.com']);
  // 10.0.0.2 had nothing in flight: drained and gone at once.
  assert.equal(r.upstreams.has('static:api:10.0.0.2:80'), false);
  assert.deepEqual(events, ['routes-changed', 'upstream-added', 'upstream-state', 'upstream-state', 'upstream-removed']); // draining, gone
  release();
});

test('static upstreams: a drained upstream with requests in flight stays until they finish', () => {
  const r = new Registry({ logger: log, defaultDrainTimeoutMs: 60_000 });
  const v1 = ups('  - api=10.0.0.1:80\n');
  applyStaticUpstreams(r, v1, []);
  const up = r.upstream('static:api:10.0.0.1:80');
  let aborted = false;
  const release = up.track({ kind: 'http', abort: () => (aborted = true) });
  const v2 = ups('  - api=10.0.0.9:80\n');
  assert.deepEqual(applyStaticUpstreams(r, v2, v1), { added: ['static:api:10.0.0.9:80'], drained: ['static:api:10.0.0.1:80'], kept: [] });
  assert.equal(up.state, 'draining');
  assert.deepEqual(r.service('api')!.eligible().map((u) => u.id), ['static:api:10.0.0.9:80'], 'the new one serves at once');

  // Re-adding the address while its old incarnation drains gets a fresh id; the drain goes on.
  assert.deepEqual(applyStaticUpstreams(r, v1, v2), { added: ['static:api:10.0.0.1:80#2'], drained: ['static:api:10.0.0.9:80'], kept: [] });
  assert.equal(up.state, 'draining');
  release();
  assert.equal(aborted, false);
  assert.equal(r.upstreams.has('static:api:10.0.0.1:80'), false);
  assert.deepEqual(snapshot(r).upstreams, ['static:api:10.0.0.1:80#2 ready']);
  // Removing it again finds the #2 incarnation.
  assert.deepEqual(applyStaticUpstreams(r, [], v1).drained, ['static:api:10.0.0.1:80#2']);
});

test('static upstreams: a color change is a replacement; colors make a blue/green service', () => {
  const r = new Registry({ logger: log });
  const blue = ups('  - { service: app, address: "10.0.0.1:80", color: blue }\n');
  applyStaticUpstreams(r, blue, []);
  assert.equal(r.service('app')!.activeColor, 'blue');
  const both = ups('  - { service: app, address: "10.0.0.1:80", color: blue }\n  - { service: app, address: "10.0.0.2:80", color: green }\n');
  applyStaticUpstreams(r, both, blue);
  assert.deepEqual(r.service('app')!.colors(), ['blue', 'green']);
  const green = ups('  - { service: app, address: "10.0.0.1:80", color: green }\n');
  assert.deepEqual(applyStaticUpstreams(r, green, both), {
    added: ['static:app:10.0.0.1:80@green'],
    drained: ['static:app:10.0.0.1:80@blue', 'static:app:10.0.0.2:80@green'],
    kept: [],
  });
  assert.equal(r.service('app')!.activeColor, 'green');
});

test('static upstreams: a service removed from the config loses its route once drained', () => {
  const r = new Registry({ logger: log, defaultDrainTimeoutMs: 60_000 });
  const v1 = ups('  - { service: api, address: "10.0.0.1:80", hosts: [a.com] }\n  - { service: web, address: "10.0.0.2:80", hosts: [w.com] }\n');
  applyStaticUpstreams(r, v1, []);
  const web = r.upstream('static:web:10.0.0.2:80');
  const release = web.track({ kind: 'http', abort: () => {} });
  const v2 = ups('  - { service: api, address: "10.0.0.1:80", hosts: [a.com] }\n');
  applyStaticUpstreams(r, v2, v1);
  assert.ok(r.service('web'), 'kept while its upstream drains');
  release();
  assert.equal(r.service('web'), undefined);
  assert.deepEqual(snapshot(r).services, ['api [a.com] ']);
  // A service with nothing in flight goes at once.
  applyStaticUpstreams(r, [], v2);
  assert.equal(r.service('api'), undefined);
});

test('static upstreams from a config reload: diff and apply', () => {
  const r = new Registry({ logger: log });
  const load = (text: string) => resolveSettings({ file: '/x.yml', explicit: false, text, env: {} }).settings;
  const a = load('staticUpstreams: [api=127.0.0.1:3000]\nholdTimeout: 1s\n');
  applyStaticUpstreams(r, a.staticUpstreams, []);
  const b = load('staticUpstreams: [api=127.0.0.1:3000, api=127.0.0.1:3001]\nholdTimeout: 1s\n');
  assert.deepEqual(diffSettings(a, b), { changed: ['staticUpstreams'], restart: [], live: ['staticUpstreams'] });
  assert.deepEqual(applyStaticUpstreams(r, b.staticUpstreams, a.staticUpstreams).added, ['static:api:127.0.0.1:3001']);
  assert.deepEqual(snapshot(r).upstreams, ['static:api:127.0.0.1:3000 ready', 'static:api:127.0.0.1:3001 ready']);
  // Ids match the ones serve's --upstream uses, so startup-added upstreams are recognised and kept.
  const fresh = new Registry({ logger: log });
  fresh.addUpstream({ id: 'static:api:127.0.0.1:3000', name: '127.0.0.1:3000', service: 'api', host: '127.0.0.1', port: 3000, state: 'ready' });
  assert.deepEqual(applyStaticUpstreams(fresh, a.staticUpstreams, []), { added: [], drained: [], kept: ['static:api:127.0.0.1:3000'] });
});
