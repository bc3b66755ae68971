// Property-based tests (fast-check) of config validation (src/config/schema.ts through
// resolveSettings in src/config/load.ts): any value for any setting, from the file, an environment
// variable or a flag, either loads or fails with ConfigError (BluegreenError BAD_CONFIG), and each
// problem names where the value came from, the key, the value itself and the reason. The admin token
// is the exception that proves the rule: a bad token is named by its key only, never echoed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { BluegreenError } from '../../src/errors.ts';
import { ConfigError, resolveSettings, type ConfigProblem, type LoadedSettings } from '../../src/config/load.ts';
import { SETTINGS, SETTING_KEYS, envName, settingsSchema, show, type SettingKey } from '../../src/config/schema.ts';

const FILE = '/etc/bluegreen/bluegreen.yml';

/** Near-valid and invalid text for every kind of setting. */
const texty = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom(
    '30s', '0', '0s', '-1s', '1m 30s', '5', 'x', '', ' ', '1MiB', '1M', '8 KiB', '-1', '12345678901234567890',
    '127.0.0.1:8080', '0.0.0.0:0', ':8080', '10.0.0.5:80', '[::1]:80', '::1:80', 'host:99999', 'localhost', 'a b:80',
    '10.0.0.0/8', '10.0.0.0/33', 'fd00::/8', '1.2.3.4', 'TRUE', 'yes', 'debug', 'verbose', 'unix:///var/run/docker.sock',
    'tcp://', 'web=127.0.0.1:80', 'web=', '=1.2.3.4:5', '*.example.com', 'a*.b', '/api', 'api', 'secret-token', 'tok en',
  ),
);
const settingValue = fc.oneof(
  texty,
  fc.integer({ min: -10, max: 100_000 }),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.oneof(texty, fc.integer(), fc.constant(null)), { maxLength: 3 }),
  fc.dictionary(fc.constantFrom('service', 'address', 'hosts', 'path', 'color', 'listen', 'x'), fc.oneof(texty, fc.integer()), { maxKeys: 3 }),
  fc.jsonValue({ maxDepth: 2 }),
);

function nest(key: string, value: unknown): Record<string, unknown> {
  const parts = key.split('.');
  let out: unknown = value;
  for (const p of parts.reverse()) out = { [p]: out };
  return out as Record<string, unknown>;
}

type Outcome = { ok: true; loaded: LoadedSettings } | { ok: false; problems: readonly ConfigProblem[] };

function load(text: string | undefined, env: Record<string, string> = {}, flags: Record<string, unknown> = {}): Outcome {
  try {
    return { ok: true, loaded: resolveSettings({ file: FILE, explicit: false, text, env, flags }) };
  } catch (err) {
    assert.ok(err instanceof ConfigError, `threw ${String(err)}`);
    assert.ok(err instanceof BluegreenError);
    assert.equal(err.code, 'BAD_CONFIG');
    assert.ok(err.problems.length > 0);
    assert.equal(err.message, err.problems.map((p) => p.message).join('\n'));
    for (const p of err.problems) {
      assert.ok(p.reason.trim().length > 0, 'a reason');
      assert.equal(p.message, `${p.source}: ${p.key || '(top level)'}: ${p.reason}`);
    }
    return { ok: false, problems: err.problems };
  }
}

/** Problems about `key` (the key itself, or a key or item under it). */
function about(problems: readonly ConfigProblem[], key: string): ConfigProblem[] {
  return problems.filter((p) => p.key === key || p.key.startsWith(`${key}.`) || p.key.startsWith(`${key}[`));
}

/** Whether a problem's reason names `value`: as shown by the schema, or (converted env/flag text) as a number. */
function names(reason: string, value: unknown): boolean {
  if (reason.includes(show(value))) return true;
  if (typeof value === 'string') {
    const t = value.trim();
    return reason.includes(show(t)) || (/^\d+$/.test(t) && reason.includes(String(Number(t))));
  }
  return false;
}

/** A value the reason must name: a scalar other than empty text, null or the token (never echoed). */
function nameable(key: SettingKey, value: unknown): boolean {
  if (key === 'admin.token') return false;
  if (typeof value === 'string') return value.trim() !== '';
  return typeof value === 'number' || typeof value === 'boolean';
}

/** Problems that come from a rule between keys, not from the value alone. */
const CROSS_KEY = /admin\.token .*is required|tls\.dir is not set/;

