import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Router, normalizeHost, prefixMatches } from '../../src/dataplane/router.ts';
import { Service } from '../../src/registry/service.ts';

function svc(name: string, hosts: string[], pathPrefix?: string): Service {
  const s = new Service(name, 10);
  s.route = { hosts, pathPrefix };
  return s;
}

const services = [
  svc('app', ['app.example.com']),
  svc('app-api', ['app.example.com'], '/api'),
  svc('app-api-v2', ['app.example.com'], '/api/v2'),
  svc('wild', ['*.example.com']),
  svc('deep-wild', ['*.eu.example.com']),
  svc('static', [], '/static'),
  svc('fallback', []),
];
const router = new Router(services);

const cases: [string | undefined, string, string | undefined][] = [
  ['app.example.com', '/', 'app'],
  ['APP.example.com:8080', '/', 'app'],
  ['app.example.com', '/api', 'app-api'],
  ['app.example.com', '/api/users?x=1', 'app-api'],
  ['app.example.com', '/api?x=1', 'app-api'],
  ['app.example.com', '/apix', 'app'],
  ['app.example.com', '/api/v2/things', 'app-api-v2'],
  ['shop.example.com', '/', 'wild'],
  ['a.b.example.com', '/', 'wild'],
  ['x.eu.example.com', '/', 'deep-wild'],
  ['example.com', '/', 'fallback'],
  ['other.org', '/static/app.js', 'static'],
  ['other.org', '/', 'fallback'],
  [undefined, '/', 'fallback'],
];

test('host and path matching', () => {
  for (const [host, path, expected] of cases) {
    assert.equal(router.match(host, path).service?.name, expected, `${host} ${path}`);
  }
  assert.deepEqual(router.conflicts, []);
});

test('no default: the miss names the host', () => {
  const r = new Router([svc('app', ['app.example.com'])]);
  const m = r.match('nope.example.org:80', '/x?y');
  assert.equal(m.service, undefined);
  assert.match((m as { reason: string }).reason, /nope\.example\.org/);
});

test('two default services: a conflict, neither wins', () => {
  const r = new Router([svc('a', []), svc('b', [])]);
  assert.equal(r.defaultService, undefined);
  assert.equal(r.match('x', '/').service, undefined);
  assert.match(r.conflicts[0]!, /a, b .*default/);
});

test('two services claiming the same host and path are reported', () => {
  const r = new Router([svc('a', ['x.com']), svc('b', ['x.com'])]);
  assert.match(r.conflicts.join(), /a and b both claim x\.com/);
});

test('helpers', () => {
  assert.equal(normalizeHost('[::1]:8080'), '::1');
  assert.equal(normalizeHost('Example.COM.'), 'example.com');
  assert.equal(normalizeHost(''), undefined);
  assert.equal(prefixMatches('/a', '/a'), true);
  assert.equal(prefixMatches('/a', '/a/b'), true);
  assert.equal(prefixMatches('/a', '/ab'), false);
  assert.equal(prefixMatches(undefined, '/anything'), true);
});
