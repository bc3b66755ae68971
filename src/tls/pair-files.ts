import { readdir, stat } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';

// Which files of a certificate directory form certificate/key pairs. Two layouts, side by side:
//   flat:          NAME.crt (or NAME.cert) + NAME.key, or NAME.pem holding both (or NAME.pem + NAME.key)
//   one directory: NAME/fullchain.pem (or cert.pem) + NAME/privkey.pem (or key.pem), as in
//                  Let's Encrypt's live/DOMAIN/ (point tls.dir at live/)
// A directory that itself holds fullchain.pem + privkey.pem is one pair named after it. Names
// starting with '.' are skipped (editors' temporary files, Kubernetes' ..data; the files linked from
// them are read through their links). Symlinks are followed.

export interface PairFiles {
  /** The pair's name, for logs and the default rule: `NAME` (flat) or `NAME/` (directory layout). */
  name: string;
  /** The certificate (chain) file; undefined when only a key is there (half-written pair). */
  certFile: string | undefined;
  /** The key file; the certificate file itself for a combined NAME.pem; undefined when missing. */
  keyFile: string | undefined;
}

const CERT_EXT = new Set(['.crt', '.cert']);
/** Let's Encrypt's file names inside a domain directory. */
const DIR_CERTS = ['fullchain.pem', 'cert.pem'];
const DIR_KEYS = ['privkey.pem', 'key.pem'];
const DIR_OTHER = new Set(['chain.pem', 'README']);

/** The pairs in `dir`, sorted by name. Throws when `dir` cannot be read. */
export async function findPairs(dir: string): Promise<PairFiles[]> {
  const names = (await readdir(dir)).filter((n) => !n.startsWith('.')).sort();
  const files: string[] = [];
  const subdirs: string[] = [];
  for (const n of names) {
    const kind = await kindOf(join(dir, n));
    if (kind === 'file') files.push(n);
    else if (kind === 'dir') subdirs.push(n);
  }
  const pairs: PairFiles[] = [];
  const own = dirPair(dir, `${basename(dir)}/`, files);
  if (own) pairs.push(own);
  pairs.push(...flatPairs(dir, files.filter((f) => !own || !isDirLayoutName(f))));
  for (const sub of subdirs) {
    const path = join(dir, sub);
    let inner: string[];
    try {
      inner = (await readdir(path)).filter((n) => !n.startsWith('.'));
    } catch {
      continue; // vanished or unreadable between the two reads: the next scan sees it
    }
    const p = dirPair(path, `${sub}/`, inner);
    if (p) pairs.push(p);
  }
  return pairs.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

function isDirLayoutName(f: string): boolean {
  return DIR_CERTS.includes(f) || DIR_KEYS.includes(f) || DIR_OTHER.has(f);
}

/** A Let's Encrypt-style directory pair, when `files` has any of its names. */
function dirPair(dir: string, name: string, files: readonly string[]): PairFiles | undefined {
  const cert = DIR_CERTS.find((f) => files.includes(f));
  const key = DIR_KEYS.find((f) => files.includes(f));
  if (!cert && !key) return undefined;
  return { name, certFile: cert && join(dir, cert), keyFile: key && join(dir, key) };
}

function flatPairs(dir: string, files: readonly string[]): PairFiles[] {
  const byBase = new Map<string, { cert?: string; pem?: string; key?: string }>();
  for (const f of files) {
    const ext = extname(f).toLowerCase();
    const base = f.slice(0, f.length - ext.length);
    if (!base) continue;
    const slot = CERT_EXT.has(ext) ? 'cert' : ext === '.pem' ? 'pem' : ext === '.key' ? 'key' : undefined;
    if (!slot) continue;
    const entry = byBase.get(base) ?? {};
    entry[slot] = join(dir, f);
    byBase.set(base, entry);
  }
  const out: PairFiles[] = [];
  for (const [base, e] of byBase) {
    const certFile = e.cert ?? e.pem;
    const keyFile = e.key ?? (e.cert ? undefined : e.pem);
    out.push({ name: base, certFile, keyFile });
  }
  return out;
}

async function kindOf(path: string): Promise<'file' | 'dir' | undefined> {
  try {
    const s = await stat(path); // follows symlinks
    return s.isFile() ? 'file' : s.isDirectory() ? 'dir' : undefined;
  } catch {
    return undefined; // a dangling link (mid-swap) or a file removed since readdir
  }
}
