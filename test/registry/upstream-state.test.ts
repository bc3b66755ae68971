import { test } from 'node:test';
import assert from 'node:assert/strict';
import { canTransition, UPSTREAM_STATES } from '../../src/registry/upstream-state.ts';
import { Upstream } from '../../src/registry/upstream.ts';
import { isBluegreenError } from '../../src/errors.ts';

const legal: [string, string][] = [
  ['starting', 'ready'], ['starting', 'unhealthy'], ['starting', 'draining'], ['starting', 'gone'],
  ['ready', 'unhealthy'], ['ready', 'draining'], ['ready', 'gone'],
  ['unhealthy', 'ready'], ['unhealthy', 'draining'], ['unhealthy', 'gone'],
  ['draining', 'gone'],
];

test('the transition table allows exactly the lifecycle moves', () => {
  for (const from of UPSTREAM_STATES) {
    for (const to of UPSTREAM_STATES) {
      if (from === to) continue;
      const expected = legal.some(([f, t]) => f === from && t === to);
      assert.equal(canTransition(from, to), expected, `${from} -> ${to}`);
    }
  }
});

test('a draining upstream can never become ready again', () => {
  const u = new Upstream({ id: 'a', name: 'web-1', service: 'web', host: '127.0.0.1', port: 1, state: 'ready' });
  u.setState('draining');
  assert.throws(() => u.setState('ready'), (e: unknown) => isBluegreenError(e, 'INVALID_TRANSITION') && /web-1.*draining to ready/.test(e.message));
  assert.throws(() => u.setState('unhealthy'), (e: unknown) => isBluegreenError(e, 'INVALID_TRANSITION'));
  assert.equal(u.state, 'draining');
});

test('in-flight accounting emits idle when a draining upstream reaches zero', () => {
  const u = new Upstream({ id: 'a', name: 'web-1', service: 'web', host: '127.0.0.1', port: 1, state: 'ready' });
  let idle = 0;
  u.on('idle', () => idle++);
  const r1 = u.track({ kind: 'http', abort() {} });
  const r2 = u.track({ kind: 'websocket', abort() {} });
  assert.equal(u.inFlight, 2);
  assert.equal(u.webSockets, 1);
  u.setState('draining');
  assert.equal(idle, 0);
  r1();
  r1(); // releasing twice counts once
  assert.equal(u.inFlight, 1);
  assert.equal(idle, 0);
  r2();
  assert.equal(idle, 1);
});

test('abortAll aborts every in-flight handle and reports the count', () => {
  const u = new Upstream({ id: 'a', name: 'web-1', service: 'web', host: '127.0.0.1', port: 1 });
  const reasons: string[] = [];
  u.track({ kind: 'http', abort: (e) => reasons.push(e.message) });
  u.track({ kind: 'http', abort: (e) => reasons.push(e.message) });
  assert.equal(u.abortAll(new Error('deadline')), 2);
  assert.deepEqual(reasons, ['deadline', 'deadline']);
});
