import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { ContainerInfo } from '../../src/discovery/container-info.ts';
import {
  KNOWN_LABELS,
  parseContainerLabels,
  type LabelContext,
  type LabelProblem,
  type LabelResult,
  type UpstreamTarget,
} from '../../src/discovery/labels.ts';

const ctx: LabelContext = { proxyNetworks: ['proxy', 'edge'], hostAddress: '172.17.0.1' };

function ctr(labels: Record<string, string>, over: Partial<ContainerInfo> = {}): ContainerInfo {
  return {
    id: '4fa6e0f0c6786287e131c3852c58a2e01cc697a68231826813597e4994f1d6e2',
    name: 'web-blue-1',
    labels,
    createdAt: 1_700_000_000_000,
    running: true,
    paused: false,
    networkMode: 'shop_default',
    networks: { shop_default: { ip: '172.20.0.5' } },
    exposedPorts: [8080],
    hasHealthcheck: false,
    ...over,
  };
}

const tcp = { kind: 'tcp', intervalMs: 1000, timeoutMs: 1000 } as const;
const base: UpstreamTarget = {
  service: 'web',
  route: { hosts: [] },
  host: '172.20.0.5',
  port: 8080,
  probe: tcp,
  network: 'shop_default',
};

const okCases: [string, Record<string, string>, Partial<ContainerInfo>, Partial<UpstreamTarget>][] = [
  ['minimal: only exposed port, only network', { 'bluegreen.service': 'web' }, {}, {}],
  ['service is lowercased and trimmed', { 'bluegreen.service': ' Web.API_2 ' }, {}, { service: 'web.api_2' }],
  [
    'hosts: trimmed, lowercased, deduplicated, trailing dot dropped, empty items skipped',
    { 'bluegreen.service': 'web', 'bluegreen.hosts': ' A.Example.com , *.b.example.com,,a.example.com,c.example.com.' },
    {},
    { route: { hosts: ['a.example.com', '*.b.example.com', 'c.example.com'] } },
  ],
  ['single-label host and IPv4 literal', { 'bluegreen.service': 'web', 'bluegreen.hosts': 'localhost,127.0.0.1' }, {}, { route: { hosts: ['localhost', '127.0.0.1'] } }],
  ['path', { 'bluegreen.service': 'web', 'bluegreen.path': '/api' }, {}, { route: { hosts: [], pathPrefix: '/api' } }],
  ['path: trailing slashes removed', { 'bluegreen.service': 'web', 'bluegreen.path': '/api/v2//' }, {}, { route: { hosts: [], pathPrefix: '/api/v2' } }],
  ['path: / stays /', { 'bluegreen.service': 'web', 'bluegreen.path': '/' }, {}, { route: { hosts: [], pathPrefix: '/' } }],
  ['path: // becomes /', { 'bluegreen.service': 'web', 'bluegreen.path': '//' }, {}, { route: { hosts: [], pathPrefix: '/' } }],
  [
    'hosts and path',
    { 'bluegreen.service': 'web', 'bluegreen.hosts': 'shop.example.com', 'bluegreen.path': '/cart/' },
    {},
    { route: { hosts: ['shop.example.com'], pathPrefix: '/cart' } },
  ],
  ['port label beats exposed ports', { 'bluegreen.service': 'web', 'bluegreen.port': '3000' }, { exposedPorts: [80, 443] }, { port: 3000 }],
  ['port label with no exposed port', { 'bluegreen.service': 'web', 'bluegreen.port': ' 65535 ' }, { exposedPorts: [] }, { port: 65535 }],
  [
    'network shared with the proxy wins, first by name',
    { 'bluegreen.service': 'web' },
    { networks: { shop_default: { ip: '10.0.0.2' }, proxy: { ip: '10.1.0.2' }, edge: { ip: '10.2.0.2' } } },
    { host: '10.2.0.2', network: 'edge' },
  ],
  [
    'network label picks that network',
    { 'bluegreen.service': 'web', 'bluegreen.network': 'shop_default' },
    { networks: { shop_default: { ip: '10.0.0.2' }, proxy: { ip: '10.1.0.2' } } },
    { host: '10.0.0.2', network: 'shop_default' },
  ],
  ['IPv6-only network address', { 'bluegreen.service': 'web' }, { networks: { v6: { ip: 'fd00::5', ipv6: 'fd00::5' } } }, { host: 'fd00::5', network: 'v6' }],
  [
    'network mode host: the host address, no network',
    { 'bluegreen.service': 'web', 'bluegreen.port': '9000' },
    { networkMode: 'host', networks: {} },
    { host: '172.17.0.1', port: 9000, network: undefined },
  ],
  [
    'network mode host: single exposed port, bluegreen.network=host tolerated',
    { 'bluegreen.service': 'web', 'bluegreen.network': 'host' },
    { networkMode: 'host', networks: {}, exposedPorts: [8081] },
    { host: '172.17.0.1', port: 8081, network: undefined },
  ],
  ['color lowercased', { 'bluegreen.service': 'web', 'bluegreen.color': 'Blue' }, {}, { color: 'blue' }],
  ['color with digits and dashes', { 'bluegreen.service': 'web', 'bluegreen.color': 'v2-canary_1' }, {}, { color: 'v2-canary_1' }],
  ['docker healthcheck: docker probe', { 'bluegreen.service': 'web' }, { hasHealthcheck: true }, { probe: { kind: 'docker' } }],
  [
    'http probe with defaults',
    { 'bluegreen.service': 'web', 'bluegreen.healthcheck.path': '/healthz?full=1' },
    {},
    { probe: { kind: 'http', path: '/healthz?full=1', intervalMs: 1000, timeoutMs: 1000 } },
  ],
  [
    'http probe path label wins over a docker healthcheck',
    { 'bluegreen.service': 'web', 'bluegreen.healthcheck.path': '/up', 'bluegreen.healthcheck.interval': '2s', 'bluegreen.healthcheck.timeout': '300ms' },
    { hasHealthcheck: true },
    { probe: { kind: 'http', path: '/up', intervalMs: 2000, timeoutMs: 300 } },
  ],
  [
    'tcp probe with interval and timeout',
    { 'bluegreen.service': 'web', 'bluegreen.healthcheck.interval': '500ms', 'bluegreen.healthcheck.timeout': '1.5s' },
    {},
    { probe: { kind: 'tcp', intervalMs: 500, timeoutMs: 1500 } },
  ],
  [
    'interval and timeout ignored with a docker probe',
    { 'bluegreen.service': 'web', 'bluegreen.healthcheck.interval': '5s' },
    { hasHealthcheck: true },
    { probe: { kind: 'docker' } },
  ],
  ['drain timeout', { 'bluegreen.service': 'web', 'bluegreen.drain-timeout': '1m30s' }, {}, { drainTimeoutMs: 90_000 }],
  ['drain timeout 0', { 'bluegreen.service': 'web', 'bluegreen.drain-timeout': '0s' }, {}, { drainTimeoutMs: 0 }],
  [
    'non-bluegreen labels are left alone',
    { 'bluegreen.service': 'web', 'com.docker.compose.service': 'web', bluegreen: 'x', 'Bluegreen.port': 'x', 'bluegreenx.y': 'z' },
    {},
    {},
  ],
];

