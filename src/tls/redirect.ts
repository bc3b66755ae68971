import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';

// tls.redirectHttp: the plain-HTTP listener answers every request (upgrades too) with
// 308 Permanent Redirect to the same host and path over HTTPS, on the TLS listener's port
// (left out when it is 443). 308 keeps the method and body, unlike 301.

const HOST = /^(\[[0-9a-f:.]+\]|[a-z0-9_.-]+)(?::\d{1,5})?$/i;

/** The https:// URL for a plain request, or undefined when its Host header is missing or not a host. */
export function httpsLocation(req: IncomingMessage, httpsPort: number): string | undefined {
  const m = HOST.exec(req.headers.host ?? '');
  if (!m) return undefined;
  const url = req.url ?? '/';
  let path = '/';
  if (url.startsWith('/')) path = url;
  else if (url !== '*') {
    try {
      const u = new URL(url); // absolute-form request target
      path = u.pathname + u.search;
    } catch {
      path = '/';
    }
  }
  // Bytes the parser let through that a header value may not hold are percent-encoded.
  path = path.replace(/[^\x21-\x7e]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
  return `https://${m[1]}${httpsPort === 443 ? '' : `:${httpsPort}`}${path}`;
}

export interface RedirectHandlers {
  request: (req: IncomingMessage, res: ServerResponse) => void;
  upgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
}

/** Request and upgrade handlers that redirect to HTTPS; `httpsPort` is read per request (the TLS listener's bound port). */
export function httpsRedirect(httpsPort: () => number): RedirectHandlers {
  return {
    request(req, res) {
      req.resume();
      const location = httpsLocation(req, httpsPort());
      const body = location ? `redirecting to ${location}\n` : 'bad request: no valid Host header to redirect to\n';
      res.writeHead(location ? 308 : 400, {
        'content-type': 'text/plain; charset=utf-8',
        'content-length': Buffer.byteLength(body),
        ...(location ? { location } : {}),
      });
      res.end(body);
    },
    upgrade(req, socket) {
      socket.on('error', () => {});
      const location = httpsLocation(req, httpsPort());
      socket.end(
        location
          ? `HTTP/1.1 308 Permanent Redirect\r\nLocation: ${location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`
          : 'HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n',
      );
    },
  };
}
