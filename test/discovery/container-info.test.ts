import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { containerInfoFromInspect, type ContainerInfo } from '../../src/discovery/container-info.ts';

/** A trimmed Docker Engine API 1.41 inspect result for a compose container with a healthcheck. */
const inspect = {
  Id: '4fa6e0f0c6786287e131c3852c58a2e01cc697a68231826813597e4994f1d6e2',
  Created: '2024-05-01T12:00:00.123456789Z',
  Path: 'node',
  Args: ['server.js'],
  State: {
    Status: 'running',
    Running: true,
    Paused: false,
    Restarting: false,
    OOMKilled: false,
    Dead: false,
    Pid: 1234,
    ExitCode: 0,
    Error: '',
    StartedAt: '2024-05-01T12:00:01.000000000Z',
    FinishedAt: '0001-01-01T00:00:00Z',
    Health: { Status: 'starting', FailingStreak: 0, Log: [] },
  },
  Name: '/web-blue-1',
  RestartCount: 0,
  HostConfig: { NetworkMode: 'shop_default', RestartPolicy: { Name: 'no', MaximumRetryCount: 0 } },
  Config: {
    Hostname: '4fa6e0f0c678',
    Image: 'shop/web:2',
    Labels: {
      'bluegreen.service': 'web',
      'bluegreen.color': 'blue',
      'com.docker.compose.project': 'shop',
    },
    ExposedPorts: { '8080/tcp': {}, '53/udp': {}, '443/tcp': {}, '9229/tcp': {} },
    Healthcheck: { Test: ['CMD-SHELL', 'curl -f http://localhost:8080/health'], Interval: 1000000000 },
    StopSignal: 'SIGQUIT',
    StopTimeout: 20,
  },
  NetworkSettings: {
    Bridge: '',
    IPAddress: '',
    Networks: {
      shop_default: {
        NetworkID: 'abc',
        EndpointID: 'def',
        Gateway: '172.20.0.1',
        IPAddress: '172.20.0.5',
        IPPrefixLen: 16,
        GlobalIPv6Address: '',
        MacAddress: '02:42:ac:14:00:05',
      },
      proxy: { IPAddress: '172.30.0.7', GlobalIPv6Address: 'fd00::7' },
      v6only: { IPAddress: '', GlobalIPv6Address: 'fd01::9' },
      detached: { IPAddress: '', GlobalIPv6Address: '' },
    },
  },
};

test('maps a full inspect result', () => {
  const expected: ContainerInfo = {
    id: inspect.Id,
    name: 'web-blue-1',
    labels: { 'bluegreen.service': 'web', 'bluegreen.color': 'blue', 'com.docker.compose.project': 'shop' },
    createdAt: Date.UTC(2024, 4, 1, 12, 0, 0, 123),
    running: true,
    paused: false,
    networkMode: 'shop_default',
    networks: {
      shop_default: { ip: '172.20.0.5' },
      proxy: { ip: '172.30.0.7', ipv6: 'fd00::7' },
      v6only: { ip: 'fd01::9', ipv6: 'fd01::9' },
    },
    exposedPorts: [443, 8080, 9229],
    stopTimeoutMs: 20_000,
    stopSignal: 'SIGQUIT',
    hasHealthcheck: true,
    health: 'starting',
    healthPeriodMs: 31_000, // Interval 1 s + Docker's default Timeout 30 s
  };
  assert.deepEqual(containerInfoFromInspect(inspect), expected);
});

const defaults: ContainerInfo = {
  id: '',
  name: '',
  labels: {},
  createdAt: 0,
  running: false,
  paused: false,
  networkMode: '',
  networks: {},
  exposedPorts: [],
  hasHealthcheck: false,
};