test('property: any value of any setting in the file loads, or each problem names the file, the key, the value and the reason', () => {
  fc.assert(
    fc.property(fc.constantFrom(...SETTING_KEYS), settingValue, (key, value) => {
      const r = load(stringify(nest(key, value)));
      if (r.ok) return;
      for (const p of r.problems) assert.equal(p.source, FILE);
      const mine = about(r.problems, key);
      assert.ok(mine.length > 0, `a problem about ${key}: ${r.problems.map((p) => p.message).join(' | ')}`);
      if (nameable(key, value)) {
        for (const p of mine) if (!CROSS_KEY.test(p.reason) && p.key === key) assert.ok(names(p.reason, value), `${p.message} should name ${show(value)}`);
      }
      if (key === 'admin.token' && (typeof value === 'string' || typeof value === 'number') && String(value).trim().length >= 4) {
        for (const p of r.problems) assert.ok(!p.message.includes(String(value).trim()), `the token is echoed: ${p.message}`);
      }
    }),
    { numRuns: 1500 },
  );
});

test('property: any text in any BLUEGREEN_* variable loads, or each problem names the variable, the key, the value and the reason', () => {
  fc.assert(
    fc.property(fc.constantFrom(...SETTING_KEYS), texty, (key, raw) => {
      fc.pre(raw !== '');
      const name = envName(key);
      const r = load(undefined, { [name]: raw });
      if (r.ok) {
        assert.equal(r.loaded.sources.get(key), `environment ${name}`);
        return;
      }
      const mine = about(r.problems, key);
      assert.ok(mine.length > 0, r.problems.map((p) => p.message).join(' | '));
      for (const p of mine) {
        assert.equal(p.source, `environment ${name}`, p.message);
        const list = SETTINGS[key].kind === 'list';
        if (nameable(key, raw) && !list && !CROSS_KEY.test(p.reason)) assert.ok(names(p.reason, raw), `${p.message} should name ${show(raw)}`);
        if (list && p.key !== key) {
          // One bad item of a comma-separated list: the reason names that item.
          const items = raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
          const i = Number(/^\w+\[(\d+)\]/.exec(p.key)?.[1]);
          assert.ok(i < items.length, p.key);
          if (key !== 'staticUpstreams') assert.ok(names(p.reason, items[i]), `${p.message} should name ${show(items[i])}`);
        }
      }
      if (key === 'admin.token' && raw.trim().length >= 4) for (const p of r.problems) assert.ok(!p.message.includes(raw.trim()), `the token is echoed: ${p.message}`);
    }),
    { numRuns: 1500 },
  );
});

test('property: any flag value loads, or each problem names the flag, the key and the reason', () => {
  fc.assert(
    fc.property(fc.constantFrom(...SETTING_KEYS), fc.oneof(texty, fc.boolean(), fc.array(texty, { maxLength: 3 })), (key, raw) => {
      const d = SETTINGS[key];
      const r = load(undefined, {}, { [d.flag]: raw });
      if (r.ok) return;
      const mine = about(r.problems, key);
      assert.ok(mine.length > 0, r.problems.map((p) => p.message).join(' | '));
      for (const p of mine) assert.equal(p.source, `flag --${d.flag}`, p.message);
    }),
    { numRuns: 2000 },
  );
});

test('property: the schema never throws on any input, and a valid result keeps durations and sizes as whole numbers', () => {
  fc.assert(
    fc.property(fc.anything({ withNullPrototype: true, withBoxedValues: true, withBigInt: true, withMap: true, withSet: true }), (input) => {
      const r = settingsSchema.safeParse(input); // must not throw
      if (r.success) {
        for (const key of SETTING_KEYS) {
          const kind = SETTINGS[key].kind;
          if (kind !== 'duration' && kind !== 'size') continue;
          const v = key.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], r.data);
          if (v === undefined && SETTINGS[key].default === undefined) continue; // optional, unset
          assert.ok(Number.isSafeInteger(v) && (v as number) >= 0, `${key}: ${String(v)}`);
        }
      } else {
        for (const iss of r.error.issues) assert.ok(iss.message.length > 0);
      }
    }),
    { numRuns: 2000 },
  );
});

test('a bad admin token is named by its key, never echoed (a number, or text with a blank)', () => {
  for (const value of [12345678, 'secret token', 'secret\ttoken']) {
    const r = load(stringify({ admin: { token: value } }));
    assert.equal(r.ok, false);
    if (r.ok) continue;
    assert.equal(r.problems.length, 1);
    assert.equal(r.problems[0]!.key, 'admin.token');
    assert.ok(!r.problems[0]!.message.includes(String(value)), r.problems[0]!.message);
    assert.ok(!r.problems[0]!.message.includes('secret'), r.problems[0]!.message);
  }
});
