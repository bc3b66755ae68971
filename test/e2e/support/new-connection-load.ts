// Clients that open a new TCP connection for every request (Connection: close): GETs and 8 KiB
// POSTs whose echo (bytes, sha256) is checked, like load.ts's keep-alive clients. New connections
// are what a closing listener's accept queue holds (tcp_migrate_req).
import { createHash, randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import type { LoadSummary, Sample } from './load.ts';

/** Clients that open a new connection for every request (Connection: close), GET and 8 KiB POST. */
export class NewConnectionLoad {
  readonly samples: Sample[] = [];
  #running = true;
  readonly #workers: Promise<void>[] = [];
  readonly #body = randomBytes(8 * 1024);
  readonly #sha = createHash('sha256').update(this.#body).digest('hex');
  readonly #url: URL;
  readonly #host: string;

  /** Starts sending at once. */
  constructor(opts: { url: string; host: string; clients: number }) {
    this.#url = new URL(opts.url);
    this.#host = opts.host;
    for (let i = 0; i < opts.clients; i++) this.#workers.push(this.#worker(i));
  }

  async #worker(i: number): Promise<void> {
    for (let n = 0; this.#running; n++) this.samples.push(await this.#send((n + i) % 2 === 0 ? 'GET' : 'POST', n));
  }

  #send(method: 'GET' | 'POST', n: number): Promise<Sample> {
    const start = Date.now();
    const sample: Sample = { start, end: start, method, status: 0, name: '' };
    return new Promise((resolve) => {
      const done = () => {
        sample.end = Date.now();
        resolve(sample);
      };
      const req = httpRequest(
        { host: this.#url.hostname, port: Number(this.#url.port), method, path: `/new/${n}`, agent: false, headers: { host: this.#host, connection: 'close' }, timeout: 40_000 },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('error', (err) => {
            sample.failure = 'reset';
            sample.detail = err.message;
            done();
          });
          res.on('end', () => {
            sample.status = res.statusCode ?? 0;
            if (sample.status !== 200) {
              sample.failure = sample.status >= 500 ? 'status>=500' : 'status<500';
              sample.detail = text.slice(0, 200);
            } else {
              const b = JSON.parse(text) as { name?: string; bytes?: number; sha256?: string };
              sample.name = b.name ?? '';
              if (method === 'POST' && (b.bytes !== this.#body.length || b.sha256 !== this.#sha)) sample.failure = 'corrupt';
            }
            done();
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (err: NodeJS.ErrnoException) => {
        sample.failure = err.code === 'ECONNREFUSED' ? 'refused' : err.message === 'timeout' ? 'timeout' : 'reset';
        sample.detail = `${err.code ?? ''} ${err.message}`;
        done();
      });
      req.end(method === 'POST' ? this.#body : undefined);
    });
  }

  async stop(): Promise<LoadSummary> {
    this.#running = false;
    await Promise.all(this.#workers);
    let failed = 0;
    let maxLatencyMs = 0;
    const byKind: LoadSummary['byKind'] = {};
    for (const s of this.samples) {
      maxLatencyMs = Math.max(maxLatencyMs, s.end - s.start);
      if (s.failure) {
        failed++;
        byKind[s.failure] = (byKind[s.failure] ?? 0) + 1;
      }
    }
    return { sent: this.samples.length, ok: this.samples.length - failed, failed, byKind, maxLatencyMs, byName: {} };
  }
}
