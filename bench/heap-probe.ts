// The V8 heap a process really keeps: heap used right after a full garbage collection, asked for
// through the process's inspector (it runs with `--inspect=127.0.0.1:0`). Sampled heap sizes carry
// garbage that has not been collected yet (young objects, and promoted ones until the next major
// GC), which moves the least sample of a window by several MiB; this does not.
import WebSocket from 'ws';

/** The inspector's WebSocket URL from the process's stderr (the last one: the proxy re-executes itself). */
export function inspectorUrl(stderr: string): string | undefined {
  const all = [...stderr.matchAll(/Debugger listening on (ws:\/\/\S+)/g)];
  return all.at(-1)?.[1];
}

export class HeapProbe {
  readonly #ws: WebSocket;
  #id = 0;
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.on('message', (data: Buffer) => {
      const m = JSON.parse(data.toString()) as { id?: number; result?: unknown; error?: { message: string } };
      const p = m.id === undefined ? undefined : this.#pending.get(m.id);
      if (!p) return;
      this.#pending.delete(m.id!);
      if (m.error) p.reject(new Error(m.error.message));
      else p.resolve(m.result);
    });
    ws.on('close', () => {
      for (const p of this.#pending.values()) p.reject(new Error('inspector connection closed'));
      this.#pending.clear();
    });
  }

  static connect(url: string, timeoutMs = 5000): Promise<HeapProbe> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { handshakeTimeout: timeoutMs });
      ws.once('open', () => resolve(new HeapProbe(ws)));
      ws.once('error', reject);
    });
  }

  #call(method: string, params: Record<string, unknown> = {}, timeoutMs = 10_000): Promise<unknown> {
    const id = ++this.#id;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`inspector: no answer to ${method} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.#ws.send(JSON.stringify({ id, method, params }));
    });
  }

  /** Bytes of V8 heap in use right after a full collection. */
  async usedAfterGc(): Promise<number> {
    await this.#call('HeapProfiler.collectGarbage');
    const r = (await this.#call('Runtime.evaluate', { expression: 'process.memoryUsage().heapUsed', returnByValue: true })) as { result?: { value?: unknown } };
    const v = Number(r.result?.value);
    if (!Number.isFinite(v)) throw new Error(`inspector: unexpected answer ${JSON.stringify(r)}`);
    return v;
  }

  close(): void {
    this.#ws.close();
  }
}
