import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LeastInFlightBalancer } from '../../src/dataplane/balancer.ts';
import { Upstream } from '../../src/registry/upstream.ts';

const mk = (id: string) => new Upstream({ id, name: id, service: 's', host: '127.0.0.1', port: 1, state: 'ready' });

test('ties are broken round-robin', () => {
  const b = new LeastInFlightBalancer();
  const ups = [mk('a'), mk('b'), mk('c')];
  const picks = Array.from({ length: 6 }, () => b.pick(ups, undefined, 0)!.id);
  assert.deepEqual(picks.slice(0, 3).sort(), ['a', 'b', 'c']);
  assert.deepEqual(picks.slice(3), picks.slice(0, 3));
});

test('least in-flight wins', () => {
  const b = new LeastInFlightBalancer();
  const [a, bb, c] = [mk('a'), mk('b'), mk('c')];
  a.track({ kind: 'http', abort() {} });
  a.track({ kind: 'http', abort() {} });
  c.track({ kind: 'http', abort() {} });
  for (let i = 0; i < 5; i++) assert.equal(b.pick([a, bb, c], undefined, 0), bb);
});

test('a failed upstream is picked only when nothing else is left, excluded ones never', () => {
  const b = new LeastInFlightBalancer();
  const [a, bb] = [mk('a'), mk('b')];
  a.failedUntil = 1000;
  bb.track({ kind: 'http', abort() {} });
  bb.track({ kind: 'http', abort() {} });
  assert.equal(b.pick([a, bb], undefined, 500), bb);
  assert.equal(b.pick([a, bb], new Set([bb]), 500), a);
  assert.equal(b.pick([a, bb], new Set([a, bb]), 500), undefined);
  assert.equal(b.pick([a, bb], undefined, 2000), a); // failure expired; a is least loaded
  assert.equal(b.pick([], undefined, 0), undefined);
});
