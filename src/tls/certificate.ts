import { X509Certificate, createHash, createPrivateKey, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createSecureContext, type SecureContext } from 'node:tls';
import type { PairFiles } from './pair-files.ts';

// One certificate/key pair read from disk and checked before it may serve: the PEM is complete
// (every BEGIN has its END: a half-written file fails here), every certificate and the key parse,
// the key belongs to the first (leaf) certificate, and OpenSSL accepts the pair.

/** A pair that serves. */
export interface Certificate {
  /** The pair's name (see PairFiles). */
  pair: string;
  certFile: string;
  keyFile: string;
  /** DNS names it answers for, lowercased: its SAN DNS entries, else its subject CN; `*.x` wildcards. */
  names: string[];
  serialNumber: string;
  fingerprint256: string;
  validFrom: Date;
  validTo: Date;
  context: SecureContext;
  /** PEM text, kept to set the listener's context for clients that send no SNI. */
  cert: string;
  key: string;
  /** Hash of the files' bytes: an unchanged pair is not rebuilt. */
  digest: string;
}

/** Why a pair cannot serve, and which of its files is at fault. */
export class CertificateError extends Error {
  readonly file: string;
  readonly reason: string;

  constructor(file: string, reason: string) {
    super(`${file}: ${reason}`);
    this.name = 'CertificateError';
    this.file = file;
    this.reason = reason;
  }
}

export interface PairText {
  cert: string;
  key: string;
  digest: string;
}

/** Reads a pair's files. Throws CertificateError when one is missing or unreadable. */
export async function readPair(files: PairFiles): Promise<PairText> {
  if (!files.certFile) throw new CertificateError(files.keyFile ?? files.name, 'has no certificate file next to it');
  if (!files.keyFile) throw new CertificateError(files.certFile, 'has no key file next to it');
  const cert = await readText(files.certFile);
  const key = files.keyFile === files.certFile ? cert : await readText(files.keyFile);
  const digest = createHash('sha256').update(cert).update('\0').update(key).digest('hex');
  return { cert, key, digest };
}

async function readText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new CertificateError(file, code === 'ENOENT' ? 'is missing' : `cannot be read (${code ?? (err as Error).message})`);
  }
}

interface PemBlock {
  type: string;
  text: string;
}

function pemBlocks(file: string, text: string): PemBlock[] {
  if (text.trim() === '') throw new CertificateError(file, 'is empty (half-written?)');
  const blocks: PemBlock[] = [];
  for (const m of text.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g)) blocks.push({ type: m[1]!, text: m[0] });
  const begins = text.match(/-----BEGIN /g)?.length ?? 0;
  if (begins === 0) throw new CertificateError(file, 'is not PEM (no -----BEGIN line)');
  if (begins !== blocks.length) throw new CertificateError(file, 'has a PEM block without its END line (truncated or half-written)');
  return blocks;
}

/** Checks a pair's text and builds its secure context. Throws CertificateError naming the file at fault. */
export function buildCertificate(files: PairFiles, text: PairText): Certificate {
  const certFile = files.certFile!;
  const keyFile = files.keyFile!;
  const certBlocks = pemBlocks(certFile, text.cert).filter((b) => b.type === 'CERTIFICATE');
  if (certBlocks.length === 0) throw new CertificateError(certFile, 'holds no CERTIFICATE block');
  const chain = certBlocks.map((b, i) => {
    try {
      return new X509Certificate(b.text);
    } catch (err) {
      throw new CertificateError(certFile, `certificate ${i + 1} does not parse (${(err as Error).message})`);
    }
  });
  const leaf = chain[0]!;

  const keyBlocks = pemBlocks(keyFile, text.key).filter((b) => b.type.endsWith('PRIVATE KEY'));
  if (keyBlocks.length === 0) throw new CertificateError(keyFile, 'holds no PRIVATE KEY block');
  if (keyBlocks.length > 1) throw new CertificateError(keyFile, `holds ${keyBlocks.length} private keys; one is expected`);
  const keyBlock = keyBlocks[0]!;
  if (keyBlock.type === 'ENCRYPTED PRIVATE KEY') throw new CertificateError(keyFile, 'holds an encrypted private key; a key without a passphrase is needed');
  let key: KeyObject;
  try {
    key = createPrivateKey(keyBlock.text);
  } catch (err) {
    throw new CertificateError(keyFile, `private key does not parse (${(err as Error).message})`);
  }
  if (!leaf.checkPrivateKey(key)) {
    throw new CertificateError(keyFile, `private key does not match the certificate in ${certFile} (serial ${leaf.serialNumber})`);
  }
  const certText = certBlocks.map((b) => b.text).join('\n');
  let context: SecureContext;
  try {
    context = createSecureContext({ cert: certText, key: keyBlock.text });
  } catch (err) {
    throw new CertificateError(certFile, `rejected by OpenSSL (${(err as Error).message})`);
  }
  const names = dnsNames(leaf);
  if (names.length === 0) throw new CertificateError(certFile, 'names no DNS name (no subjectAltName DNS entry, no subject CN)');
  return {
    pair: files.name,
    certFile,
    keyFile,
    names,
    serialNumber: leaf.serialNumber,
    fingerprint256: leaf.fingerprint256,
    validFrom: leaf.validFromDate,
    validTo: leaf.validToDate,
    context,
    cert: certText,
    key: keyBlock.text,
    digest: text.digest,
  };
}

/** SAN DNS names, else the subject CN when it looks like a hostname; lowercased, without a trailing dot. */
export function dnsNames(x: X509Certificate): string[] {
  const out = new Set<string>();
  for (const m of (x.subjectAltName ?? '').matchAll(/(?:^|,\s*)DNS:([^,\s"]+)/g)) out.add(normalize(m[1]!));
  if (out.size === 0) {
    const cn = /(?:^|\n)CN=([^\n]+)/.exec(x.subject)?.[1]?.trim();
    if (cn && /^(\*\.)?[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?$/i.test(cn)) out.add(normalize(cn));
  }
  return [...out];
}

function normalize(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}