test('labels that make a target', () => {
  for (const [what, labels, over, expected] of okCases) {
    const want: UpstreamTarget = { ...base, ...expected };
    if (want.network === undefined) delete want.network;
    assert.deepEqual(parseContainerLabels(ctr(labels, over), ctx), { ok: true, target: want }, what);
  }
});

test('no bluegreen.* labels: ignored, not a problem', () => {
  const cases: Record<string, string>[] = [{}, { 'com.docker.compose.service': 'web' }, { bluegreen: 'web' }];
  for (const labels of cases) {
    assert.deepEqual(parseContainerLabels(ctr(labels), ctx), { ok: false, ignored: true });
  }
});

test('the problem message format', () => {
  const r = parseContainerLabels(ctr({ 'bluegreen.service': 'web', 'bluegreen.port': '80x' }), ctx);
  assert.deepEqual(r, {
    ok: false,
    problems: [
      {
        container: 'web-blue-1',
        label: 'bluegreen.port',
        value: '80x',
        reason: 'is not a port (1-65535)',
        message: 'container web-blue-1: label bluegreen.port=80x is not a port (1-65535); container left out',
      },
    ],
  });
});

/** [what, labels, container overrides, expected problems as [label, reason pattern]] */
const problemCases: [string, Record<string, string>, Partial<ContainerInfo>, [string, RegExp][]][] = [
  ['bluegreen labels without a service', { 'bluegreen.port': '80', 'bluegreen.hosts': 'a.com' }, {}, [['bluegreen.service', /has bluegreen\.hosts, bluegreen\.port but no bluegreen\.service label/]]],
  ['typo in service label', { 'bluegreen.sevice': 'web' }, {}, [
    ['bluegreen.sevice', /^is an unknown label \(did you mean bluegreen\.service\?\)$/],
    ['bluegreen.service', /no bluegreen\.service label/],
  ]],
  ['unknown label, no suggestion', { 'bluegreen.service': 'web', 'bluegreen.weight': '5' }, {}, [['bluegreen.weight', /^is an unknown label$/]]],
  ['unknown label: wrong case', { 'bluegreen.service': 'web', 'bluegreen.PORT': '80' }, {}, [['bluegreen.PORT', /did you mean bluegreen\.port\?/]]],
  ['unknown label: healthcheck alone', { 'bluegreen.service': 'web', 'bluegreen.healthcheck': '/up' }, {}, [['bluegreen.healthcheck', /unknown label/]]],
  ['service empty', { 'bluegreen.service': '' }, {}, [['bluegreen.service', /is not a service name/]]],
  ['service bad chars', { 'bluegreen.service': 'web app' }, {}, [['bluegreen.service', /is not a service name/]]],
  ['service leading dash', { 'bluegreen.service': '-web' }, {}, [['bluegreen.service', /is not a service name/]]],
  ['service too long', { 'bluegreen.service': 'a'.repeat(64) }, {}, [['bluegreen.service', /is not a service name/]]],
  ['hosts: port suffix', { 'bluegreen.service': 'web', 'bluegreen.hosts': 'a.com:8080' }, {}, [['bluegreen.hosts', /has "a\.com:8080", which has a port; hosts match without the port/]]],
  ['hosts: one good, two bad', { 'bluegreen.service': 'web', 'bluegreen.hosts': 'a.com,b_c d.com,x.*.com' }, {}, [
    ['bluegreen.hosts', /"b_c d\.com", which is not a hostname/],
    ['bluegreen.hosts', /"x\.\*\.com", which has a wildcard other than a leading/],
  ]],
  ['hosts: bare *', { 'bluegreen.service': 'web', 'bluegreen.hosts': '*' }, {}, [['bluegreen.hosts', /wildcard/]]],
  ['hosts: *. alone', { 'bluegreen.service': 'web', 'bluegreen.hosts': '*.' }, {}, [['bluegreen.hosts', /not a hostname/]]],
  ['hosts: IPv6 literal', { 'bluegreen.service': 'web', 'bluegreen.hosts': '[::1]' }, {}, [['bluegreen.hosts', /IPv6 literal/]]],
  ['hosts: label too long', { 'bluegreen.service': 'web', 'bluegreen.hosts': `${'a'.repeat(64)}.com` }, {}, [['bluegreen.hosts', /not a hostname/]]],
  ['hosts: dash at label end', { 'bluegreen.service': 'web', 'bluegreen.hosts': 'a-.com' }, {}, [['bluegreen.hosts', /not a hostname/]]],
  ['hosts: empty list', { 'bluegreen.service': 'web', 'bluegreen.hosts': ' , ' }, {}, [['bluegreen.hosts', /lists no hosts/]]],
  ['path: no leading slash', { 'bluegreen.service': 'web', 'bluegreen.path': 'api' }, {}, [['bluegreen.path', /does not start with '\/'/]]],
  ['path: query', { 'bluegreen.service': 'web', 'bluegreen.path': '/api?x=1' }, {}, [['bluegreen.path', /contains '\?'/]]],
  ['path: fragment', { 'bluegreen.service': 'web', 'bluegreen.path': '/api#x' }, {}, [['bluegreen.path', /contains '#'/]]],
  ['path: inner space', { 'bluegreen.service': 'web', 'bluegreen.path': '/my api' }, {}, [['bluegreen.path', /contains " "/]]],
  ['path: non-ASCII', { 'bluegreen.service': 'web', 'bluegreen.path': '/café' }, {}, [['bluegreen.path', /contains "é" .*percent-encoded/]]],
  ['port: 0', { 'bluegreen.service': 'web', 'bluegreen.port': '0' }, {}, [['bluegreen.port', /not a port/]]],
  ['port: 65536', { 'bluegreen.service': 'web', 'bluegreen.port': '65536' }, {}, [['bluegreen.port', /not a port/]]],
  ['port: negative', { 'bluegreen.service': 'web', 'bluegreen.port': '-1' }, {}, [['bluegreen.port', /not a port/]]],
  ['port: fraction', { 'bluegreen.service': 'web', 'bluegreen.port': '80.5' }, {}, [['bluegreen.port', /not a port/]]],
  ['port: hex', { 'bluegreen.service': 'web', 'bluegreen.port': '0x50' }, {}, [['bluegreen.port', /not a port/]]],
  ['port: empty', { 'bluegreen.service': 'web', 'bluegreen.port': '' }, {}, [['bluegreen.port', /not a port/]]],
  ['port: none exposed', { 'bluegreen.service': 'web' }, { exposedPorts: [] }, [['bluegreen.port', /^no bluegreen\.port label and 0 exposed ports; set bluegreen\.port$/]]],
  ['port: several exposed', { 'bluegreen.service': 'web' }, { exposedPorts: [80, 443] }, [['bluegreen.port', /^no bluegreen\.port label and 2 exposed ports \(80, 443\); set bluegreen\.port$/]]],
  ['network: not one of the container\'s', { 'bluegreen.service': 'web', 'bluegreen.network': 'proxy' }, {}, [['bluegreen.network', /is not a network this container has an address on \(it is on shop_default\)/]]],
  ['network: several, none shared', { 'bluegreen.service': 'web' }, { networks: { b_net: { ip: '10.0.0.2' }, a_net: { ip: '10.1.0.2' } } }, [
    ['bluegreen.network', /is on networks a_net, b_net and none is shared with the proxy \(proxy networks: proxy, edge\); set bluegreen\.network/],
  ]],
  ['network: no address at all', { 'bluegreen.service': 'web' }, { networks: {}, networkMode: 'none' }, [['bluegreen.network', /has no network address \(network mode none\)/]]],
  ['network: label set, no address', { 'bluegreen.service': 'web', 'bluegreen.network': 'x' }, { networks: {} }, [['bluegreen.network', /it has no network address/]]],
  ['host mode: port needed', { 'bluegreen.service': 'web' }, { networkMode: 'host', networks: {}, exposedPorts: [] }, [['bluegreen.port', /no bluegreen\.port label/]]],
  ['host mode: network label', { 'bluegreen.service': 'web', 'bluegreen.network': 'proxy' }, { networkMode: 'host', networks: {} }, [['bluegreen.network', /does not apply: the container uses network mode host/]]],
  ['color: bad', { 'bluegreen.service': 'web', 'bluegreen.color': 'blue/green' }, {}, [['bluegreen.color', /is not a color name/]]],
  ['color: too long', { 'bluegreen.service': 'web', 'bluegreen.color': 'c'.repeat(33) }, {}, [['bluegreen.color', /is not a color name/]]],
  ['healthcheck path: relative', { 'bluegreen.service': 'web', 'bluegreen.healthcheck.path': 'health' }, {}, [['bluegreen.healthcheck.path', /does not start with '\/'/]]],
  ['healthcheck path: fragment', { 'bluegreen.service': 'web', 'bluegreen.healthcheck.path': '/h#x' }, {}, [['bluegreen.healthcheck.path', /contains '#'/]]],
  ['interval: no unit', { 'bluegreen.service': 'web', 'bluegreen.healthcheck.interval': '5' }, {}, [['bluegreen.healthcheck.interval', /is not a duration: it needs a unit \(ms, s, m, h\)/]]],
  ['interval: zero', { 'bluegreen.service': 'web', 'bluegreen.healthcheck.interval': '0s' }, {}, [['bluegreen.healthcheck.interval', /must be more than 0/]]],
  ['timeout: negative', { 'bluegreen.service': 'web', 'bluegreen.healthcheck.timeout': '-1s' }, {}, [['bluegreen.healthcheck.timeout', /is not a duration: it is negative/]]],
  ['drain timeout: bad unit', { 'bluegreen.service': 'web', 'bluegreen.drain-timeout': '30sec' }, {}, [['bluegreen.drain-timeout', /unknown unit "sec"/]]],
  ['drain timeout: empty', { 'bluegreen.service': 'web', 'bluegreen.drain-timeout': '' }, {}, [['bluegreen.drain-timeout', /it is empty/]]],
];

