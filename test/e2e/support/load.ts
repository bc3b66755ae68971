// A steady mixed load through the proxy: several keep-alive clients, each sending GETs and 8 KiB
// POSTs back to back, recording every outcome. A request fails when it gets a non-2xx status, a
// reset, a timeout, or a POST echo whose byte count or sha256 is wrong.
import { createHash, randomBytes } from 'node:crypto';
import { Agent, request } from 'undici';

export type FailureKind = 'status>=500' | 'status<500' | 'reset' | 'timeout' | 'refused' | 'corrupt' | 'other';

export interface Sample {
  /** Client clock (same host as the proxy), ms since epoch, when the request was sent. */
  start: number;
  end: number;
  method: 'GET' | 'POST';
  /** Request path (unique per request of the steady load: /load/<client>/<n>). */
  path?: string;
  status: number;
  /** NAME of the app instance that answered (from its JSON body); '' for failures. */
  name: string;
  failure?: FailureKind;
  detail?: string;
}

export interface LoadOptions {
  /** Proxy base URL, e.g. http://127.0.0.1:8080 */
  url: string;
  /** Host header: selects the service. */
  host: string;
  clients?: number;
  bodyBytes?: number;
  /** A request with no answer after this long is a timeout (above the proxy's 30 s hold timeout). */
  timeoutMs?: number;
}

export interface LoadSummary {
  sent: number;
  ok: number;
  failed: number;
  byKind: Partial<Record<FailureKind, number>>;
  maxLatencyMs: number;
  byName: Record<string, number>;
}

/** One summary of several loads (e.g. keep-alive and new-connection clients of the same run). */
export function mergeSummaries(...all: LoadSummary[]): LoadSummary {
  const out: LoadSummary = { sent: 0, ok: 0, failed: 0, byKind: {}, maxLatencyMs: 0, byName: {} };
  for (const s of all) {
    out.sent += s.sent;
    out.ok += s.ok;
    out.failed += s.failed;
    out.maxLatencyMs = Math.max(out.maxLatencyMs, s.maxLatencyMs);
    for (const [k, v] of Object.entries(s.byKind)) out.byKind[k as FailureKind] = (out.byKind[k as FailureKind] ?? 0) + v;
    for (const [k, v] of Object.entries(s.byName)) out.byName[k] = (out.byName[k] ?? 0) + v;
  }
  return out;
}

export class Load {
  readonly samples: Sample[] = [];
  readonly #opts: Required<LoadOptions>;
  readonly #agent: Agent;
  readonly #body: Buffer;
  readonly #sha: string;
  #running = false;
  #workers: Promise<void>[] = [];
  #closed: Promise<void> = Promise.resolve();

