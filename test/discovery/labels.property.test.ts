// Property-based tests (fast-check) of label parsing (src/discovery/labels.ts), on the path discovery
// really takes (a Docker inspect result → containerInfoFromInspect → parseContainerLabels) and on
// inputs outside the types. Label parsing never throws: a bad container becomes problems, each of
// which names the container, the label and its value as set, and the reason.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { tryParseDuration } from '../../src/config/units.ts';
import { containerInfoFromInspect, type ContainerInfo } from '../../src/discovery/container-info.ts';
import { KNOWN_LABELS, parseContainerLabels, type LabelContext, type LabelResult } from '../../src/discovery/labels.ts';

const ctx: LabelContext = { proxyNetworks: ['proxy'], hostAddress: '172.17.0.1' };

/** How a label value appears in a problem's message: bare when printable ASCII up to 120, else JSON (cut at 120 + …). */
function shown(value: string): string {
  if (/^[\x21-\x7e]{1,120}$/.test(value)) return value;
  return JSON.stringify(value.length > 120 ? `${value.slice(0, 120)}…` : value);
}

const anyText = fc.oneof(fc.string(), fc.string({ unit: 'binary', maxLength: 200 }), fc.string({ unit: 'grapheme' }));
const labelValue = fc.oneof(
  anyText,
  fc.constantFrom('web', ' web ', '8080', '0', '65536', '80x', '/api', '/a b', '/a?b', 'x.com,*.y.com', 'x.com:80', '[::1]', 'blue', '1s', '0s', '1m 2s', '-1s', 'host', 'proxy', ''),
  fc.string({ minLength: 121, maxLength: 300 }),
);
const labelKey = fc.oneof(
  fc.constantFrom(...KNOWN_LABELS),
  fc.constantFrom(...KNOWN_LABELS).chain((k) => fc.nat(k.length - 1).map((i) => `${k.slice(0, i)}${k.slice(i + 1)}`)), // one character dropped
  anyText.map((s) => `bluegreen.${s}`),
  anyText,
);
const netName = fc.constantFrom('proxy', 'front', 'back', 'bridge');

/** A Docker Engine inspect result, with odd values (wrong types, anything) here and there. */
const inspectResult = fc.record(
  {
    Id: fc.oneof(fc.stringMatching(/^[0-9a-f]{64}$/), fc.anything()),
    Name: fc.oneof(anyText.map((s) => `/${s}`), fc.anything()),
    Created: fc.oneof(fc.date().map((d) => (Number.isNaN(d.getTime()) ? '' : d.toISOString())), fc.anything()),
    State: fc.oneof(fc.record({ Running: fc.boolean(), Paused: fc.boolean() }), fc.anything()),
    Config: fc.oneof(
      fc.record(
        {
          Labels: fc.oneof(fc.dictionary(labelKey, fc.oneof(labelValue, fc.anything()), { maxKeys: 12 }), fc.anything()),
          ExposedPorts: fc.oneof(fc.dictionary(fc.constantFrom('80/tcp', '8080/tcp', '53/udp', 'x/tcp', '70000/tcp'), fc.constant({})), fc.anything()),
          Healthcheck: fc.oneof(fc.record({ Test: fc.constantFrom(['CMD', 'true'], ['NONE']) }), fc.anything()),
        },
        { requiredKeys: [] },
      ),
      fc.anything(),
    ),
    HostConfig: fc.oneof(fc.record({ NetworkMode: fc.oneof(fc.constantFrom('bridge', 'host', 'none', 'front', ''), fc.anything()) }), fc.anything()),
    NetworkSettings: fc.oneof(
      fc.record({ Networks: fc.dictionary(netName, fc.oneof(fc.record({ IPAddress: fc.constantFrom('10.0.0.2', '', '172.18.0.9') }), fc.anything()), { maxKeys: 3 }) }),
      fc.anything(),
    ),
  },
  { requiredKeys: [] },
);