function problemsOf(r: LabelResult): LabelProblem[] {
  assert.ok(!r.ok && 'problems' in r, `expected problems, got ${JSON.stringify(r)}`);
  return r.problems;
}

test('labels that are problems: each named with its label and reason', () => {
  for (const [what, labels, over, expected] of problemCases) {
    const problems = problemsOf(parseContainerLabels(ctr(labels, over), ctx));
    assert.equal(problems.length, expected.length, `${what}: ${JSON.stringify(problems.map((p) => p.message))}`);
    expected.forEach(([label, reason], i) => {
      const p = problems[i]!;
      assert.equal(p.container, 'web-blue-1', what);
      assert.equal(p.label, label, what);
      assert.equal(p.value, labels[label] ?? '', what);
      assert.match(p.reason, reason, what);
      assert.ok(p.message.startsWith('container web-blue-1: '), what);
      assert.ok(p.message.endsWith(`${p.reason}; container left out`), what);
    });
  }
});

test('all problems of a container are reported, not just the first', () => {
  const labels = {
    'bluegreen.service': 'web!',
    'bluegreen.hosts': 'a.com:80',
    'bluegreen.path': 'x',
    'bluegreen.port': 'http',
    'bluegreen.network': 'nope',
    'bluegreen.color': '',
    'bluegreen.healthcheck.path': 'h',
    'bluegreen.healthcheck.interval': 'often',
    'bluegreen.healthcheck.timeout': '0',
    'bluegreen.drain-timeout': 'forever',
    'bluegreen.extra': 'x',
  };
  const problems = problemsOf(parseContainerLabels(ctr(labels), ctx));
  assert.deepEqual(
    problems.map((p) => p.label).sort(),
    Object.keys(labels).sort(),
  );
});

