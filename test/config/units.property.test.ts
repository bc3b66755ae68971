// Property-based tests (fast-check) of the duration and size parsers (src/config/units.ts): whatever
// the input — text of any shape, or a value outside the types (an object without a prototype, a
// symbol, a bigint) — the throwing forms throw only BluegreenError BAD_CONFIG, whose message names the
// input and the reason, and the `try…` forms never throw. Accepted inputs mean what they say: values
// built from parts parse to their sum, and formatting then parsing gives the value back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { BluegreenError } from '../../src/errors.ts';
import { MAX_DURATION_MS, parseDuration, parseSize, tryParseDuration, tryParseSize } from '../../src/config/units.ts';

/** Text of every shape: any unicode, lone surrogates and controls, and near-misses of the grammar. */
const anyText = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary' }),
  fc.string({ unit: 'grapheme' }),
  fc.stringMatching(/^[ \t]?-?[0-9]{0,25}(\.[0-9]{0,12})?(h|m|s|ms|us|µs|ns|d|H|MS|x|)([0-9.]{0,5}(h|m|s|ms|))*[ \t]?$/),
  fc.stringMatching(/^[ \t]?-?[0-9]{0,25}(\.[0-9]{0,12})? ?(b|B|k|K|kb|KB|kib|KiB|mb|MiB|gb|GiB|tb|TiB|pb|PiB|x|)[ \t]?$/),
);
/** Values outside the declared `string` type that a careless caller could pass. */
const notText = fc.anything({ withNullPrototype: true, withBoxedValues: true, withBigInt: true, withMap: true, withSet: true, withDate: true });

function parsers(kind: 'duration' | 'size') {
  return kind === 'duration' ? { parse: parseDuration, tryParse: tryParseDuration } : { parse: parseSize, tryParse: tryParseSize };
}

/** The throwing form's contract for one input: a safe non-negative integer, or BAD_CONFIG naming input and reason. */
function checkOne(kind: 'duration' | 'size', input: unknown): void {
  const { parse, tryParse } = parsers(kind);
  const r = tryParse(input as string); // must not throw
  let value: number;
  try {
    value = parse(input as string);
  } catch (err) {
    assert.ok(err instanceof BluegreenError, `${kind} ${typeof input}: threw ${String(err)}`);
    assert.equal(err.code, 'BAD_CONFIG');
    assert.equal(r.ok, false, 'the try form agrees that the input is invalid');
    if (r.ok) return;
    assert.ok(r.reason.trim().length > 0, 'a reason is given');
    // The message: `<kind> <the input, quoted> <the reason>`.
    assert.ok(err.message.startsWith(`${kind} `), err.message);
    assert.ok(err.message.endsWith(` ${r.reason}`), err.message);
    if (typeof input === 'string') assert.equal(err.message, `${kind} ${JSON.stringify(input)} ${r.reason}`);
    return;
  }
  assert.ok(r.ok, 'the try form agrees that the input is valid');
  assert.equal(r.value, value);
  assert.ok(Number.isSafeInteger(value) && value >= 0, `${JSON.stringify(input)} → ${value}`);
  if (kind === 'duration') assert.ok(value <= MAX_DURATION_MS);
}

test('property: any text is a duration or a BAD_CONFIG naming the text and the reason', () => {
  fc.assert(fc.property(anyText, (text) => checkOne('duration', text)), { numRuns: 3000 });
});

test('property: any text is a size or a BAD_CONFIG naming the text and the reason', () => {
  fc.assert(fc.property(anyText, (text) => checkOne('size', text)), { numRuns: 3000 });
});

test('property: values that are not text are refused with BAD_CONFIG, never a TypeError', () => {
  fc.assert(
    fc.property(notText, (v) => {
      fc.pre(typeof v !== 'string');
      checkOne('duration', v);
      checkOne('size', v);
      assert.equal(tryParseDuration(v as string).ok, false);
      assert.equal(tryParseSize(v as string).ok, false);
    }),
    { numRuns: 3000 },
  );
  // The case that used to escape as a TypeError: String() of an object without a prototype throws.
  assert.throws(() => parseDuration(Object.create(null) as string), { name: 'BluegreenError', code: 'BAD_CONFIG', message: 'duration (object that is not text) is not text' });
  assert.throws(() => parseSize(Object.create(null) as string), { name: 'BluegreenError', code: 'BAD_CONFIG', message: 'size (object that is not text) is not text' });
});

