import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { normalizeHost } from '../dataplane/router.ts';
import { BluegreenError } from '../errors.ts';
import { isLoopbackHost } from './binding.ts';

/**
 * Who may use the admin API.
 * - With a token: every API and metrics request carries `Authorization: Bearer <token>`, never a
 *   cookie, so a browser cannot be tricked into sending it. Compared in constant time, on hashes
 *   so that the length of the token does not leak either.
 * - Without a token (loopback only): the Host header must be a loopback name, so a web page that
 *   rebinds its own DNS name to 127.0.0.1 cannot reach the API.
 * - Always: a request from a browser page of another origin (Origin, or Sec-Fetch-Site) is refused.
 */
export class AdminAuth {
  readonly #tokenHash: Buffer | undefined;

  constructor(token: string | undefined) {
    this.#tokenHash = token ? sha256(token) : undefined;
  }

  get tokenRequired(): boolean {
    return this.#tokenHash !== undefined;
  }

  /** Throws UNAUTHORIZED or FORBIDDEN; `needsToken` is false for the static dashboard files. */
  check(req: IncomingMessage, needsToken: boolean): void {
    if (this.#tokenHash) {
      if (needsToken && !this.#validBearer(req.headers.authorization)) {
        throw new BluegreenError('UNAUTHORIZED', 'a valid "Authorization: Bearer <token>" header is required');
      }
    } else {
      const host = normalizeHost(req.headers.host);
      if (!host || !isLoopbackHost(host)) {
        throw new BluegreenError('FORBIDDEN', `Host ${JSON.stringify(req.headers.host ?? '')} is not a loopback name; without an admin token only loopback names are served`);
      }
    }
    assertSameOrigin(req);
  }

  #validBearer(header: string | undefined): boolean {
    const m = header ? /^Bearer[ ]+(\S+)\s*$/i.exec(header) : null;
    if (!m || !this.#tokenHash) return false;
    return timingSafeEqual(sha256(m[1]!), this.#tokenHash);
  }
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/** Refuses requests made by a page of another origin (cross-site request forgery). */
export function assertSameOrigin(req: IncomingMessage): void {
  const origin = req.headers.origin;
  if (origin !== undefined) {
    let host: string | undefined;
    try {
      host = origin === 'null' ? undefined : new URL(origin).host;
    } catch {
      host = undefined;
    }
    if (!host || host.toLowerCase() !== (req.headers.host ?? '').toLowerCase()) {
      throw new BluegreenError('FORBIDDEN', `requests from origin ${origin} are refused`);
    }
    return;
  }
  const site = req.headers['sec-fetch-site'];
  if (site === 'cross-site' || site === 'same-site') {
    throw new BluegreenError('FORBIDDEN', 'requests from another site are refused');
  }
}
