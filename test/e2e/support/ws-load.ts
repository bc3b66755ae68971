// A few WebSocket clients beside the HTTP load (load.ts): each keeps one WebSocket open through the
// proxy to the test app's /ws echo, sends a message every `intervalMs` and waits for its echo. A
// server-side close between messages (a drain deadline's 1001, an upstream that went away) is what
// WebSocket clients live with: the client reconnects and it is counted as a reconnect. A message
// outstanding when an orderly close (1001 going away) arrives is sent again on the next session and
// counted as resent, as a client that reconnects does. A failure is a message whose echo never came
// otherwise (an abnormal close or a timeout with it outstanding), a wrong echo, or an upgrade that
// did not succeed.
import WebSocket from 'ws';

export type WsFailureKind = 'lost' | 'corrupt' | 'connect';

export interface WsFailure {
  at: number;
  kind: WsFailureKind;
  detail: string;
}

export interface WsSummary {
  clients: number;
  /** Messages echoed correctly. */
  messages: number;
  /** WebSocket sessions opened (the first one of each client included). */
  sessions: number;
  /** Sessions closed by the server or the network between two messages, then reopened. */
  reconnects: number;
  /** Close codes seen on those, e.g. {1001: 3}. */
  closeCodes: Record<string, number>;
  /** Messages outstanding at an orderly close (1001), sent again on the next session. */
  resent: number;
  failed: number;
  byKind: Partial<Record<WsFailureKind, number>>;
  /** Longest wait for an echo (ms). */
  maxEchoMs: number;
}

export interface WsLoadOptions {
  /** ws://host:port/ws */
  url: string;
  /** Host header: selects the service. */
  host: string;
  clients?: number;
  intervalMs?: number;
  /** An echo not back after this long is lost. */
  timeoutMs?: number;
}

export class WsLoad {
  readonly failures: WsFailure[] = [];
  readonly #opts: Required<WsLoadOptions>;
  #running = false;
  #workers: Promise<void>[] = [];
  #messages = 0;
  #sessions = 0;
  #reconnects = 0;
  #resent = 0;
  #maxEchoMs = 0;
  readonly #closeCodes: Record<string, number> = {};
  readonly #open = new Set<WebSocket>();

  constructor(opts: WsLoadOptions) {
    this.#opts = { clients: 3, intervalMs: 200, timeoutMs: 20_000, ...opts };
  }

  start(): this {
    this.#running = true;
    for (let i = 0; i < this.#opts.clients; i++) this.#workers.push(this.#worker(i));
    return this;
  }

  /** Stops after each client's current message, closes the sockets (1000). Idempotent. */
  async stop(): Promise<WsSummary> {
    this.#running = false;
    await Promise.all(this.#workers);
    for (const ws of this.#open) ws.terminate();
    return this.summary();
  }

  summary(): WsSummary {
    const byKind: WsSummary['byKind'] = {};
    for (const f of this.failures) byKind[f.kind] = (byKind[f.kind] ?? 0) + 1;
    return {
      clients: this.#opts.clients,
      messages: this.#messages,
      sessions: this.#sessions,
      reconnects: this.#reconnects,
      closeCodes: { ...this.#closeCodes },
      resent: this.#resent,
      failed: this.failures.length,
      byKind,
      maxEchoMs: this.#maxEchoMs,
    };
  }

  async #worker(i: number): Promise<void> {
    let n = 0;
    let pending: string | undefined;
    while (this.#running) {
      const ws = await this.#connect();
      if (!ws) {
        await sleep(this.#opts.intervalMs);
        continue;
      }
      let closed: { code: number } | undefined;
      ws.once('close', (code) => {
        closed = { code };
        this.#open.delete(ws);
      });
      while (this.#running && !closed) {
        const text = pending ?? `client ${i} message ${++n} ${'x'.repeat(64)}`;
        pending = undefined;
        const r = await this.#roundTrip(ws, text);
        if (r === 'closed-before-send') {
          pending = text;
          break;
        }
        if (r === 'going-away') {
          this.#resent++;
          pending = text;
          break;
        }
        if (r !== 'ok') {
          this.failures.push({ at: Date.now(), kind: r.kind, detail: r.detail });
          break;
        }
        await sleep(this.#opts.intervalMs);
      }
      if (closed && this.#running) {
        this.#reconnects++;
        this.#closeCodes[String(closed.code)] = (this.#closeCodes[String(closed.code)] ?? 0) + 1;
      }
      if (!closed) {
        ws.close(1000);
        this.#open.delete(ws);
      }
    }
  }

  #connect(): Promise<WebSocket | undefined> {
    return new Promise((resolve) => {
      const ws = new WebSocket(this.#opts.url, { headers: { host: this.#opts.host }, handshakeTimeout: this.#opts.timeoutMs });
      ws.once('open', () => {
        this.#sessions++;
        this.#open.add(ws);
        resolve(ws);
      });
      ws.once('unexpected-response', (_req, res) => {
        this.failures.push({ at: Date.now(), kind: 'connect', detail: `upgrade answered ${res.statusCode}` });
        res.resume();
        ws.terminate();
        resolve(undefined);
      });
      ws.once('error', (err) => {
        if (ws.readyState === WebSocket.OPEN) return;
        this.failures.push({ at: Date.now(), kind: 'connect', detail: err.message });
        resolve(undefined);
      });
    });
  }

  #roundTrip(ws: WebSocket, text: string): Promise<'ok' | 'closed-before-send' | 'going-away' | { kind: WsFailureKind; detail: string }> {
    if (ws.readyState !== WebSocket.OPEN) return Promise.resolve('closed-before-send');
    return new Promise((resolve) => {
      const sent = Date.now();
      const done = (r: 'ok' | 'going-away' | { kind: WsFailureKind; detail: string }) => {
        clearTimeout(timer);
        ws.off('message', onMessage);
        ws.off('close', onClose);
        resolve(r);
      };
      const onMessage = (data: WebSocket.RawData) => {
        const echo = Buffer.isBuffer(data) ? data.toString() : Array.isArray(data) ? Buffer.concat(data).toString() : Buffer.from(data).toString();
        this.#maxEchoMs = Math.max(this.#maxEchoMs, Date.now() - sent);
        if (echo !== text) return done({ kind: 'corrupt', detail: `echo ${echo.slice(0, 40)}` });
        this.#messages++;
        done('ok');
      };
      const onClose = (code: number) => done(code === 1001 ? 'going-away' : { kind: 'lost', detail: `closed (${code}) with a message outstanding` });
      const timer = setTimeout(() => done({ kind: 'lost', detail: `no echo within ${this.#opts.timeoutMs} ms` }), this.#opts.timeoutMs);
      ws.on('message', onMessage);
      ws.once('close', onClose);
      ws.send(text);
    });
  }
}

/** ` ws: messages=… failed=… reconnects=… maxEchoMs=…` for a case line. */
export function wsLine(s: WsSummary): string {
  const kinds = Object.entries(s.byKind).map(([k, v]) => `${k}:${v}`).join(',');
  const codes = Object.entries(s.closeCodes).map(([k, v]) => `${k}x${v}`).join(',');
  return `ws: clients=${s.clients} messages=${s.messages} failed=${s.failed}${kinds ? ` (${kinds})` : ''} reconnects=${s.reconnects}${codes ? ` (close ${codes})` : ''} resent=${s.resent} maxEchoMs=${s.maxEchoMs}`;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