test('odd values are quoted in messages; the raw value is kept', () => {
  const value = 'x\ny'.repeat(100);
  const [p] = problemsOf(parseContainerLabels(ctr({ 'bluegreen.service': 'web', 'bluegreen.port': value }), ctx));
  assert.equal(p!.value, value);
  assert.ok(!p!.message.includes('\n'));
  assert.ok(p!.message.includes(`label bluegreen.port="x\\ny`));
  assert.ok(p!.message.length < 300);
  const [q] = problemsOf(parseContainerLabels(ctr({ 'bluegreen.service': 'web', 'bluegreen.port': '' }), ctx));
  assert.equal(q!.message, 'container web-blue-1: label bluegreen.port="" is not a port (1-65535); container left out');
});

test('a container without a name is named by its short id', () => {
  const [p] = problemsOf(parseContainerLabels(ctr({ 'bluegreen.service': '' }, { name: '' }), ctx));
  assert.equal(p!.container, '4fa6e0f0c678');
});

test('a label named like an Object.prototype member is not mistaken for a known one', () => {
  const labels = JSON.parse('{"bluegreen.service":"web","__proto__":"x","constructor":"y","bluegreen.constructor":"z"}');
  const problems = problemsOf(parseContainerLabels(ctr(labels), ctx));
  assert.deepEqual(problems.map((p) => p.label), ['bluegreen.constructor']);
});

