// The limits set by flags on the real `bluegreen serve` process (settings → data plane → listener).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnBluegreen } from '../support/serve-process.ts';
import { refusedPort } from '../support/servers.ts';
import { RawConnection, countingUpstream, rawRequest, statusOf } from './hostile-support.ts';

test('bluegreen serve --max-header-count --max-url-length --client-header-timeout --client-body-timeout --max-connections', async (t) => {
  const up = await countingUpstream();
  t.after(() => up.close());
  const port = await refusedPort();
  const adminPort = await refusedPort();
  const proxy = spawnBluegreen(t, [
    'serve', '--no-docker', '--listen', `127.0.0.1:${port}`, '--admin', `127.0.0.1:${adminPort}`, '--upstream', `web=127.0.0.1:${up.port}`,
    '--max-header-count', '5', '--max-url-length', '200', '--client-header-timeout', '1s', '--client-body-timeout', '1s', '--max-connections', '3',
  ]);
  await proxy.waitFor('"msg":"listening"', 20_000);
  const ok = (path: string) => `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`;
  assert.equal((await rawRequest(port, ok('/first'))).status, 200);

  const fields = Array.from({ length: 5 }, (_, i) => `X-F${i}: ${i}\r\n`).join('');
  assert.equal((await rawRequest(port, `GET /six HTTP/1.1\r\nHost: x\r\n${fields}\r\n`)).status, 431);
  assert.equal((await rawRequest(port, ok(`/${'u'.repeat(250)}`))).status, 414);
  const [slow, stalled] = await Promise.all([
    // one header value, a byte every 150 ms (more fields would break --max-header-count first)
    rawRequest(port, ['GET /slow HTTP/1.1\r\nHost: x\r\nX-Drip: ', ...Array.from({ length: 60 }, () => 'v')], { gapMs: 150, waitMs: 10_000 }),
    rawRequest(port, 'POST /stalled HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab', { waitMs: 10_000 }),
  ]);
  assert.equal(slow.status, 408, slow.text);
  assert.ok(slow.ms >= 950);
  assert.equal(stalled.status, 408, stalled.text);
  assert.ok(stalled.ms >= 950);

  const conns = await Promise.all([0, 1, 2].map(() => RawConnection.open(port)));
  t.after(() => conns.forEach((c) => c.close()));
  for (const c of conns) assert.equal(statusOf(await c.request('GET /held HTTP/1.1\r\nHost: x\r\n\r\n')), 200);
  const refused = await rawRequest(port, ok('/fourth'));
  assert.equal(refused.status, 503, refused.text);
  assert.equal(statusOf(await conns[0]!.request('GET /still HTTP/1.1\r\nHost: x\r\n\r\n')), 200);
  assert.deepEqual(
    up.seen.map((s) => s.url).filter((u) => !u.startsWith('/held')),
    ['/first', '/still'],
    'nothing refused reached the upstream',
  );
});
