import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { BluegreenError } from '../../src/errors.ts';
import { MAX_DURATION_MS, parseDuration, parseSize, tryParseDuration, tryParseSize } from '../../src/config/units.ts';

const goodDurations: [string, number][] = [
  ['0', 0],
  ['0s', 0],
  ['300ms', 300],
  ['5s', 5_000],
  ['1.5s', 1_500],
  ['.5s', 500],
  ['1.s', 1_000],
  ['1.1s', 1_100],
  ['1.0005m', 60_030],
  ['1m30s', 90_000],
  ['2h', 7_200_000],
  ['1h2m3s4ms', 3_723_004],
  ['1h30m', 5_400_000],
  ['  250ms ', 250],
  ['000100ms', 100],
  ['596h31m23s647ms', MAX_DURATION_MS],
];

const badDurations: [string, RegExp][] = [
  ['', /is empty/],
  ['   ', /is empty/],
  ['5', /needs a unit \(ms, s, m, h\)/],
  ['1.5', /needs a unit/],
  ['1m30', /needs a unit after 30/],
  ['-5s', /is negative/],
  ['+5s', /where a number was expected/],
  ['5x', /unknown unit "x"/],
  ['5S', /unknown unit "S"/],
  ['5M', /unknown unit "M"/],
  ['5us', /unknown unit "us"/],
  ['5µs', /unknown unit "µs"/],
  ['1d', /unknown unit "d"/],
  ['5 s', /contains whitespace/],
  ['1m 30s', /contains whitespace/],
  ['30s1m', /largest first/],
  ['1s1s', /largest first/],
  ['0.5ms', /finer than a millisecond/],
  ['1.0001s', /finer than a millisecond/],
  ['NaN', /where a number was expected/],
  ['Infinity', /where a number was expected/],
  ['s', /where a number was expected/],
  ['.s', /where a number was expected/],
  ['596h31m23s648ms', /longer than the maximum 2147483647ms/],
  ['99999999999999999999999h', /longer than the maximum/],
  ['1e3ms', /unknown unit "e"/],
];

test('durations: accepted', () => {
  for (const [text, ms] of goodDurations) {
    assert.equal(parseDuration(text), ms, text);
    assert.deepEqual(tryParseDuration(text), { ok: true, value: ms }, text);
  }
});

test('durations: rejected with BAD_CONFIG naming the text and the reason', () => {
  for (const [text, reason] of badDurations) {
    const r = tryParseDuration(text);
    assert.equal(r.ok, false, text);
    assert.match((r as { reason: string }).reason, reason, text);
    assert.throws(
      () => parseDuration(text),
      (err: unknown) =>
        err instanceof BluegreenError &&
        err.code === 'BAD_CONFIG' &&
        err.message.startsWith(`duration ${JSON.stringify(text)} `) &&
        reason.test(err.message),
      text,
    );
  }
});

const goodSizes: [string, number][] = [
  ['0', 0],
  ['1024', 1024],
  ['512b', 512],
  ['512B', 512],
  ['8KiB', 8192],
  ['8kib', 8192],
  ['1MiB', 1_048_576],
  ['1MB', 1_000_000],
  ['1mb', 1_000_000],
  ['1kB', 1_000],
  ['2GiB', 2_147_483_648],
  ['1.5KiB', 1_536],
  ['0.5MB', 500_000],
  ['1TiB', 1_099_511_627_776],
  ['8 KiB', 8192],
  [' 64MiB ', 67_108_864],
  [String(Number.MAX_SAFE_INTEGER), Number.MAX_SAFE_INTEGER],
];

