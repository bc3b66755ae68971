import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ServiceStatus, StatusSnapshot, UpstreamStatus } from '../../src/control/status.ts';
import { drainTargets, planDeploy, planRollback } from '../../src/cli/deploy-plan.ts';
import { composeImage, composeServicesFor, imageEnvVar } from '../../src/cli/deploy-services.ts';

/** `id:color:state`, e.g. `b1:blue:ready`; color `-` for none. */
function up(spec: string, service = 'web'): UpstreamStatus {
  const [id = '', color = '-', state = 'ready'] = spec.split(':');
  return {
    id,
    name: `${service}-${id}`,
    service,
    address: '10.0.0.1:8080',
    state: state as UpstreamStatus['state'],
    stateReason: '',
    color: color === '-' ? null : color,
    inFlight: 0,
    webSockets: 0,
    requests: 0,
    failures: 0,
    retries: 0,
    abortedAtDeadline: 0,
    connectFailedUntil: null,
    drainDeadline: state === 'draining' ? '2030-01-01T00:00:00.000Z' : null,
    createdAt: '2026-01-01T00:00:00.000Z',
  };
}

function svc(name: string, active: string | null, mode: 'auto' | 'manual', ups: string[]): ServiceStatus {
  const upstreams = ups.map((s) => up(s, name));
  return {
    name,
    route: { hosts: [], pathPrefix: null },
    isDefault: false,
    paused: false,
    activeColor: active,
    colorMode: mode,
    colorNote: '',
    colors: [...new Set(upstreams.map((u) => u.color).filter((c) => c !== null))].sort(),
    held: 0,
    holdCapacity: 0,
    heldTotal: 0,
    holdTimeouts: 0,
    maxHoldMs: 0,
    upstreams,
  };
}

function status(services: ServiceStatus[], rejected: unknown[] = []): StatusSnapshot {
  return {
    proxy: { requests: 0, active: 0, retries: 0, failed: 0, held: 0, holdTimeouts: 0, heldBeforeSync: 0, closing: false },
    services,
    routing: { defaultService: null, conflicts: [] },
    discovery: { status: {}, rejected },
    config: null,
  };
}

test('planDeploy: the idle color is the other of the active one; what blocks a release', () => {
  const table: [string, StatusSnapshot, string][] = [
    ['unknown service: first release, blue', status([]), 'ok null->blue mode=null'],
    ['blue active, auto', status([svc('web', 'blue', 'auto', ['b1:blue:ready'])]), 'ok blue->green mode=auto'],
    ['green active, manual', status([svc('web', 'green', 'manual', ['g1:green:ready', 'b1:blue:draining'])]), 'ok green->blue mode=manual'],
    ['known, nothing active (no color ever ready)', status([svc('web', null, 'auto', ['b1:blue:starting'])]), 'ok null->blue mode=auto'],
    ['retained service without upstreams', status([svc('web', null, 'auto', [])]), 'ok null->blue mode=auto'],
    ['uncolored upstreams: not blue/green', status([svc('web', null, 'auto', ['u1:-:ready'])]), 'no: without a bluegreen.color label (web-u1)'],
    ['active color outside blue/green', status([svc('web', 'red', 'manual', ['r1:red:ready'])]), 'no: active color is "red"'],
    ['other services do not matter', status([svc('api', 'green', 'auto', ['a:green:ready']), svc('web', 'green', 'auto', ['g:green:ready'])]), 'ok green->blue mode=auto'],
  ];
  for (const [what, s, want] of table) {
    const r = planDeploy(s, 'web');
    const got = r.ok ? `ok ${r.plan.from}->${r.plan.to} mode=${r.plan.mode}` : `no: ${r.reason}`;
    if (want.startsWith('no: ')) assert.ok(got.startsWith('no: ') && got.includes(want.slice(4)), `${what}: ${got}`);
    else assert.equal(got, want, what);
  }
});

