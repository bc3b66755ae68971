import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HoldQueue } from '../../src/dataplane/hold-queue.ts';
import { isBluegreenError } from '../../src/errors.ts';

test('waiters are released in arrival order', async () => {
  const q = new HoldQueue(10);
  const order: number[] = [];
  const waits = [0, 1, 2, 3].map((i) => q.wait(10_000).then((o) => { order.push(i); return o; }));
  assert.equal(q.size, 4);
  assert.equal(q.releaseAll(), 4);
  assert.deepEqual(await Promise.all(waits), ['released', 'released', 'released', 'released']);
  assert.deepEqual(order, [0, 1, 2, 3]);
  assert.equal(q.size, 0);
});

test('a wait times out, and a full queue rejects at once', async () => {
  const q = new HoldQueue(1);
  const w = q.wait(20);
  await assert.rejects(q.wait(1000), (e: unknown) => isBluegreenError(e, 'HOLD_QUEUE_FULL') && /1 requests/.test(e.message));
  assert.equal(await w, 'timeout');
  assert.equal(q.size, 0);
});

test('an aborted client leaves the queue', async () => {
  const q = new HoldQueue(5);
  const ac = new AbortController();
  const w = q.wait(10_000, ac.signal);
  const other = q.wait(10_000);
  assert.equal(q.size, 2);
  ac.abort();
  await assert.rejects(w, (e: unknown) => isBluegreenError(e, 'CLIENT_ABORTED'));
  assert.equal(q.size, 1);
  assert.equal(q.releaseAll(), 1);
  assert.equal(await other, 'released');
});

test('any abort hook with the three members of an AbortSignal ends a wait (the data plane passes its request context)', async () => {
  const q = new HoldQueue(5);
  let listener: (() => void) | undefined;
  const hook = {
    aborted: false,
    addEventListener: (_type: 'abort', f: () => void) => {
      listener = f;
    },
    removeEventListener: (_type: 'abort', f: () => void) => {
      if (listener === f) listener = undefined;
    },
  };
  const w = q.wait(10_000, hook);
  assert.ok(listener, 'the queue listens for the abort');
  hook.aborted = true;
  listener();
  await assert.rejects(w, (e: unknown) => isBluegreenError(e, 'CLIENT_ABORTED'));
  assert.equal(q.size, 0);
  assert.equal(listener, undefined, 'the listener is removed once the wait ended');
  await assert.rejects(q.wait(10_000, hook), (e: unknown) => isBluegreenError(e, 'CLIENT_ABORTED'), 'an aborted hook rejects at once');
  const released = q.wait(10_000, { ...hook, aborted: false });
  q.releaseAll();
  assert.equal(await released, 'released');
  assert.equal(listener, undefined, 'released: the listener is removed');
});

test('rejectAll fails every waiter with the reason', async () => {
  const q = new HoldQueue(5);
  const w = q.wait(10_000);
  assert.equal(q.rejectAll(new Error('stopping')), 1);
  await assert.rejects(w, /stopping/);
});

test('waits with different timeouts share one timer: each ends on its own, the others stay held', async () => {
  const q = new HoldQueue(10);
  const long1 = q.wait(60_000);
  const short = q.wait(30);
  const long2 = q.wait(60_000);
  const shorter = q.wait(5);
  assert.deepEqual(await Promise.all([shorter, short]), ['timeout', 'timeout']);
  assert.equal(q.size, 2);
  // A later short wait re-arms the timer even though a longer one is already armed.
  const again = q.wait(5);
  assert.equal(await again, 'timeout');
  assert.equal(q.releaseAll(), 2);
  assert.deepEqual(await Promise.all([long1, long2]), ['released', 'released']);
  assert.equal(q.size, 0);
});