// Property-based: arbitrary label maps and containers.

const labelKey = fc.oneof(
  fc.constantFrom(...KNOWN_LABELS),
  fc.string().map((s) => `bluegreen.${s}`),
  fc.string(),
);
const labelValue = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary' }),
  fc.constantFrom('web', '8080', '80x', '0', '/api', '/', 'a.com,*.b.com', 'a.com:80', 'blue', '1s', '250ms', '5', 'proxy', 'net_a', 'host'),
);
const netName = fc.constantFrom('proxy', 'edge', 'net_a', 'net_b', 'host');
const container: fc.Arbitrary<ContainerInfo> = fc.record({
  id: fc.string(),
  name: fc.string(),
  labels: fc.dictionary(labelKey, labelValue, { maxKeys: 12 }),
  createdAt: fc.nat(),
  running: fc.boolean(),
  paused: fc.boolean(),
  networkMode: fc.constantFrom('', 'host', 'bridge', 'none', 'net_a'),
  networks: fc.dictionary(netName, fc.record({ ip: fc.constantFrom('10.0.0.2', 'fd00::2') })),
  exposedPorts: fc.uniqueArray(fc.integer({ min: 1, max: 65535 }), { maxLength: 3 }).map((a) => a.sort((x, y) => x - y)),
  hasHealthcheck: fc.boolean(),
});
const context: fc.Arbitrary<LabelContext> = fc.record({
  proxyNetworks: fc.array(netName, { maxLength: 3 }),
  hostAddress: fc.constantFrom('172.17.0.1', ''),
});

