import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCa, type Pem } from './certs.ts';
import { captureLogger, handshake, startTlsProxy, until } from './harness.ts';

test('two proxy instances watching one directory both serve a certificate a third party writes there (atomic rename), and its renewal, without a restart', async (t) => {
  const ca = await createCa();
  t.after(() => ca.close());
  const dir = await mkdtemp(join(tmpdir(), 'bg-shared-'));
  const staging = await mkdtemp(join(tmpdir(), 'bg-staging-')); // the third party's scratch space
  t.after(() => rm(dir, { recursive: true, force: true }));
  t.after(() => rm(staging, { recursive: true, force: true }));
  const first = await ca.issue(['default.test']);
  await writeFile(join(dir, 'default.crt'), first.cert);
  await writeFile(join(dir, 'default.key'), first.key);

  const one = await startTlsProxy(dir, { logger: captureLogger().logger });
  t.after(() => one.proxy.stop(0));
  const two = await startTlsProxy(dir, { logger: captureLogger().logger });
  t.after(() => two.proxy.stop(0));
  const serial = async (port: number) => (await handshake(port, { ca: ca.cert, servername: 'new.example.com', checkName: false })).serial;
  assert.equal(await serial(one.tlsPort), first.serial, 'before: the default');
  assert.equal(await serial(two.tlsPort), first.serial);

  // A third party (an ACME client on another host, a secrets sync) writes the pair elsewhere and
  // renames it in: key first, then the certificate.
  let n = 0;
  const publish = async (pem: Pem) => {
    n++;
    await writeFile(join(staging, `k${n}`), pem.key);
    await writeFile(join(staging, `c${n}`), pem.cert);
    await rename(join(staging, `k${n}`), join(dir, 'new.example.com.key'));
    await rename(join(staging, `c${n}`), join(dir, 'new.example.com.crt'));
  };
  const issued = await ca.issue(['new.example.com']);
  const t0 = performance.now();
  await publish(issued);
  const servedBy = async (port: number, want: string) => until(async () => ((await serial(port)) === want ? performance.now() - t0 : undefined), 5000, `port ${port} to serve ${want}`);
  const [ms1, ms2] = await Promise.all([servedBy(one.tlsPort, issued.serial), servedBy(two.tlsPort, issued.serial)]);
  // Verified with the name check this time.
  assert.equal((await handshake(one.tlsPort, { ca: ca.cert, servername: 'new.example.com' })).serial, issued.serial);
  assert.equal((await handshake(two.tlsPort, { ca: ca.cert, servername: 'new.example.com' })).serial, issued.serial);

  const renewed = await ca.issue(['new.example.com']);
  const t1 = performance.now();
  await publish(renewed);
  const [ms3, ms4] = await Promise.all([servedBy(one.tlsPort, renewed.serial), servedBy(two.tlsPort, renewed.serial)]);
  t.diagnostic(`new certificate served by both after ${Math.round(ms1)} / ${Math.round(ms2)} ms; renewal after ${Math.round(ms3 - (t1 - t0))} / ${Math.round(ms4 - (t1 - t0))} ms`);
  assert.equal(await serial(one.tlsPort), renewed.serial);
  assert.equal(await serial(two.tlsPort), renewed.serial);
});

test('a Kubernetes Secret volume update (the ..data symlink renamed over) is picked up', async (t) => {
  const ca = await createCa();
  t.after(() => ca.close());
  const dir = await mkdtemp(join(tmpdir(), 'bg-k8s-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  // What the kubelet writes: ..<timestamp>/ with the files, ..data -> it, tls.crt -> ..data/tls.crt.
  const version = async (n: number, pem: Pem) => {
    await mkdir(join(dir, `..v${n}`));
    await writeFile(join(dir, `..v${n}`, 'tls.crt'), pem.cert);
    await writeFile(join(dir, `..v${n}`, 'tls.key'), pem.key);
    await symlink(`..v${n}`, join(dir, '..data_tmp'));
    await rename(join(dir, '..data_tmp'), join(dir, '..data'));
  };
  const v1 = await ca.issue(['k8s.test']);
  await version(1, v1);
  await symlink(join('..data', 'tls.crt'), join(dir, 'tls.crt'));
  await symlink(join('..data', 'tls.key'), join(dir, 'tls.key'));
  const p = await startTlsProxy(dir, { logger: captureLogger().logger });
  t.after(() => p.proxy.stop(0));
  const serial = async () => (await handshake(p.tlsPort, { ca: ca.cert, servername: 'k8s.test' })).serial;
  assert.equal(await serial(), v1.serial);
  const v2 = await ca.issue(['k8s.test']);
  await version(2, v2);
  await until(async () => ((await serial()) === v2.serial ? true : undefined), 5000, 'the swapped Secret to serve');
  assert.deepEqual(p.proxy.certificates!.certificates.map((c) => c.pair), ['tls']);
});