test('planRollback: only to a warm color (a ready upstream of the other color)', () => {
  const table: [string, StatusSnapshot, string][] = [
    ['green active, blue still ready', status([svc('web', 'green', 'manual', ['b1:blue:ready', 'g1:green:ready'])]), 'ok green->blue warm=1'],
    ['blue active, two green ready, one starting', status([svc('web', 'blue', 'manual', ['b1:blue:ready', 'g1:green:ready', 'g2:green:ready', 'g3:green:starting'])]), 'ok blue->green warm=2'],
    ['old color drained away', status([svc('web', 'green', 'manual', ['g1:green:ready'])]), 'no: it has no upstream in the proxy'],
    ['old color draining', status([svc('web', 'green', 'manual', ['b1:blue:draining', 'g1:green:ready'])]), 'no: its upstreams are web-b1 draining'],
    ['old color unhealthy', status([svc('web', 'green', 'manual', ['b1:blue:unhealthy', 'g1:green:ready'])]), 'no: web-b1 unhealthy'],
    ['unknown service', status([]), 'no: knows no service web'],
    ['nothing active', status([svc('web', null, 'auto', ['b1:blue:starting'])]), 'no: no active color'],
  ];
  for (const [what, s, want] of table) {
    const r = planRollback(s, 'web');
    const got = r.ok ? `ok ${r.plan.from}->${r.plan.to} warm=${r.plan.warm}` : `no: ${r.reason}`;
    if (want.startsWith('no: ')) assert.ok(got.startsWith('no: ') && got.includes(want.slice(4)), `${what}: ${got}`);
    else assert.equal(got, want, what);
  }
});

test('drainTargets: the old color, what to drain and what to wait for', () => {
  const s = status([svc('web', 'green', 'manual', ['b1:blue:ready', 'b2:blue:unhealthy', 'b3:blue:draining', 'b4:blue:gone', 'g1:green:ready'])]);
  const t = drainTargets(s, 'web', 'blue');
  assert.deepEqual(t.drain.map((u) => u.id), ['b1', 'b2']);
  assert.deepEqual(t.draining.map((u) => u.id), ['b3']);
  assert.deepEqual(drainTargets(s, 'nope', 'blue'), { drain: [], draining: [] });
});

test('composeServicesFor: the compose service of each color, by labels; the convention names in errors', () => {
  const labelled = (service: string, color: string) => ({ image: 'x', labels: { 'bluegreen.service': service, 'bluegreen.color': color } });
  const table: [string, unknown, string][] = [
    ['conventional names', { services: { 'web-blue': labelled('web', 'blue'), 'web-green': labelled('web', 'green'), db: { image: 'pg' } } }, 'web-blue web-green'],
    ['any names, by label', { services: { app_b: labelled('web', 'blue'), app_g: labelled('web', 'green') } }, 'app_b app_g'],
    ['labels as a list', { services: { b: { labels: ['bluegreen.service=web', 'bluegreen.color=blue'] }, g: { labels: ['bluegreen.service=web', 'bluegreen.color=green'] } } }, 'b g'],
    ['config unreadable: convention unchecked', undefined, 'web-blue web-green'],
    ['green missing', { services: { 'web-blue': labelled('web', 'blue') } }, 'no: no compose service for web green: expected one labelled bluegreen.service=web and bluegreen.color=green (named web-green by convention)'],
    ['green mislabelled', { services: { 'web-blue': labelled('web', 'blue'), 'web-green': labelled('web', 'blue') } }, 'no: several compose services are labelled bluegreen.service=web, bluegreen.color=blue: web-blue, web-green'],
    ['green without labels', { services: { 'web-blue': labelled('web', 'blue'), 'web-green': { image: 'x' } } }, 'no: compose service web-green is not labelled bluegreen.service=web and bluegreen.color=green (it has bluegreen.service=(unset), bluegreen.color=(unset))'],
    ['another service', { services: { 'api-blue': labelled('api', 'blue'), 'api-green': labelled('api', 'green') } }, 'no: no compose service for web blue'],
  ];
  for (const [what, config, want] of table) {
    const r = composeServicesFor(config, 'web');
    const got = r.ok ? `${r.services.blue} ${r.services.green}` : `no: ${r.reason}`;
    if (want.startsWith('no: ')) assert.ok(got.startsWith(want), `${what}: ${got}`);
    else assert.equal(got, want, what);
  }
});

test('imageEnvVar: named after the compose service without its color', () => {
  const table: [string, string][] = [
    ['web-green', 'WEB_IMAGE'],
    ['web-blue', 'WEB_IMAGE'],
    ['my.app_blue', 'MY_APP_IMAGE'],
    ['shop-web-Green', 'SHOP_WEB_IMAGE'],
    ['api', 'API_IMAGE'],
    ['green', 'GREEN_IMAGE'],
  ];
  for (const [name, want] of table) assert.equal(imageEnvVar(name), want, name);
});

test('composeImage: the image compose resolved for a service', () => {
  const config = { services: { 'web-green': { image: 'app:2' }, built: { build: '.' } } };
  const table: [string, string | undefined][] = [
    ['web-green', 'app:2'],
    ['built', undefined],
    ['missing', undefined],
  ];
  for (const [name, want] of table) assert.equal(composeImage(config, name), want, name);
  assert.equal(composeImage(undefined, 'web-green'), undefined);
});