/** The contract every result keeps, whatever the input. */
function checkResult(r: LabelResult, name: string | undefined): void {
  if (r.ok) return;
  if ('ignored' in r) return;
  assert.ok(r.problems.length > 0);
  for (const p of r.problems) {
    if (name !== undefined) assert.equal(p.container, name);
    assert.ok(p.reason.trim().length > 0, 'a reason');
    assert.ok(p.message.startsWith(`container ${p.container}: `), p.message);
    assert.ok(p.message.endsWith(`${p.reason}; container left out`), p.message);
  }
}

test('property: any inspect result is routed, ignored, or reported with container, label, value and reason', () => {
  fc.assert(
    fc.property(inspectResult, fc.record({ proxyNetworks: fc.array(netName, { maxLength: 2 }), hostAddress: fc.constantFrom('172.17.0.1', '') }), (inspect, cx) => {
      const info = containerInfoFromInspect(inspect);
      const r = parseContainerLabels(info, cx); // must not throw
      const ours = Object.keys(info.labels).filter((k) => k.startsWith('bluegreen.'));
      assert.equal('ignored' in r, ours.length === 0, 'ignored exactly when no bluegreen.* label');
      const name = info.name || info.id.slice(0, 12) || '(unnamed)';
      checkResult(r, name);
      if (r.ok || 'ignored' in r) return;
      for (const p of r.problems) {
        // On well-typed input every problem is about one bluegreen.* label (never the catch-all).
        assert.ok(p.label.startsWith('bluegreen.'), `${p.label}: ${p.message}`);
        if (p.value !== '' || p.message.includes(`label ${p.label}=`)) {
          assert.equal(p.value, info.labels[p.label], 'the value as set, untrimmed');
          assert.ok(p.message.includes(`label ${p.label}=${shown(p.value)} ${p.reason}`), p.message);
        }
      }
    }),
    { numRuns: 1000 },
  );
});

test('property: a ContainerInfo with fields of the wrong types never makes parsing throw', () => {
  const any = fc.anything({ withNullPrototype: true, withBoxedValues: true, withBigInt: true, withMap: true, withSet: true });
  fc.assert(
    fc.property(
      fc.record({
        id: any,
        name: any,
        labels: fc.oneof(any, fc.dictionary(fc.constantFrom(...KNOWN_LABELS), fc.oneof(labelValue, any), { maxKeys: 6 })),
        networkMode: any,
        networks: fc.oneof(any, fc.dictionary(fc.string(), any, { maxKeys: 3 })),
        exposedPorts: any,
        hasHealthcheck: any,
      }),
      fc.record({ proxyNetworks: any, hostAddress: any }),
      (c, cx) => {
        const r = parseContainerLabels(c as unknown as ContainerInfo, cx as unknown as LabelContext);
        assert.ok(r.ok === true || 'ignored' in r || ('problems' in r && Array.isArray(r.problems)));
        checkResult(r, undefined);
      },
    ),
    { numRuns: 800 },
  );
});

function container(labels: Record<string, string>): ContainerInfo {
  return {
    id: '4fa6e0f0c6786287e131c3852c58a2e01cc697a68231826813597e4994f1d6e2',
    name: 'shop-web-1',
    labels,
    createdAt: 0,
    running: true,
    paused: false,
    networkMode: 'proxy',
    networks: { proxy: { ip: '10.0.0.2' } },
    exposedPorts: [8080],
    hasHealthcheck: false,
  };
}

const VALID: Record<string, string> = {
  'bluegreen.service': 'web',
  'bluegreen.hosts': 'web.example.com',
  'bluegreen.path': '/api',
  'bluegreen.port': '8080',
  'bluegreen.network': 'proxy',
  'bluegreen.color': 'blue',
  'bluegreen.healthcheck.path': '/health',
  'bluegreen.healthcheck.interval': '2s',
  'bluegreen.healthcheck.timeout': '1s',
  'bluegreen.drain-timeout': '30s',
};

