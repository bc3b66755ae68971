// The admin status says why a newer color does not take over (issue 9, "a new color that never
// becomes healthy"): each of its upstreams with its state and the reason it is in it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { Registry } from '../../src/registry/registry.ts';
import { serviceStatus } from '../../src/control/status.ts';

const log = pino({ level: 'silent' });

function add(r: Registry, id: string, color: string, createdAt: number, state: 'starting' | 'ready' = 'starting') {
  return r.addUpstream({ id, name: `web-${id}`, service: 'web', host: '127.0.0.1', port: 1, color, createdAt, state });
}

test('a newer color with no ready upstream: the note names it, its upstreams, their states and reasons; blue keeps serving', () => {
  const r = new Registry({ logger: log });
  add(r, 'b1', 'blue', 1000, 'ready');
  const svc = r.service('web')!;
  assert.equal(svc.activeColor, 'blue');
  assert.equal(svc.colorNote, 'newest ready color');

  add(r, 'g1', 'green', 2000);
  add(r, 'g2', 'green', 2001);
  r.setState('g1', 'unhealthy', 'docker health: unhealthy (health_status event)');
  r.upstream('g2').stateReason = 'http probe: GET /health answered 503';
  assert.equal(svc.activeColor, 'blue', 'nothing switched');
  const note = serviceStatus(svc).colorNote;
  assert.equal(
    note,
    'color green is newer but not switched to: no ready upstream (web-g1 unhealthy: docker health: unhealthy (health_status event); ' +
      'web-g2 starting: http probe: GET /health answered 503); blue keeps serving',
  );
  const g1 = serviceStatus(svc).upstreams.find((u) => u.name === 'web-g1')!;
  assert.equal(g1.state, 'unhealthy');
  assert.equal(g1.stateReason, 'docker health: unhealthy (health_status event)');
  assert.equal(g1.connectFailedUntil, null);

  // Once green is ready it takes over, and the note says why it is active.
  r.setState('g2', 'ready', 'http probe succeeded');
  assert.equal(svc.activeColor, 'green');
  assert.equal(svc.colorNote, 'newest ready color');
  assert.equal(r.upstream('g2').stateReason, 'http probe succeeded');
});

test('an older color that is not ready is not reported; an illegal transition keeps the old reason', () => {
  const r = new Registry({ logger: log });
  add(r, 'g1', 'green', 2000, 'ready');
  add(r, 'b1', 'blue', 1000);
  r.setState('b1', 'unhealthy', 'docker health: unhealthy');
  assert.equal(r.service('web')!.colorNote, 'newest ready color');
  r.upstream('b1').track({ kind: 'http', abort: () => {} }); // in flight: the drain keeps it
  r.drain('b1');
  assert.throws(() => r.setState('b1', 'ready', 'late probe'));
  assert.equal(r.upstream('b1').stateReason, 'docker health: unhealthy');
});
