import { EventEmitter } from 'node:events';
import type { SecureContext } from 'node:tls';
import type { Logger } from 'pino';
import { CertificateError, buildCertificate, readPair, type Certificate, type PairText } from './certificate.ts';
import { findPairs, type PairFiles } from './pair-files.ts';

// The certificates of one directory, indexed by DNS name, and the choice for each TLS handshake:
// the exact name, then a wildcard one label deep (`*.example.com` for `a.example.com`), then the
// default certificate (the pair named `default`, else the first loaded). reload() rescans the
// directory: a new or changed pair that passes the checks replaces the old one at once (the next
// handshake gets it); a broken, half-written or mismatched one is logged and the previous
// certificate of that pair keeps serving. A pair whose files are all gone is removed.

export interface CertificateStoreOptions {
  dir: string;
  logger: Logger;
}

export interface ReloadResult {
  /** Pairs loaded for the first time or replaced by a new version. */
  loaded: string[];
  /** Pairs whose new content was rejected, with the file at fault and why. */
  rejected: { pair: string; file: string; reason: string }[];
  /** Pairs whose files are gone. */
  removed: string[];
}

export interface CertificateStoreEvents {
  /** The certificates served changed (something loaded, replaced or removed). */
  change: [result: ReloadResult];
}

type SniCallback = (servername: string, cb: (err: Error | null, ctx?: SecureContext) => void) => void;