  constructor(opts: LoadOptions) {
    this.#opts = { clients: 6, bodyBytes: 8 * 1024, timeoutMs: 40_000, ...opts };
    this.#agent = new Agent({
      connections: this.#opts.clients + 4,
      keepAliveTimeout: 4_000,
      headersTimeout: this.#opts.timeoutMs,
      bodyTimeout: this.#opts.timeoutMs,
    });
    this.#body = randomBytes(this.#opts.bodyBytes);
    this.#sha = createHash('sha256').update(this.#body).digest('hex');
  }

  start(): this {
    this.#running = true;
    for (let i = 0; i < this.#opts.clients; i++) this.#workers.push(this.#worker(i));
    return this;
  }

  /** Stops sending, waits for the requests in flight, closes the connections. Idempotent. */
  async stop(): Promise<LoadSummary> {
    if (this.#running) {
      this.#running = false;
      this.#closed = Promise.all(this.#workers).then(() => this.#agent.close());
    }
    await this.#closed;
    return this.summary();
  }

  summary(): LoadSummary {
    const byKind: LoadSummary['byKind'] = {};
    const byName: Record<string, number> = {};
    let maxLatencyMs = 0;
    let failed = 0;
    for (const s of this.samples) {
      maxLatencyMs = Math.max(maxLatencyMs, s.end - s.start);
      if (s.failure) {
        failed++;
        byKind[s.failure] = (byKind[s.failure] ?? 0) + 1;
      } else byName[s.name] = (byName[s.name] ?? 0) + 1;
    }
    return { sent: this.samples.length, ok: this.samples.length - failed, failed, byKind, maxLatencyMs, byName };
  }

  /** Failed samples, for assertion messages. */
  failures(limit = 10): string {
    return this.samples
      .filter((s) => s.failure)
      .slice(0, limit)
      .map((s) => `${new Date(s.start).toISOString()} ${s.method} ${s.failure} ${s.status} ${s.detail ?? ''}`)
      .join('\n');
  }

  /** Waits until `n` requests in a row (the latest ones) were answered by `name`. */
  async waitForResponder(name: string, n = 20, timeoutMs = 30_000): Promise<number> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const last = this.samples.slice(-n);
      if (last.length === n && last.every((s) => s.name === name)) return last[0]!.start;
      if (Date.now() > end) throw new Error(`no run of ${n} responses from ${name} within ${timeoutMs} ms: ${JSON.stringify(this.summary())}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** One request outside the steady load (e.g. a slow one with ?delay=5000). */
  one(path: string, method: 'GET' | 'POST' = 'GET'): Promise<Sample> {
    return this.#send(path, method);
  }

  async #worker(i: number): Promise<void> {
    let n = 0;
    while (this.#running) {
      const method = (n++ + i) % 2 === 0 ? 'GET' : 'POST';
      this.samples.push(await this.#send(`/load/${i}/${n}`, method));
    }
  }

  async #send(path: string, method: 'GET' | 'POST'): Promise<Sample> {
    const start = Date.now();
    const sample: Sample = { start, end: start, method, path, status: 0, name: '' };
    try {
      const res = await request(`${this.#opts.url}${path}`, {
        method,
        dispatcher: this.#agent,
        headers: { host: this.#opts.host, ...(method === 'POST' ? { 'content-type': 'application/octet-stream' } : {}) },
        body: method === 'POST' ? this.#body : undefined,
        signal: AbortSignal.timeout(this.#opts.timeoutMs),
      });
      const text = await res.body.text();
      sample.status = res.statusCode;
      if (res.statusCode < 200 || res.statusCode >= 300) {
        sample.failure = res.statusCode >= 500 ? 'status>=500' : 'status<500';
        sample.detail = `${String(res.headers['x-bluegreen-error'] ?? '')} ${text.slice(0, 200)}`;
      } else {
        const body = JSON.parse(text) as { name?: string; bytes?: number; sha256?: string };
        sample.name = body.name ?? '';
        if (method === 'POST' && (body.bytes !== this.#body.length || body.sha256 !== this.#sha)) {
          sample.failure = 'corrupt';
          sample.detail = `echo says ${body.bytes} bytes ${body.sha256}`;
        }
      }
    } catch (err) {
      const e = err as Error & { code?: string; cause?: { code?: string } };
      const code = e.code ?? e.cause?.code ?? e.name;
      sample.failure =
        code === 'ECONNREFUSED'
          ? 'refused'
          : /TIMEOUT|AbortError|TimeoutError/i.test(code)
            ? 'timeout'
            : /SOCKET|ECONNRESET|EPIPE|CLOSED/i.test(code)
              ? 'reset'
              : 'other';
      sample.detail = `${code}: ${e.message}`;
    }
    sample.end = Date.now();
    return sample;
  }
}

/** The line each case prints: `case N: sent=… failed=… maxHoldMs=…`. */
export function caseLine(label: string, s: LoadSummary, extra = ''): string {
  const kinds = Object.entries(s.byKind).map(([k, v]) => `${k}:${v}`).join(',');
  return `case ${label}: sent=${s.sent} failed=${s.failed}${kinds ? ` (${kinds})` : ''} maxHoldMs=${s.maxLatencyMs}${extra ? ` ${extra}` : ''}`;
}
