import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCa } from './certs.ts';
import { captureLogger, handshake, startTlsProxy, until, type LogLine } from './harness.ts';

test('a broken, half-written or mismatched pair is rejected with a log line naming the file and the reason; the previous certificate keeps serving', async (t) => {
  const ca = await createCa();
  t.after(() => ca.close());
  const dir = await mkdtemp(join(tmpdir(), 'bg-tls-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const crt = join(dir, 'a.test.crt');
  const key = join(dir, 'a.test.key');
  const v1 = await ca.issue(['a.test']);
  const other = await ca.issue(['a.test']);
  await writeFile(crt, v1.cert);
  await writeFile(key, v1.key);

  const { logger, lines } = captureLogger();
  const p = await startTlsProxy(dir, { logger });
  t.after(() => p.proxy.stop(0));
  const served = async () => (await handshake(p.tlsPort, { ca: ca.cert, servername: 'a.test' })).serial;
  assert.equal(await served(), v1.serial);

  let seen = lines.length;
  const nextRejection = async (what: string): Promise<LogLine> => {
    const line = await until(() => lines.slice(seen).find((l) => l.msg.startsWith('certificate rejected')), 5000, what);
    seen = lines.indexOf(line) + 1;
    return line;
  };

  // 1. A key that belongs to another certificate.
  await writeFile(key, other.key);
  let line = await nextRejection('the mismatched key to be rejected');
  assert.equal(line.level, 50);
  assert.equal(line.file, key);
  assert.match(String(line.reason), /private key does not match the certificate/);
  assert.match(line.msg, /a\.test\.key .*the previous certificate keeps serving/);
  assert.deepEqual((line.serving as { serial: string }).serial, v1.serial);
  assert.equal(await served(), v1.serial);

  // 2. Back to the right key, then a certificate file cut off mid-write.
  await writeFile(key, v1.key);
  await until(async () => ((await served()) === v1.serial ? true : undefined), 2000, 'v1 to serve');
  const half = v1.cert.slice(0, Math.floor(v1.cert.length / 2));
  await writeFile(crt, half);
  line = await nextRejection('the half-written certificate to be rejected');
  assert.equal(line.file, crt);
  assert.match(String(line.reason), /without its END line \(truncated or half-written\)/);
  assert.equal(await served(), v1.serial);

  // 3. Not PEM at all; then an empty file.
  await writeFile(crt, 'this is not a certificate\n');
  line = await nextRejection('garbage to be rejected');
  assert.equal(line.file, crt);
  assert.match(String(line.reason), /is not PEM/);
  await writeFile(crt, '');
  line = await nextRejection('an empty file to be rejected');
  assert.match(String(line.reason), /is empty/);
  // A PEM block whose content is damaged.
  await writeFile(crt, v1.cert.replace(/^(-----BEGIN CERTIFICATE-----\n)(.{10})/m, '$1AAAAAAAAAA'));
  line = await nextRejection('a damaged certificate to be rejected');
  assert.match(String(line.reason), /certificate 1 does not parse/);
  assert.equal(await served(), v1.serial);

  // 4. A new pair with its key missing: rejected, nothing served for it (the default answers).
  await writeFile(join(dir, 'b.test.crt'), (await ca.issue(['b.test'])).cert);
  line = await nextRejection('a pair without its key to be rejected');
  assert.equal(line.pair, 'b.test');
  assert.match(String(line.reason), /has no key file/);
  assert.match(line.msg, /nothing is served for it/);

  // 5. A good new version replaces the old one at once.
  const v2 = await ca.issue(['a.test']);
  await writeFile(crt, v2.cert);
  await writeFile(key, v2.key);
  await until(async () => ((await served()) === v2.serial ? true : undefined), 5000, 'v2 to serve');
  assert.ok(lines.some((l) => l.msg === 'certificate renewed' && l.serial === v2.serial && l.previousSerial === v1.serial));
  // Each failure was logged once, not on every rescan.
  assert.equal(lines.filter((l) => l.msg.startsWith('certificate rejected') && /is not PEM/.test(String(l.reason))).length, 1);
});
