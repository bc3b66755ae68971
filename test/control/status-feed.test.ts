import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addUpstream, sleep, startUpstream } from '../support/servers.ts';
import { startAdmin } from './harness.ts';

/** Reads server-sent `status` events from /api/events into `events` until aborted. */
async function subscribe(url: string, token?: string) {
  const ac = new AbortController();
  const res = await fetch(url, { signal: ac.signal, headers: token ? { authorization: `Bearer ${token}` } : {} });
  const events: { at: number; data: any }[] = [];
  const comments: string[] = [];
  const done = (async () => {
    let buf = '';
    try {
      for await (const chunk of res.body!.pipeThrough(new TextDecoderStream())) {
        buf += chunk;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          if (block.startsWith(':')) comments.push(block);
          const data = /^data: (.*)$/m.exec(block);
          if (/^event: status$/m.test(block) && data) events.push({ at: Date.now(), data: JSON.parse(data[1]!) });
        }
      }
    } catch {
      // aborted
    }
  })();
  return { res, events, comments, close: () => (ac.abort(), done) };
}

test('GET /api/events: a snapshot on connect, then a fresh one after each registry change', async (t) => {
  const h = await startAdmin();
  t.after(() => h.close());
  const up = await startUpstream('u');
  t.after(() => up.close());
  const sse = await subscribe(`${h.adminUrl}/api/events`);
  assert.equal(sse.res.status, 200);
  assert.match(sse.res.headers.get('content-type') ?? '', /^text\/event-stream/);
  await sleep(50);
  assert.equal(sse.events.length, 1);
  assert.deepEqual(sse.events[0]!.data.services, []);

  const u = addUpstream(h.proxy, 'web', up.port, 'starting');
  await sleep(250);
  const last = () => sse.events.at(-1)!.data;
  assert.equal(last().services[0].upstreams[0].state, 'starting');
  u.setState('ready');
  await sleep(250);
  assert.equal(last().services[0].upstreams[0].state, 'ready');
  h.proxy.registry.pause('web');
  await sleep(250);
  assert.equal(last().services[0].paused, true);
  await sse.close();
});

test('a burst of registry events is coalesced: at most one snapshot per 100 ms', async (t) => {
  const h = await startAdmin();
  t.after(() => h.close());
  const up = await startUpstream('u');
  t.after(() => up.close());
  const sse = await subscribe(`${h.adminUrl}/api/events`);
  await sleep(50);
  const start = sse.events.length;
  const began = Date.now();
  for (let i = 0; i < 40; i++) {
    addUpstream(h.proxy, 'web', up.port, 'ready', { color: i % 2 ? 'blue' : 'green' });
    await sleep(5);
  }
  // The coalesced snapshot after the burst carries all 40; wait for it rather than for a fixed time
  // (a loaded machine delays timers and batches deliveries, so arrival spacing proves nothing).
  for (let waited = 0; sse.events.at(-1)?.data.services[0]?.upstreams.length !== 40 && waited < 10_000; waited += 20) await sleep(20);
  const got = sse.events.slice(start);
  // The feed sends at most one snapshot per COALESCE_MS by its own clock: between the burst's start
  // and the last arrival there is room for at most span/100 + 1 of them (+1 for clock granularity).
  const spanMs = got.at(-1)!.at - began;
  assert.ok(got.length >= 1, 'the burst produced a snapshot');
  assert.ok(got.length < 40, `${got.length} snapshots for 40 events: not coalesced`);
  assert.ok(got.length <= Math.floor(spanMs / 100) + 2, `${got.length} snapshots within ${spanMs} ms`);
  assert.equal(got.at(-1)!.data.services[0].upstreams.length, 40, 'the last snapshot has everything');
  await sse.close();
});

test('events need the token like every API call when one is set', async (t) => {
  const h = await startAdmin({ token: 'tok' });
  t.after(() => h.close());
  const denied = await fetch(`${h.adminUrl}/api/events`);
  assert.equal(denied.status, 401);
  await denied.body?.cancel();
  const sse = await subscribe(`${h.adminUrl}/api/events`, 'tok');
  assert.equal(sse.res.status, 200);
  await sleep(50);
  assert.equal(sse.events.length, 1);
  await sse.close();
});