/** A duration in canonical form: each non-zero unit once, largest first. */
function formatDuration(ms: number): string {
  if (ms === 0) return '0';
  const parts: [number, string][] = [
    [Math.floor(ms / 3_600_000), 'h'],
    [Math.floor(ms / 60_000) % 60, 'm'],
    [Math.floor(ms / 1000) % 60, 's'],
    [ms % 1000, 'ms'],
  ];
  return parts
    .filter(([n]) => n > 0)
    .map(([n, u]) => `${n}${u}`)
    .join('');
}

test('property: formatting a duration and parsing it gives it back, with or without surrounding blanks', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: MAX_DURATION_MS }), fc.constantFrom('', ' ', '\t', '  '), (ms, pad) => {
      const text = formatDuration(ms);
      assert.deepEqual(tryParseDuration(`${pad}${text}${pad}`), { ok: true, value: ms }, text);
    }),
    { numRuns: 3000 },
  );
});

test('property: a decimal duration is exact when it is whole milliseconds, refused when finer', () => {
  fc.assert(
    fc.property(fc.nat(100_000), fc.nat(999), fc.constantFrom(['s', 1000], ['m', 60_000], ['h', 3_600_000]), (whole, thousandths, [unit, per]) => {
      const frac = String(thousandths).padStart(3, '0');
      const text = `${whole}.${frac}${unit}`;
      const exact = whole * per + (thousandths * per) / 1000;
      const r = tryParseDuration(text);
      if (exact > MAX_DURATION_MS) assert.equal(r.ok, false, text);
      else assert.deepEqual(r, { ok: true, value: exact }, text); // per is a multiple of 1000: always whole ms
      // One more digit below a millisecond is refused for seconds, whatever the rest.
      if (unit === 's') {
        const finer = tryParseDuration(`${whole}.${frac}1s`);
        assert.equal(finer.ok, false);
        if (!finer.ok) assert.ok(/finer than a millisecond|longer than the maximum/.test(finer.reason), finer.reason);
      }
    }),
    { numRuns: 2000 },
  );
});

test('property: units out of order or repeated are refused with the rule as the reason', () => {
  const unit = fc.constantFrom('h', 'm', 's', 'ms');
  const order = ['h', 'm', 's', 'ms'];
  fc.assert(
    fc.property(fc.nat(50), unit, fc.nat(50), unit, (a, u1, b, u2) => {
      fc.pre(order.indexOf(u2) <= order.indexOf(u1));
      const text = `${a}${u1}${b}${u2}`;
      assert.throws(() => parseDuration(text), { code: 'BAD_CONFIG', message: `duration ${JSON.stringify(text)} must list units once each, largest first (example: 1h2m3s)` });
    }),
  );
});

const SIZE_FACTORS: [string, number][] = [
  ['', 1],
  ['b', 1],
  ['KB', 1000],
  ['MB', 1000 ** 2],
  ['GB', 1000 ** 3],
  ['KiB', 1024],
  ['MiB', 1024 ** 2],
  ['GiB', 1024 ** 3],
  ['TiB', 1024 ** 4],
];

test('property: n units parse to n × the unit in any letter case, with an optional space', () => {
  fc.assert(
    fc.property(fc.nat(1_000_000), fc.constantFrom(...SIZE_FACTORS), fc.boolean(), fc.boolean(), (n, [unit, factor], upper, space) => {
      const u = upper ? unit.toUpperCase() : unit.toLowerCase();
      const text = `${n}${space && u ? ' ' : ''}${u}`;
      const bytes = n * factor;
      const r = tryParseSize(text);
      if (bytes > Number.MAX_SAFE_INTEGER) {
        assert.equal(r.ok, false, text);
        if (!r.ok) assert.match(r.reason, /larger than the maximum/);
      } else assert.deepEqual(r, { ok: true, value: bytes }, text);
    }),
    { numRuns: 3000 },
  );
});

test('property: K, M, G, T without B are refused as ambiguous, naming both readings', () => {
  fc.assert(
    fc.property(fc.nat(10_000), fc.constantFrom('k', 'K', 'm', 'M', 'g', 'G', 't', 'T'), (n, u) => {
      const text = `${n}${u}`;
      const U = u.toUpperCase();
      assert.throws(() => parseSize(text), {
        code: 'BAD_CONFIG',
        message: `size ${JSON.stringify(text)} has ambiguous unit "${u}" (write ${U}iB for 1024-based or ${U}B for 1000-based)`,
      });
    }),
  );
});

test('property: a negative duration or size is refused as negative', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 1_000_000 }), fc.constantFrom('ms', 's', 'KiB', 'MB', ''), (n, unit) => {
      const isDuration = ['ms', 's'].includes(unit);
      const { tryParse } = parsers(isDuration ? 'duration' : 'size');
      const r = tryParse(`-${n}${unit}`);
      assert.deepEqual(r, { ok: false, reason: 'is negative' });
    }),
  );
});
