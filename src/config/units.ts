import { BluegreenError } from '../errors.ts';

// Durations and sizes written by people, in config files and container labels. Each parser has a
// `try…` form that returns the reason instead of throwing (labels turn reasons into problems) and a
// throwing form for config (BAD_CONFIG, naming the text and the reason).

/** A parsed number, or why the text is not one. */
export type UnitResult = { ok: true; value: number } | { ok: false; reason: string };

/** Longest accepted duration: the largest delay `setTimeout` honours (2^31-1 ms, about 24.8 days). */
export const MAX_DURATION_MS = 2 ** 31 - 1;

const DURATION_UNITS: ReadonlyMap<string, bigint> = new Map([
  ['h', 3_600_000n],
  ['m', 60_000n],
  ['s', 1_000n],
  ['ms', 1n],
]);
const DURATION_ORDER = ['h', 'm', 's', 'ms'];
const DURATION_PART = /^(\d+(?:\.\d*)?|\.\d+)([a-zA-Zµ]*)/;

/**
 * Go/Docker style duration to whole milliseconds: `300ms`, `5s`, `1.5s`, `1m30s`, `2h`. Units are
 * h, m, s, ms, each at most once and largest first. A bare number is rejected (it needs a unit),
 * except `0`. Negative, sub-millisecond and over-`MAX_DURATION_MS` values are rejected.
 */
export function tryParseDuration(text: string): UnitResult {
  if (typeof text !== 'string') return fail('is not text');
  const s = text.trim();
  if (s === '') return fail('is empty');
  if (s === '0') return { ok: true, value: 0 };
  if (s.startsWith('-')) return fail('is negative');
  if (/^[0-9.]+$/.test(s)) return fail('needs a unit (ms, s, m, h)');
  if (/\s/.test(s)) return fail('contains whitespace (write 1m30s, not 1m 30s)');
  let rest = s;
  let total = 0n;
  let lastRank = -1;
  while (rest !== '') {
    const m = DURATION_PART.exec(rest);
    if (!m) return fail(`has ${JSON.stringify(rest)} where a number was expected (example: 1m30s)`);
    const [part, num, unit] = m as unknown as [string, string, string];
    if (unit === '') return fail(`needs a unit after ${num} (ms, s, m, h)`);
    const perUnit = DURATION_UNITS.get(unit);
    if (perUnit === undefined) return fail(`has unknown unit "${unit}" (use ms, s, m, h)`);
    const rank = DURATION_ORDER.indexOf(unit);
    if (rank <= lastRank) return fail('must list units once each, largest first (example: 1h2m3s)');
    lastRank = rank;
    const ms = scaleDecimal(num, perUnit);
    if (ms === undefined) return fail('is finer than a millisecond');
    total += ms;
    if (total > BigInt(MAX_DURATION_MS)) return fail(`is longer than the maximum ${MAX_DURATION_MS}ms (about 24.8 days)`);
    rest = rest.slice(part.length);
  }
  return { ok: true, value: Number(total) };
}

/** Like `tryParseDuration`, but throws BluegreenError('BAD_CONFIG') naming the text and the reason. */
export function parseDuration(text: string): number {
  const r = tryParseDuration(text);
  if (r.ok) return r.value;
  throw new BluegreenError('BAD_CONFIG', `duration ${quote(text)} ${r.reason}`);
}

const SIZE_UNITS: ReadonlyMap<string, bigint> = new Map([
  ['', 1n],
  ['b', 1n],
  ['kb', 1000n],
  ['mb', 1000n ** 2n],
  ['gb', 1000n ** 3n],
  ['tb', 1000n ** 4n],
  ['kib', 1024n],
  ['mib', 1024n ** 2n],
  ['gib', 1024n ** 3n],
  ['tib', 1024n ** 4n],
]);
const SIZE = /^(\d+(?:\.\d*)?|\.\d+) ?([a-zA-Z]*)$/;

/**
 * Size to whole bytes: `1024`, `512b`, `8KiB`, `1MiB`, `1MB` (10^6), `2GiB`. A bare number is bytes.
 * Units are case-insensitive; K/M/G/T without B are rejected as ambiguous. Results must be whole
 * bytes no larger than Number.MAX_SAFE_INTEGER.
 */
export function tryParseSize(text: string): UnitResult {
  if (typeof text !== 'string') return fail('is not text');
  const s = text.trim();
  if (s === '') return fail('is empty');
  if (s.startsWith('-')) return fail('is negative');
  const m = SIZE.exec(s);
  if (!m) return fail('is not a number with an optional unit (examples: 1024, 8KiB, 1MB)');
  const [, num, rawUnit] = m as unknown as [string, string, string];
  const unit = rawUnit.toLowerCase();
  const perUnit = SIZE_UNITS.get(unit);
  if (perUnit === undefined) {
    if (['k', 'm', 'g', 't'].includes(unit)) {
      const u = unit.toUpperCase();
      return fail(`has ambiguous unit "${rawUnit}" (write ${u}iB for 1024-based or ${u}B for 1000-based)`);
    }
    return fail(`has unknown unit "${rawUnit}" (use b, KB, MB, GB, TB, KiB, MiB, GiB, TiB)`);
  }
  const bytes = scaleDecimal(num, perUnit);
  if (bytes === undefined) return fail('is not a whole number of bytes');
  if (bytes > BigInt(Number.MAX_SAFE_INTEGER)) return fail(`is larger than the maximum ${Number.MAX_SAFE_INTEGER} bytes`);
  return { ok: true, value: Number(bytes) };
}

/** Like `tryParseSize`, but throws BluegreenError('BAD_CONFIG') naming the text and the reason. */
export function parseSize(text: string): number {
  const r = tryParseSize(text);
  if (r.ok) return r.value;
  throw new BluegreenError('BAD_CONFIG', `size ${quote(text)} ${r.reason}`);
}

/**
 * The input as an error message shows it: JSON-quoted text. A caller outside the types may pass
 * something else: it is quoted as String() makes it, or named by its type when even String() throws
 * (an object without a prototype), so that the error is still BAD_CONFIG, never a TypeError.
 */
function quote(text: unknown): string {
  if (typeof text === 'string') return JSON.stringify(text);
  try {
    return JSON.stringify(String(text));
  } catch {
    return `(${text === null ? 'null' : typeof text} that is not text)`;
  }
}

function fail(reason: string): UnitResult {
  return { ok: false, reason };
}

/** Exact `decimal * factor`; undefined when the result is not a whole number. */
function scaleDecimal(decimal: string, factor: bigint): bigint | undefined {
  const dot = decimal.indexOf('.');
  const whole = dot < 0 ? decimal : decimal.slice(0, dot);
  const frac = dot < 0 ? '' : decimal.slice(dot + 1).replace(/0+$/, '');
  const scaled = BigInt(whole + frac || '0') * factor;
  const divisor = 10n ** BigInt(frac.length);
  if (scaled % divisor !== 0n) return undefined;
  return scaled / divisor;
}