test('property: never throws; problems name the container, the label, the value and the reason', () => {
  fc.assert(
    fc.property(container, context, (c, cx) => {
      const r = parseContainerLabels(c, cx);
      const ours = Object.keys(c.labels).filter((k) => k.startsWith('bluegreen.'));
      if ('ignored' in r) {
        assert.equal(ours.length, 0);
        return;
      }
      assert.ok(ours.length > 0);
      if (r.ok) {
        const t = r.target;
        assert.match(t.service, /^[a-z0-9][a-z0-9_.-]{0,62}$/);
        assert.ok(Number.isInteger(t.port) && t.port >= 1 && t.port <= 65535);
        assert.ok(t.host !== '');
        for (const h of t.route.hosts) assert.equal(h, h.toLowerCase());
        if (t.route.pathPrefix !== undefined) assert.ok(t.route.pathPrefix === '/' || !t.route.pathPrefix.endsWith('/'));
        if (t.network !== undefined) assert.equal(t.host, c.networks[t.network]!.ip);
        else assert.equal(c.networkMode, 'host');
        return;
      }
      assert.ok(r.problems.length > 0);
      const name = c.name || c.id.slice(0, 12) || '(unnamed)';
      for (const p of r.problems) {
        assert.equal(p.container, name);
        assert.ok(p.reason.length > 0);
        assert.ok(p.label.startsWith('bluegreen.'), p.label);
        assert.ok(p.message.startsWith(`container ${name}: `), p.message);
        assert.ok(p.message.endsWith(`${p.reason}; container left out`), p.message);
        if (p.value !== '') {
          assert.equal(p.value, c.labels[p.label]);
          assert.ok(p.message.includes(`label ${p.label}=`), p.message);
        }
      }
    }),
    { numRuns: 3000 },
  );
});

test('property: valid label sets always make a target', () => {
  const hostname = fc.domain().map((d) => d.toLowerCase());
  fc.assert(
    fc.property(
      fc.stringMatching(/^[a-z0-9][a-z0-9_.-]{0,20}$/),
      fc.array(hostname, { maxLength: 3 }),
      fc.integer({ min: 1, max: 65535 }),
      fc.constantFrom('blue', 'green'),
      fc.integer({ min: 1, max: 60_000 }),
      (service, hosts, port, color, interval) => {
        const labels: Record<string, string> = {
          'bluegreen.service': service,
          'bluegreen.port': String(port),
          'bluegreen.color': color,
          'bluegreen.healthcheck.interval': `${interval}ms`,
        };
        if (hosts.length > 0) labels['bluegreen.hosts'] = hosts.join(',');
        const r = parseContainerLabels(ctr(labels), ctx);
        assert.ok(r.ok, JSON.stringify(r));
        assert.equal(r.target.port, port);
        assert.equal(r.target.color, color);
        assert.deepEqual(r.target.route.hosts, [...new Set(hosts)]);
        assert.deepEqual(r.target.probe, { kind: 'tcp', intervalMs: interval, timeoutMs: 1000 });
      },
    ),
  );
});
