import { execFile } from 'node:child_process';
import { X509Certificate, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

// Certificates made at test time with the openssl CLI: a CA, leaf certificates it signs (SANs,
// wildcards, a fresh random serial each time) and self-signed ones. EC P-256 keys, valid 2 days.

const run = promisify(execFile);

export interface Pem {
  cert: string;
  key: string;
  serial: string;
  fingerprint256: string;
}

export interface TestCa extends Pem {
  /** Signs a leaf certificate for `names` (DNS SANs, wildcards allowed). */
  issue(names: readonly string[]): Promise<Pem>;
  close(): Promise<void>;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  await run('openssl', args, { cwd });
}

function serialHex(): string {
  const b = randomBytes(8);
  b[0] = (b[0]! & 0x7f) | 0x10; // positive, no leading zero byte
  return b.toString('hex');
}

async function pem(dir: string, certFile: string, keyFile: string): Promise<Pem> {
  const cert = await readFile(join(dir, certFile), 'utf8');
  const key = await readFile(join(dir, keyFile), 'utf8');
  const x = new X509Certificate(cert);
  return { cert, key, serial: x.serialNumber, fingerprint256: x.fingerprint256 };
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
let seq = 0;

/** A self-signed certificate for `names` (usable as its own trust anchor). */
export async function selfSigned(names: readonly string[]): Promise<Pem> {
  const dir = await mkdtemp(join(tmpdir(), 'bg-cert-'));
  try {
    const san = names.map((n) => `DNS:${n}`).join(',');
    await openssl(['req', '-x509', ...EC, '-keyout', 'k.pem', '-out', 'c.pem', '-days', '2', '-subj', `/CN=${names[0]}`,
      '-set_serial', `0x${serialHex()}`, '-addext', `subjectAltName=${san}`], dir);
    return await pem(dir, 'c.pem', 'k.pem');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A test CA; issue() signs leaf certificates with it. */
export async function createCa(): Promise<TestCa> {
  const dir = await mkdtemp(join(tmpdir(), 'bg-ca-'));
  await openssl(['req', '-x509', ...EC, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=bluegreen test CA'], dir);
  const ca = await pem(dir, 'ca.crt', 'ca.key');
  return {
    ...ca,
    async issue(names) {
      const n = ++seq;
      const san = names.map((x) => `DNS:${x}`).join(',');
      await writeFile(join(dir, `ext${n}.cnf`), `subjectAltName=${san}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n`);
      await openssl(['req', '-new', ...EC, '-keyout', `leaf${n}.key`, '-out', `leaf${n}.csr`, '-subj', `/CN=${names[0]}`], dir);
      await openssl(['x509', '-req', '-in', `leaf${n}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-set_serial', `0x${serialHex()}`,
        '-days', '2', '-extfile', `ext${n}.cnf`, '-out', `leaf${n}.crt`], dir);
      return pem(dir, `leaf${n}.crt`, `leaf${n}.key`);
    },
    close: () => rm(dir, { recursive: true, force: true }),
  };
}
