import type { ServerResponse } from 'node:http';
import type { Registry, RegistryEvents } from '../registry/registry.ts';

/** At most one snapshot per this many ms, however many registry events arrive. */
export const COALESCE_MS = 100;
/** Counters (in-flight, requests, held) change without registry events: look this often. */
const POLL_MS = 1_000;
/** A comment line that keeps idle connections (and proxies in between) from timing out. */
const HEARTBEAT_MS = 15_000;

const EVENTS: readonly (keyof RegistryEvents)[] = ['upstream-added', 'upstream-state', 'upstream-removed', 'service-changed', 'routes-changed'];

interface Client {
  res: ServerResponse;
  /** The last snapshot this client was sent, to skip repeats and catch up after backpressure. */
  sent: string;
}

/**
 * `GET /api/events`: a server-sent event stream of status snapshots. One snapshot on connect,
 * then one after registry events (coalesced to one per COALESCE_MS), one when polled counters
 * changed, and a heartbeat comment. Listens to the registry only while someone is connected.
 */
export class StatusFeed {
  readonly #registry: Registry;
  readonly #snapshot: () => unknown;
  readonly #clients = new Set<Client>();
  #timer: NodeJS.Timeout | undefined;
  #poll: NodeJS.Timeout | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  #lastFlush = 0;
  readonly #onEvent = () => this.#schedule();

  constructor(registry: Registry, snapshot: () => unknown) {
    this.#registry = registry;
    this.#snapshot = snapshot;
  }

  get clients(): number {
    return this.#clients.size;
  }

  add(res: ServerResponse): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-accel-buffering': 'no',
    });
    res.socket?.setNoDelay(true);
    const client: Client = { res, sent: '' };
    this.#clients.add(client);
    if (this.#clients.size === 1) this.#start();
    res.write('retry: 2000\n\n');
    this.#send(client, JSON.stringify(this.#snapshot()));
    res.on('drain', () => this.#send(client, JSON.stringify(this.#snapshot())));
    res.once('close', () => {
      this.#clients.delete(client);
      if (this.#clients.size === 0) this.#stop();
    });
  }

  close(): void {
    for (const c of this.#clients) c.res.end();
    this.#clients.clear();
    this.#stop();
  }

  #start(): void {
    for (const e of EVENTS) this.#registry.on(e, this.#onEvent);
    this.#poll = setInterval(this.#onEvent, POLL_MS);
    this.#heartbeat = setInterval(() => {
      for (const c of this.#clients) if (!c.res.writableNeedDrain) c.res.write(`: heartbeat ${new Date().toISOString()}\n\n`);
    }, HEARTBEAT_MS);
    this.#poll.unref();
    this.#heartbeat.unref();
  }

  #stop(): void {
    for (const e of EVENTS) this.#registry.off(e, this.#onEvent);
    clearInterval(this.#poll);
    clearInterval(this.#heartbeat);
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #schedule(): void {
    if (this.#timer) return;
    const wait = Math.max(0, this.#lastFlush + COALESCE_MS - Date.now());
    this.#timer = setTimeout(() => this.#flush(), wait);
    this.#timer.unref();
  }

  #flush(): void {
    this.#timer = undefined;
    this.#lastFlush = Date.now();
    if (this.#clients.size === 0) return;
    const json = JSON.stringify(this.#snapshot());
    for (const c of this.#clients) this.#send(c, json);
  }

  #send(c: Client, json: string): void {
    if (json === c.sent || c.res.writableNeedDrain || c.res.destroyed) return;
    c.sent = json;
    c.res.write(`event: status\ndata: ${json}\n\n`);
  }
}
