import { CoalescingRunner } from '../coalescing-runner.ts';
import { stat } from 'node:fs/promises';
import { watch, type FSWatcher } from 'chokidar';
import type { Logger } from 'pino';
import type { CertificateStore } from './certificate-store.ts';

// Keeps a CertificateStore in step with its directory. chokidar watches the directory and the pair
// directories in it (so an atomic rename, certbot's symlink updates in live/DOMAIN/ and a Kubernetes
// `..data` swap all count); after a quiet period the store rescans and reloads what changed. A slow
// periodic rescan backs the events up where they do not arrive (network file systems).

export interface CertificateWatcherOptions {
  store: CertificateStore;
  logger: Logger;
  /** Quiet period after the last file event before reloading; default 200 ms. */
  debounceMs?: number;
  /** Rescan this often even without events; default 60 s; 0 turns it off. */
  rescanMs?: number;
}

export class CertificateWatcher {
  readonly #store: CertificateStore;
  readonly #log: Logger;
  readonly #rescanMs: number;
  #watcher: FSWatcher | undefined;
  #rescan: NodeJS.Timeout | undefined;
  readonly #runner: CoalescingRunner;

  constructor(opts: CertificateWatcherOptions) {
    this.#store = opts.store;
    this.#log = opts.logger;
    this.#runner = new CoalescingRunner(async () => void (await this.#store.reload()), opts.debounceMs ?? 200, (err) =>
      this.#log.error({ err, dir: this.#store.dir }, 'unexpected error reloading certificates'),
    );
    this.#rescanMs = opts.rescanMs ?? 60_000;
  }

  /** Checks the directory, starts watching it, then loads every pair. Throws when it is not a directory. */
  async start(): Promise<void> {
    if (this.#watcher || this.#runner.closed) return;
    const dir = this.#store.dir;
    const s = await stat(dir).catch((err: NodeJS.ErrnoException) => {
      throw new Error(`tls.dir ${dir}: ${err.code === 'ENOENT' ? 'does not exist' : `cannot be read (${err.code ?? err.message})`}`);
    });
    if (!s.isDirectory()) throw new Error(`tls.dir ${dir} is not a directory`);
    this.#watcher = watch(dir, { ignoreInitial: true, depth: 1, persistent: true });
    this.#watcher.on('all', () => this.#schedule());
    this.#watcher.on('error', (err) => this.#log.warn({ err, dir }, 'certificate watcher error'));
    await new Promise<void>((resolve) => this.#watcher!.once('ready', () => resolve()));
    await this.reload();
    const loaded = this.#store.certificates;
    if (loaded.length === 0) this.#log.error({ dir }, 'no certificate in tls.dir yet; TLS handshakes fail until one is written there');
    else this.#log.info({ dir, certificates: loaded.length, default: this.#store.defaultCertificate?.pair }, 'certificates loaded; watching for changes');
    if (this.#rescanMs > 0) {
      this.#rescan = setInterval(() => this.#schedule(), this.#rescanMs);
      this.#rescan.unref();
    }
  }

  /** Rescans now. Resolves when done; never rejects. */
  reload(): Promise<void> {
    return this.#runner.run();
  }

  async close(): Promise<void> {
    clearInterval(this.#rescan);
    await this.#watcher?.close();
    await this.#runner.close();
  }

  #schedule(): void {
    this.#runner.schedule();
  }
}