test('property: one bad value among valid labels is reported against that label alone, with its value', () => {
  fc.assert(
    fc.property(fc.constantFrom(...KNOWN_LABELS), labelValue, (label, value) => {
      const r = parseContainerLabels(container({ ...VALID, [label]: value }), ctx);
      if (r.ok) return;
      assert.ok(!('ignored' in r));
      if ('ignored' in r) return;
      checkResult(r, 'shop-web-1');
      for (const p of r.problems) {
        assert.equal(p.label, label, p.message);
        assert.equal(p.value, value);
        assert.ok(p.message.startsWith(`container shop-web-1: label ${label}=${shown(value)} `), p.message);
      }
      if (label.endsWith('interval') || label.endsWith('timeout')) {
        const d = tryParseDuration(value.trim());
        if (!d.ok) assert.equal(r.problems[0]!.reason, `is not a duration: it ${d.reason} (examples: 500ms, 2s, 1m30s)`);
      }
    }),
    { numRuns: 2000 },
  );
});

test('property: an accepted value means what it says (port, color, durations), blanks around it ignored', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 65535 }),
      fc.stringMatching(/^[a-zA-Z0-9][a-zA-Z0-9_-]{0,31}$/),
      fc.integer({ min: 1, max: 3_600_000 }),
      fc.constantFrom('', ' ', '\t', ' \n'),
      (port, color, ms, pad) => {
        const p = (v: string) => `${pad}${v}${pad}`;
        const labels = { ...VALID, 'bluegreen.port': p(String(port)), 'bluegreen.color': p(color), 'bluegreen.healthcheck.interval': p(`${ms}ms`), 'bluegreen.drain-timeout': p(`${ms}ms`) };
        const r = parseContainerLabels(container(labels), ctx);
        assert.ok(r.ok, JSON.stringify(r));
        if (!r.ok) return;
        assert.equal(r.target.port, port);
        assert.equal(r.target.color, color.toLowerCase());
        assert.equal(r.target.drainTimeoutMs, ms);
        assert.deepEqual(r.target.probe, { kind: 'http', path: '/health', intervalMs: ms, timeoutMs: 1000 });
      },
    ),
  );
});

test('property: unknown bluegreen.* labels are each named, with the known label one typo away suggested', () => {
  fc.assert(
    fc.property(fc.constantFrom(...KNOWN_LABELS), fc.nat(), fc.constantFrom('x', '-', '_', 'z'), (known, at, ch) => {
      const i = at % (known.length - 'bluegreen.'.length) + 'bluegreen.'.length;
      const typo = `${known.slice(0, i)}${ch}${known.slice(i)}`; // one character inserted after the prefix
      fc.pre(!KNOWN_LABELS.includes(typo));
      const r = parseContainerLabels(container({ ...VALID, [typo]: 'x' }), ctx);
      assert.ok(!r.ok && 'problems' in r, JSON.stringify(r));
      if (r.ok || !('problems' in r)) return;
      assert.equal(r.problems.length, 1);
      const p = r.problems[0]!;
      assert.equal(p.label, typo);
      assert.match(p.reason, /^is an unknown label \(did you mean bluegreen\.[a-z.-]+\?\)$/);
      assert.equal(p.message, `container shop-web-1: label ${typo}=x ${p.reason}; container left out`);
    }),
  );
});

test('property: the result does not depend on the order of the labels', () => {
  fc.assert(
    fc.property(fc.dictionary(labelKey, labelValue, { maxKeys: 10 }), (labels) => {
      const reversed = Object.fromEntries(Object.entries(labels).reverse());
      const a = parseContainerLabels(container(labels), ctx);
      const b = parseContainerLabels(container(reversed), ctx);
      const norm = (r: LabelResult) => (r.ok || 'ignored' in r ? r : { ok: false, problems: [...r.problems].sort((x, y) => x.message.localeCompare(y.message)) });
      assert.deepEqual(norm(a), norm(b));
    }),
    { numRuns: 1000 },
  );
});