const badSizes: [string, RegExp][] = [
  ['', /is empty/],
  ['-1', /is negative/],
  ['-1KiB', /is negative/],
  ['1.5', /not a whole number of bytes/],
  ['1.5b', /not a whole number of bytes/],
  ['1.0001KiB', /not a whole number of bytes/],
  ['8k', /ambiguous unit "k" \(write KiB .* or KB/],
  ['8M', /ambiguous unit "M"/],
  ['1g', /ambiguous unit "g"/],
  ['1PiB', /unknown unit "PiB"/],
  ['1 MiB extra', /not a number with an optional unit/],
  ['1  MiB', /not a number with an optional unit/],
  ['MiB', /not a number with an optional unit/],
  ['NaN', /not a number with an optional unit/],
  ['1e6', /not a number with an optional unit/],
  ['0x10', /not a number with an optional unit/],
  ['9007199254740992', /larger than the maximum 9007199254740991 bytes/],
  ['9999999TiB', /larger than the maximum/],
];

test('sizes: accepted', () => {
  for (const [text, bytes] of goodSizes) {
    assert.equal(parseSize(text), bytes, text);
    assert.deepEqual(tryParseSize(text), { ok: true, value: bytes }, text);
  }
});

test('sizes: rejected with BAD_CONFIG naming the text and the reason', () => {
  for (const [text, reason] of badSizes) {
    const r = tryParseSize(text);
    assert.equal(r.ok, false, text);
    assert.match((r as { reason: string }).reason, reason, text);
    assert.throws(
      () => parseSize(text),
      (err: unknown) =>
        err instanceof BluegreenError &&
        err.code === 'BAD_CONFIG' &&
        err.message.startsWith(`size ${JSON.stringify(text)} `) &&
        reason.test(err.message),
      text,
    );
  }
});

/** Calls `parse`; any failure must be a BAD_CONFIG BluegreenError naming the text and the reason. */
function checkTotal(kind: string, parse: (t: string) => number, tryParse: typeof tryParseDuration, text: string): void {
  const r = tryParse(text);
  try {
    const v = parse(text);
    assert.ok(r.ok && r.value === v);
    assert.ok(Number.isSafeInteger(v) && v >= 0, `${JSON.stringify(text)} -> ${v}`);
  } catch (err) {
    assert.ok(err instanceof BluegreenError, `${JSON.stringify(text)} threw ${String(err)}`);
    assert.equal(err.code, 'BAD_CONFIG');
    assert.ok(!r.ok);
    assert.ok(r.reason.length > 0);
    assert.equal(err.message, `${kind} ${JSON.stringify(text)} ${r.reason}`);
  }
}

const durationish = fc.stringMatching(/^[ -]?[0-9.]{0,6}(h|m|s|ms|x|us|)[0-9.]{0,4}(h|m|s|ms|)[ ]?$/);
const sizeish = fc.stringMatching(/^[ -]?[0-9.]{0,20} ?(b|k|kb|kib|MiB|GB|TiB|PB|x|)$/);

test('property: durations never throw anything but BAD_CONFIG, and results are whole ms in range', () => {
  fc.assert(
    fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), durationish), (text) => {
      checkTotal('duration', parseDuration, tryParseDuration, text);
      const r = tryParseDuration(text);
      if (r.ok) assert.ok(r.value <= MAX_DURATION_MS);
    }),
    { numRuns: 3000 },
  );
});

test('property: sizes never throw anything but BAD_CONFIG, and results are whole bytes', () => {
  fc.assert(
    fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), sizeish), (text) => {
      checkTotal('size', parseSize, tryParseSize, text);
    }),
    { numRuns: 3000 },
  );
});

test('property: a composed duration parses to the sum of its parts', () => {
  fc.assert(
    fc.property(fc.nat(596), fc.nat(59), fc.nat(59), fc.nat(999), (h, m, s, ms) => {
      const text = `${h}h${m}m${s}s${ms}ms`;
      const expected = ((h * 60 + m) * 60 + s) * 1000 + ms;
      const r = tryParseDuration(text);
      if (expected <= MAX_DURATION_MS) assert.deepEqual(r, { ok: true, value: expected }, text);
      else assert.equal(r.ok, false, text);
    }),
  );
});

test('property: n KiB / MiB / KB is exact', () => {
  fc.assert(
    fc.property(fc.nat(1_000_000), (n) => {
      assert.equal(parseSize(`${n}KiB`), n * 1024);
      assert.equal(parseSize(`${n}MiB`), n * 1024 * 1024);
      assert.equal(parseSize(`${n}KB`), n * 1000);
    }),
  );
});