test('partial or odd inputs map to safe defaults', () => {
  const cases: [string, unknown, Partial<ContainerInfo>][] = [
    ['undefined', undefined, {}],
    ['null', null, {}],
    ['string', 'nope', {}],
    ['array', [1, 2], {}],
    ['empty object', {}, {}],
    ['id only', { Id: 'abc' }, { id: 'abc' }],
    ['name without slash', { Name: 'plain' }, { name: 'plain' }],
    ['bad Created', { Created: 'yesterday' }, {}],
    ['wrong types', { Id: 5, Name: ['x'], State: 'running', Config: 7, HostConfig: null, NetworkSettings: [] }, {}],
    ['Running as string', { State: { Running: 'true', Paused: 1 } }, {}],
    ['paused', { State: { Running: true, Paused: true } }, { running: true, paused: true }],
    ['non-string labels dropped', { Config: { Labels: { a: 'x', b: 1, c: null } } }, { labels: { a: 'x' } }],
    ['labels null', { Config: { Labels: null } }, {}],
    ['no Test', { Config: { Healthcheck: {} } }, {}],
    ['Test NONE', { Config: { Healthcheck: { Test: ['NONE'] } } }, {}],
    ['Test empty (inherit)', { Config: { Healthcheck: { Test: [] } } }, {}],
    ['Test CMD', { Config: { Healthcheck: { Test: ['CMD', 'true'] } } }, { hasHealthcheck: true, healthPeriodMs: 60_000 }],
    [
      'health log and period',
      {
        Config: { Healthcheck: { Test: ['CMD', 'true'], Interval: 500e6, Timeout: 3e9 } },
        State: { Health: { Status: 'healthy', Log: [{ Start: '2026-11-23T23:54:21.5Z', End: '2026-11-23T23:54:21.7Z' }, { Start: '2026-11-23T23:54:22.774190645Z', End: '' }] } },
      },
      { hasHealthcheck: true, health: 'healthy', healthPeriodMs: 3_500, healthCheckedAt: Date.parse('2026-11-23T23:54:22.774Z') },
    ],
    ['health none', { State: { Health: { Status: 'none' } } }, {}],
    ['health healthy', { State: { Health: { Status: 'healthy' } } }, { hasHealthcheck: true, health: 'healthy', healthPeriodMs: 60_000 }],
    ['health unhealthy', { State: { Health: { Status: 'unhealthy' } } }, { hasHealthcheck: true, health: 'unhealthy', healthPeriodMs: 60_000 }],
    ['health bogus', { State: { Health: { Status: 'meh' } } }, {}],
    ['StopTimeout null', { Config: { StopTimeout: null } }, {}],
    ['StopTimeout 0', { Config: { StopTimeout: 0 } }, { stopTimeoutMs: 0 }],
    ['StopTimeout negative', { Config: { StopTimeout: -1 } }, {}],
    ['StopTimeout 1.5', { Config: { StopTimeout: 1.5 } }, { stopTimeoutMs: 1500 }],
    ['StopTimeout sub-ms', { Config: { StopTimeout: 0.0001 } }, {}],
    ['StopTimeout huge', { Config: { StopTimeout: 9007199254741 } }, {}],
    ['StopSignal empty', { Config: { StopSignal: '' } }, {}],
    ['ports: odd keys', { Config: { ExposedPorts: { '80': {}, '80/tcp': {}, '0/tcp': {}, '70000/tcp': {}, 'x/tcp': {}, '22/TCP': {}, '5000-5001/tcp': {} } } }, { exposedPorts: [22, 80] }],
    ['ports: udp and sctp only', { Config: { ExposedPorts: { '53/udp': {}, '9/sctp': {} } } }, {}],
    ['ports: null', { Config: { ExposedPorts: null } }, {}],
    ['network mode host', { HostConfig: { NetworkMode: 'host' }, NetworkSettings: { Networks: { host: { IPAddress: '' } } } }, { networkMode: 'host' }],
    ['network entry not an object', { NetworkSettings: { Networks: { a: null, b: 'x', c: { IPAddress: 7 } } } }, {}],
    ['__proto__ label stays a label', { Config: { Labels: JSON.parse('{"__proto__":"x","a":"b"}') } }, { labels: JSON.parse('{"__proto__":"x","a":"b"}') }],
  ];
  for (const [what, input, overrides] of cases) {
    assert.deepEqual(containerInfoFromInspect(input), { ...defaults, ...overrides }, what);
  }
});