export class CertificateStore extends EventEmitter<CertificateStoreEvents> {
  readonly dir: string;
  readonly #log: Logger;
  /** Serving certificates by pair name, in the order first loaded. */
  readonly #entries = new Map<string, Certificate>();
  /** Per pair, what the last attempt saw (a digest or an error): the same failure is logged once. */
  readonly #attempted = new Map<string, string>();
  /** The last reason the directory could not be read, logged once. */
  #dirError: string | undefined;
  #exact = new Map<string, Certificate>();
  #wildcard = new Map<string, Certificate>();
  #default: Certificate | undefined;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(opts: CertificateStoreOptions) {
    super();
    this.dir = opts.dir;
    this.#log = opts.logger;
  }

  /** The serving certificates, in load order. */
  get certificates(): Certificate[] {
    return [...this.#entries.values()];
  }

  /** What a client that sends no SNI, or an unknown name, gets. */
  get defaultCertificate(): Certificate | undefined {
    return this.#default;
  }

  /** The certificate for a handshake's SNI name. */
  select(servername: string | undefined): Certificate | undefined {
    if (!servername) return this.#default;
    const name = servername.toLowerCase().replace(/\.$/, '');
    const exact = this.#exact.get(name);
    if (exact) return exact;
    const dot = name.indexOf('.');
    return (dot > 0 ? this.#wildcard.get(name.slice(dot + 1)) : undefined) ?? this.#default;
  }

  /** For tls.createServer: picks from the certificates current at this handshake. */
  readonly SNICallback: SniCallback = (servername, cb) => {
    const c = this.select(servername);
    if (c) cb(null, c.context);
    else cb(new Error(`no certificate in ${this.dir} for ${JSON.stringify(servername)}`));
  };

  /** Rescans the directory and applies what changed. Calls run one after another. */
  reload(): Promise<ReloadResult> {
    const run = this.#queue.then(() => this.#reloadOnce());
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #reloadOnce(): Promise<ReloadResult> {
    const result: ReloadResult = { loaded: [], rejected: [], removed: [] };
    let pairs: PairFiles[];
    try {
      pairs = await findPairs(this.dir);
    } catch (err) {
      const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      if (this.#dirError !== reason) {
        this.#dirError = reason;
        this.#log.error({ dir: this.dir, reason }, 'certificate directory cannot be read; the loaded certificates keep serving');
      }
      return result;
    }
    this.#dirError = undefined;
    const seen = new Set<string>();
    for (const files of pairs) {
      seen.add(files.name);
      const prev = this.#entries.get(files.name);
      let text: PairText;
      try {
        text = await readPair(files);
      } catch (err) {
        if (!(err instanceof CertificateError)) throw err;
        // A missing or unreadable file has no content to remember: its message is, so it is logged once.
        const seenError = `error:${err.message}`;
        if (this.#attempted.get(files.name) === seenError) continue;
        this.#attempted.set(files.name, seenError);
        this.#reject(result, files.name, err, prev);
        continue;
      }
      if (prev?.digest === text.digest || this.#attempted.get(files.name) === text.digest) {
        this.#attempted.set(files.name, text.digest); // unchanged, or the same bad content already logged
        continue;
      }
      this.#attempted.set(files.name, text.digest);
      try {
        const cert = buildCertificate(files, text);
        this.#entries.set(files.name, cert);
        result.loaded.push(files.name);
        this.#logLoaded(cert, prev);
      } catch (err) {
        if (!(err instanceof CertificateError)) throw err;
        this.#reject(result, files.name, err, prev);
      }
    }
    for (const [name, cert] of this.#entries) {
      if (seen.has(name)) continue;
      this.#entries.delete(name);
      this.#attempted.delete(name);
      result.removed.push(name);
      this.#log.info({ pair: name, names: cert.names, serial: cert.serialNumber }, 'certificate files removed; certificate no longer served');
    }
    for (const name of this.#attempted.keys()) if (!seen.has(name)) this.#attempted.delete(name);
    if (result.loaded.length > 0 || result.removed.length > 0) {
      this.#index();
      this.emit('change', result);
    }
    return result;
  }

  #logLoaded(cert: Certificate, prev: Certificate | undefined): void {
    const fields = {
      pair: cert.pair,
      file: cert.certFile,
      names: cert.names,
      serial: cert.serialNumber,
      fingerprint: cert.fingerprint256,
      notAfter: cert.validTo.toISOString(),
      ...(prev ? { previousSerial: prev.serialNumber } : {}),
    };
    this.#log.info(fields, prev ? 'certificate renewed' : 'certificate loaded');
    const now = Date.now();
    if (cert.validTo.getTime() < now) this.#log.warn(fields, 'certificate has expired');
    else if (cert.validFrom.getTime() > now) this.#log.warn({ ...fields, notBefore: cert.validFrom.toISOString() }, 'certificate is not valid yet');
  }

  #reject(result: ReloadResult, pair: string, err: CertificateError, prev: Certificate | undefined): void {
    result.rejected.push({ pair, file: err.file, reason: err.reason });
    this.#log.error(
      { pair, file: err.file, reason: err.reason, ...(prev ? { serving: { serial: prev.serialNumber, names: prev.names } } : {}) },
      `certificate rejected: ${err.file} ${err.reason}; ${prev ? 'the previous certificate keeps serving' : 'nothing is served for it'}`,
    );
  }

  /** Rebuilds the name index and the default from the serving certificates. */
  #index(): void {
    const exact = new Map<string, Certificate>();
    const wildcard = new Map<string, Certificate>();
    const now = Date.now();
    for (const cert of this.#entries.values()) {
      for (const name of cert.names) {
        const [map, key] = name.startsWith('*.') ? [wildcard, name.slice(2)] : [exact, name];
        const have = map.get(key);
        if (!have || better(cert, have, now)) map.set(key, cert);
      }
    }
    this.#exact = exact;
    this.#wildcard = wildcard;
    this.#default = this.#entries.get('default') ?? this.#entries.get('default/') ?? this.#entries.values().next().value;
  }
}

/** Two certificates for one name: the one valid now, then the one issued last; else the one loaded first. */
function better(a: Certificate, b: Certificate, now: number): boolean {
  const va = a.validFrom.getTime() <= now && now <= a.validTo.getTime();
  const vb = b.validFrom.getTime() <= now && now <= b.validTo.getTime();
  if (va !== vb) return va;
  return a.validFrom.getTime() > b.validFrom.getTime();
}
