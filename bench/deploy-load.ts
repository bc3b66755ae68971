// The deploy benchmark's load: the same mixed shape for every proxy, for the whole run.
//   - GET workers (keep-alive), back to back
//   - 8 KiB POST workers and 1 MiB POST workers (the echo's byte count and sha256 are checked)
//   - slow workers: GET ?delay=2000
//   - long-lived WebSockets, each sending a message every 100 ms and expecting its echo; a
//     WebSocket that ends without a close frame (or fails its handshake) is "dropped", one ended
//     by a close frame is "closed" (counted separately); either way it reconnects at once.
// Every outcome is kept as a Sample so the report can split steady state from deploy windows.
// Adapted from test/e2e/support/load.ts (not imported: that file belongs to the tests).
import { createHash, randomBytes } from 'node:crypto';
import { Agent, request } from 'undici';
import WebSocket from 'ws';

export type Kind = 'get' | 'post8k' | 'post1m' | 'slow';
export type FailureKind = '5xx' | 'reset' | 'timeout' | 'other';

export interface Sample {
  kind: Kind;
  start: number;
  end: number;
  status: number;
  /** VERSION of the app that answered ('' on failure). */
  version: string;
  failure?: FailureKind;
  detail?: string;
}

export interface WsEvent {
  t: number;
  type: 'dropped' | 'closed';
  /** The close code the client saw (1006: no close frame; 0: the handshake failed). */
  code: number;
  detail: string;
}

export interface LoadShape {
  get: number;
  post8k: number;
  post1m: number;
  slow: number;
  websockets: number;
}

export const DEFAULT_SHAPE: LoadShape = { get: 4, post8k: 2, post1m: 1, slow: 2, websockets: 3 };
export const SLOW_MS = 2000;
const TIMEOUT_MS = 15_000;
const WS_INTERVAL_MS = 100;

export class DeployLoad {
  readonly samples: Sample[] = [];
  readonly wsEvents: WsEvent[] = [];
  wsMessagesSent = 0;
  wsMessagesEchoed = 0;
  /** Messages sent on a WebSocket that ended before their echo came back. */
  wsMessagesLost = 0;
  readonly #url: string;
  readonly #host: string;
  readonly #shape: LoadShape;
  readonly #agent: Agent;
  readonly #pauseMs: number;
  readonly #bodies: Record<'post8k' | 'post1m', { body: Buffer; sha: string }>;
  #running = false;
  #workers: Promise<void>[] = [];

  /** `pauseMs`: each HTTP worker waits this long between two requests (default 0: back to back). */
  constructor(url: string, host: string, shape: LoadShape = DEFAULT_SHAPE, opts: { pauseMs?: number } = {}) {
    this.#url = url;
    this.#host = host;
    this.#shape = shape;
    this.#pauseMs = opts.pauseMs ?? 0;
    this.#agent = new Agent({ connections: 64, keepAliveTimeout: 4_000, headersTimeout: TIMEOUT_MS, bodyTimeout: TIMEOUT_MS });
    const mk = (n: number): { body: Buffer; sha: string } => {
      const body = randomBytes(n);
      return { body, sha: createHash('sha256').update(body).digest('hex') };
    };
    this.#bodies = { post8k: mk(8 * 1024), post1m: mk(1024 * 1024) };
  }

