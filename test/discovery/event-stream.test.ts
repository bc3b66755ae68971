import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { EventDecoder, parseEventLine } from '../../src/discovery/event-stream.ts';

// Literal lines as Docker Engine 20.10 (API 1.41) writes them on /events, trimmed of labels.
const START =
  '{"status":"start","id":"aaa111","from":"app:1","Type":"container","Action":"start","Actor":{"ID":"aaa111","Attributes":{"bluegreen.service":"web","image":"app:1","name":"web-1"}},"scope":"local","time":1795468785,"timeNano":1795468785926325707}';
const KILL =
  '{"status":"kill","id":"aaa111","from":"app:1","Type":"container","Action":"kill","Actor":{"ID":"aaa111","Attributes":{"bluegreen.service":"web","name":"web-1","signal":"15"}},"scope":"local","time":1795468790,"timeNano":1795468790000000001}';
const HEALTHY =
  '{"status":"health_status: healthy","id":"aaa111","from":"app:1","Type":"container","Action":"health_status: healthy","Actor":{"ID":"aaa111","Attributes":{"name":"web-1"}},"scope":"local","time":1795468787,"timeNano":1795468787228735252}';
const EXEC =
  '{"status":"exec_start: /bin/sh -c node /app/healthcheck.js","id":"aaa111","Type":"container","Action":"exec_start: /bin/sh -c node /app/healthcheck.js","Actor":{"ID":"aaa111","Attributes":{"execID":"e1","name":"web-1"}},"scope":"local","time":1795468786,"timeNano":1795468786898640077}';
const CONNECT =
  '{"Type":"network","Action":"connect","Actor":{"ID":"net123","Attributes":{"container":"aaa111","name":"shop_default","type":"bridge"}},"scope":"local","time":1795468785,"timeNano":1795468785398678975}';
const NET_CREATE =
  '{"Type":"network","Action":"create","Actor":{"ID":"net123","Attributes":{"name":"shop_default","type":"bridge"}},"scope":"local","time":1795468785,"timeNano":1795468785210366840}';

interface Row {
  name: string;
  chunks: (string | Buffer)[];
  /** `action[/detail]@containerId` for each event out, in order. */
  events: string[];
  garbage: number;
}

const split = (s: string, at: number) => [s.slice(0, at), s.slice(at)];

const rows: Row[] = [
  { name: 'one event per chunk', chunks: [`${START}\n`, `${KILL}\n`], events: ['start@aaa111', 'kill@aaa111'], garbage: 0 },
  { name: 'two events in one chunk', chunks: [`${START}\n${KILL}\n`], events: ['start@aaa111', 'kill@aaa111'], garbage: 0 },
  { name: 'an event cut in half', chunks: [...split(`${START}\n`, 100)], events: ['start@aaa111'], garbage: 0 },
  {
    name: 'an event cut right before its newline, the next one in the same chunk as the newline',
    chunks: [START, `\n${KILL}`, '\n'],
    events: ['start@aaa111', 'kill@aaa111'],
    garbage: 0,
  },
  {
    name: 'one event byte by byte',
    chunks: [...`${KILL}\n`].map((c) => c),
    events: ['kill@aaa111'],
    garbage: 0,
  },
  {
    name: 'a multi-byte character cut between two Buffer chunks',
    chunks: (() => {
      const b = Buffer.from(`${START.replace('web-1', 'wéb-1')}\n`);
      const at = b.indexOf(Buffer.from('é')) + 1; // inside the two bytes of é
      return [b.subarray(0, at), b.subarray(at)];
    })(),
    events: ['start@aaa111'],
    garbage: 0,
  },
  { name: 'health_status is split into action and detail', chunks: [`${HEALTHY}\n`], events: ['health_status/healthy@aaa111'], garbage: 0 },
  {
    name: 'health_status: starting and exec_* are filtered out',
    chunks: [`${HEALTHY.replaceAll('healthy', 'starting')}\n${EXEC}\n${START}\n`],
    events: ['start@aaa111'],
    garbage: 0,
  },
  { name: 'network connect names the container', chunks: [`${NET_CREATE}\n${CONNECT}\n`], events: ['connect@aaa111'], garbage: 0 },
  {
    name: 'garbage lines are dropped and counted, the events around them kept',
    chunks: [`${START}\nnot json at all\n[1,2]\n{"Type":"container"}\n${KILL}\n`],
    events: ['start@aaa111', 'kill@aaa111'],
    garbage: 3,
  },
  { name: 'blank lines and CRLF are fine', chunks: [`\n${START}\r\n\r\n`], events: ['start@aaa111'], garbage: 0 },
  {
    name: 'the last event without a newline counts when the stream ends',
    chunks: [START],
    events: ['start@aaa111'],
    garbage: 0,
  },
  {
    name: 'a half event at the end of the stream is garbage, not glued to anything',
    chunks: [`${START}\n${KILL.slice(0, 50)}`],
    events: ['start@aaa111'],
    garbage: 1,
  },
  { name: 'an unknown type is ignored', chunks: ['{"Type":"image","Action":"pull","Actor":{"ID":"x"},"time":1}\n'], events: [], garbage: 0 },
];

function decoderWithLog() {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      cb();
    },
  });
  return { decoder: new EventDecoder(pino({ level: 'warn' }, sink)), lines };
}

for (const row of rows) {
  test(`event stream: ${row.name}`, async () => {
    const { decoder, lines } = decoderWithLog();
    const out = [];
    for (const c of row.chunks) out.push(...decoder.push(c));
    out.push(...decoder.end());
    assert.deepEqual(
      out.map((e) => `${e.action}${e.health ? `/${e.health}` : ''}@${e.containerId}`),
      row.events,
    );
    assert.equal(decoder.garbage, row.garbage);
    await new Promise((r) => setImmediate(r));
    assert.equal(lines.length, row.garbage, 'one log line per dropped line');
  });
}

test('event stream: timeNano is kept exactly (it is above 2^53), time in ms derived from it', () => {
  const r = parseEventLine(KILL);
  assert.equal(r.kind, 'event');
  if (r.kind !== 'event') return;
  assert.equal(r.event.timeNano, '1795468790000000001');
  assert.equal(r.event.timeMs, 1795468790000);
  assert.equal(r.event.attributes['signal'], '15');
  assert.match(r.event.key, /^1795468790000000001\|container\|kill\|aaa111\|aaa111$/);
});

test('event stream: without timeNano, time (seconds) is used', () => {
  const r = parseEventLine('{"Type":"container","Action":"die","Actor":{"ID":"b"},"time":1700000000}');
  assert.equal(r.kind, 'event');
  if (r.kind === 'event') assert.equal(r.event.timeMs, 1_700_000_000_000);
});

test('event stream: an over-long line without a newline is dropped, and the stream recovers', () => {
  const { decoder } = decoderWithLog();
  const big = 'x'.repeat(600 * 1024);
  assert.deepEqual(decoder.push(big), []);
  assert.deepEqual(decoder.push(big), []); // now over 1 MiB: dropped, skipping to the next newline
  assert.equal(decoder.garbage, 1);
  assert.deepEqual(decoder.push(`${big}\n${START}\n`).map((e) => e.action), ['start']);
  assert.equal(decoder.garbage, 1);
});
