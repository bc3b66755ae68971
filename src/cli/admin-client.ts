/** The admin API answered with an error: `{code, message}` and its HTTP status. */
export class AdminApiError extends Error {
  readonly code: string;
  readonly status: number;
  /** The whole JSON answer (GET /api/wait adds fields beyond code and message). */
  readonly body: unknown;
  constructor(code: string, message: string, status: number, body?: unknown) {
    super(message);
    this.code = code;
    this.status = status;
    this.body = body;
    this.name = 'AdminApiError';
  }
}

/** Per-call options: a longer answer time (GET /api/wait) and cancellation. */
export interface CallOptions {
  /** How long the answer may take (default 10 s). */
  timeoutMs?: number;
  signal?: AbortSignal | undefined;
}

/** Nothing (or something that is not a bluegreen admin API) answered at the admin URL. */
export class AdminUnreachableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AdminUnreachableError';
  }
}

export const DEFAULT_ADMIN_URL = 'http://127.0.0.1:9901';
const TIMEOUT_MS = 10_000;

/** A small JSON client for the admin API, used by the CLI commands. */
export class AdminClient {
  readonly base: URL;
  readonly #token: string | undefined;

  /** Throws TypeError when `base` is not an http(s) URL. */
  constructor(base: string, token: string | undefined) {
    const url = new URL(base.includes('://') ? base : `http://${base}`);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError(`admin URL ${base} is not http(s)`);
    this.base = url;
    this.#token = token || undefined;
  }

  get<T>(path: string, opts: CallOptions = {}): Promise<T> {
    return this.#call<T>('GET', path, undefined, opts);
  }

  post<T>(path: string, body: Record<string, unknown> = {}): Promise<T> {
    return this.#call<T>('POST', path, body);
  }

  async #call<T>(method: string, path: string, body: Record<string, unknown> | undefined, opts: CallOptions = {}): Promise<T> {
    const timeoutMs = opts.timeoutMs ?? TIMEOUT_MS;
    const url = new URL(path.replace(/^\//, ''), this.base.href.endsWith('/') ? this.base : `${this.base.href}/`);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.#token) headers.authorization = `Bearer ${this.#token}`;
    if (body) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      const timeout = AbortSignal.timeout(timeoutMs);
      const signal = opts.signal ? AbortSignal.any([timeout, opts.signal]) : timeout;
      res = await fetch(url, { method, headers, body: body && JSON.stringify(body), signal });
    } catch (err) {
      if (opts.signal?.aborted) throw err;
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      const why = (err as Error).name === 'TimeoutError' ? `no answer within ${timeoutMs / 1000} s` : (cause?.code ?? cause?.message ?? (err as Error).message);
      throw new AdminUnreachableError(`cannot reach the admin API at ${this.base.origin}: ${why}`, { cause: err });
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new AdminUnreachableError(`${this.base.origin} answered ${method} ${url.pathname} with HTTP ${res.status} and no JSON: is it a bluegreen admin API?`);
    }
    if (!res.ok) {
      const e = json as { code?: unknown; message?: unknown };
      throw new AdminApiError(String(e.code ?? `HTTP_${res.status}`), String(e.message ?? res.statusText), res.status, json);
    }
    return json as T;
  }
}