  start(): this {
    this.#running = true;
    const add = (kind: Kind, n: number): void => {
      for (let i = 0; i < n; i++) this.#workers.push(this.#httpWorker(kind, i));
    };
    add('get', this.#shape.get);
    add('post8k', this.#shape.post8k);
    add('post1m', this.#shape.post1m);
    add('slow', this.#shape.slow);
    for (let i = 0; i < this.#shape.websockets; i++) this.#workers.push(this.#wsWorker(i));
    return this;
  }

  async stop(): Promise<void> {
    this.#running = false;
    await Promise.all(this.#workers);
    await this.#agent.close();
  }

  async #httpWorker(kind: Kind, i: number): Promise<void> {
    let n = 0;
    while (this.#running) {
      this.samples.push(await this.#send(kind, `/${kind}/${i}/${n++}`));
      if (this.#pauseMs > 0 && this.#running) await new Promise((r) => setTimeout(r, this.#pauseMs));
    }
  }

  async #send(kind: Kind, path: string): Promise<Sample> {
    const start = Date.now();
    const s: Sample = { kind, start, end: start, status: 0, version: '' };
    const post = kind === 'post8k' || kind === 'post1m' ? this.#bodies[kind] : undefined;
    try {
      const res = await request(`${this.#url}${path}${kind === 'slow' ? `?delay=${SLOW_MS}` : ''}`, {
        method: post ? 'POST' : 'GET',
        dispatcher: this.#agent,
        headers: { host: this.#host, ...(post ? { 'content-type': 'application/octet-stream' } : {}) },
        body: post?.body,
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
      const text = await res.body.text();
      s.status = res.statusCode;
      if (res.statusCode < 200 || res.statusCode >= 300) {
        s.failure = res.statusCode >= 500 ? '5xx' : 'other';
        s.detail = `${res.statusCode} ${text.slice(0, 120)}`;
      } else {
        const body = JSON.parse(text) as { version?: string; bytes?: number; sha256?: string };
        s.version = body.version ?? '';
        if (post && (body.bytes !== post.body.length || body.sha256 !== post.sha)) {
          s.failure = 'other';
          s.detail = `corrupt echo: ${body.bytes} bytes`;
        }
      }
    } catch (err) {
      const e = err as Error & { code?: string; cause?: { code?: string } };
      const code = e.code ?? e.cause?.code ?? e.name;
      // AbortSignal.timeout() rejects with a DOMException whose code is a number (23): test the name too.
      s.failure = /TIMEOUT|AbortError|TimeoutError/i.test(`${code} ${e.name}`)
        ? 'timeout'
        : /SOCKET|ECONNRESET|EPIPE|CLOSED|ECONNREFUSED/i.test(code)
          ? 'reset'
          : 'other';
      s.detail = `${code}: ${e.message}`;
    }
    s.end = Date.now();
    return s;
  }

  async #wsWorker(i: number): Promise<void> {
    while (this.#running) {
      await this.#wsSession(i);
      if (this.#running) await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** One WebSocket, until it ends or the load stops. */
  #wsSession(i: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const ws = new WebSocket(`${this.#url.replace(/^http/, 'ws')}/ws`, { headers: { host: this.#host }, handshakeTimeout: TIMEOUT_MS });
      let pending = 0;
      let n = 0;
      let opened = false;
      let stopping = false;
      let timer: NodeJS.Timeout | undefined;
      let errText = '';
      const tick = (): void => {
        if (!this.#running) {
          stopping = true;
          clearInterval(timer);
          ws.close(1000, 'bench done');
          return;
        }
        if (ws.readyState !== WebSocket.OPEN) return;
        ws.send(`ws ${i} message ${n++}`);
        pending++;
        this.wsMessagesSent++;
      };
      ws.on('open', () => {
        opened = true;
        timer = setInterval(tick, WS_INTERVAL_MS);
      });
      ws.on('message', () => {
        if (pending > 0) pending--;
        this.wsMessagesEchoed++;
      });
      ws.on('error', (err) => {
        errText = err.message;
      });
      ws.on('close', (code, reason) => {
        clearInterval(timer);
        this.wsMessagesLost += pending;
        if (!stopping) {
          // 1005 = a close frame without a code; 1006 = no close frame at all (abnormal).
          const clean = opened && code !== 1006;
          this.wsEvents.push({
            t: Date.now(),
            type: clean ? 'closed' : 'dropped',
            code: opened ? code : 0,
            detail: opened ? `code ${code} ${reason.toString()} ${errText}`.trim() : `handshake failed: ${errText}`,
          });
        }
        resolve();
      });
    });
  }
}