test('swarm task from com.docker.swarm labels, only when all three are set', () => {
  const labels = {
    'com.docker.swarm.service.name': 'shop_web',
    'com.docker.swarm.service.id': 'svc1',
    'com.docker.swarm.task.id': 'task1',
    'com.docker.swarm.task.name': 'shop_web.1.task1',
  };
  assert.deepEqual(containerInfoFromInspect({ Config: { Labels: labels } }).swarm, {
    serviceName: 'shop_web',
    serviceId: 'svc1',
    taskId: 'task1',
  });
  const { 'com.docker.swarm.task.id': _, ...partial } = labels;
  assert.equal(containerInfoFromInspect({ Config: { Labels: partial } }).swarm, undefined);
  assert.equal('swarm' in containerInfoFromInspect(inspect), false);
});

test('the result is plain JSON-safe data (no dockerode objects leak through)', () => {
  const info = containerInfoFromInspect(inspect);
  assert.deepEqual(JSON.parse(JSON.stringify(info)), info);
  assert.equal(Object.getPrototypeOf(info.labels), Object.prototype);
});

test('property: never throws, and always yields well-formed fields', () => {
  const inspectLike = fc.record(
    {
      Id: fc.oneof(fc.string(), fc.anything()),
      Name: fc.oneof(fc.string(), fc.anything()),
      Created: fc.oneof(fc.date({ noInvalidDate: true }).map((d) => d.toISOString()), fc.anything()),
      State: fc.oneof(
        fc.record({ Running: fc.anything(), Paused: fc.anything(), Health: fc.anything() }, { requiredKeys: [] }),
        fc.anything(),
      ),
      Config: fc.oneof(
        fc.record(
          {
            Labels: fc.oneof(fc.dictionary(fc.string(), fc.string()), fc.anything()),
            ExposedPorts: fc.oneof(fc.dictionary(fc.string(), fc.constant({})), fc.anything()),
            Healthcheck: fc.anything(),
            StopTimeout: fc.anything(),
            StopSignal: fc.anything(),
          },
          { requiredKeys: [] },
        ),
        fc.anything(),
      ),
      HostConfig: fc.anything(),
      NetworkSettings: fc.oneof(
        fc.record({ Networks: fc.dictionary(fc.string(), fc.record({ IPAddress: fc.anything(), GlobalIPv6Address: fc.anything() }, { requiredKeys: [] })) }),
        fc.anything(),
      ),
    },
    { requiredKeys: [] },
  );
  fc.assert(
    fc.property(fc.oneof(inspectLike, fc.anything()), (input) => {
      const info = containerInfoFromInspect(input);
      assert.equal(typeof info.id, 'string');
      assert.equal(typeof info.name, 'string');
      assert.ok(Number.isFinite(info.createdAt));
      assert.equal(typeof info.running, 'boolean');
      assert.equal(typeof info.paused, 'boolean');
      assert.equal(typeof info.networkMode, 'string');
      for (const v of Object.values(info.labels)) assert.equal(typeof v, 'string');
      for (const n of Object.values(info.networks)) assert.ok(typeof n.ip === 'string' && n.ip !== '');
      assert.deepEqual(info.exposedPorts, [...new Set(info.exposedPorts)].sort((a, b) => a - b));
      for (const p of info.exposedPorts) assert.ok(Number.isInteger(p) && p >= 1 && p <= 65535);
      if (info.stopTimeoutMs !== undefined) assert.ok(Number.isSafeInteger(info.stopTimeoutMs) && info.stopTimeoutMs >= 0);
      if (info.health !== undefined) assert.ok(info.hasHealthcheck);
    }),
    { numRuns: 2000 },
  );
});
