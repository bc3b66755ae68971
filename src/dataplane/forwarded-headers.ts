import { BlockList, isIP } from 'node:net';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';

/** Headers that describe one connection, never forwarded (RFC 9110 §7.6.1), plus `expect`. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'expect',
  'http2-settings',
]);
const FORWARDED = new Set(['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host']);
/**
 * Client-address headers we do not set ourselves: passed on from a trusted proxy, dropped from
 * anyone else (an app reading them must not be fooled by what a client wrote).
 */
const FROM_TRUSTED_ONLY = new Set(['forwarded', 'x-real-ip']);

/** Which client addresses may extend the X-Forwarded-* chain (CIDRs or single addresses). */
export class TrustedProxies {
  readonly #list = new BlockList();
  readonly #any: boolean;

  constructor(cidrs: readonly string[]) {
    this.#any = cidrs.length > 0;
    for (const c of cidrs) {
      const [addr, bits] = c.split('/');
      const family = isIP(addr ?? '') === 6 ? 'ipv6' : 'ipv4';
      if (!isIP(addr ?? '')) throw new Error(`trusted proxy ${JSON.stringify(c)} is not an address or CIDR`);
      if (bits === undefined) this.#list.addAddress(addr!, family);
      else this.#list.addSubnet(addr!, Number(bits), family);
    }
  }

  trusts(address: string | undefined): boolean {
    if (!this.#any || !address) return false;
    const plain = address.startsWith('::ffff:') ? address.slice(7) : address;
    const family = isIP(plain) === 6 ? 'ipv6' : 'ipv4';
    return this.#list.check(plain, family);
  }
}

function connectionTokens(value: string | string[] | undefined): Set<string> | undefined {
  if (!value) return undefined;
  const s = Array.isArray(value) ? value.join(',') : value;
  const out = new Set<string>();
  for (const t of s.split(',')) {
    const v = t.trim().toLowerCase();
    if (v && v !== 'close' && v !== 'keep-alive') out.add(v);
  }
  return out.size ? out : undefined;
}

/**
 * The header list sent upstream, as a flat [name, value, ...] array: the client's headers without
 * hop-by-hop ones, Host preserved, X-Forwarded-For/-Proto/-Host set by us (the client's values kept
 * and extended only when it is a trusted proxy); Forwarded and X-Real-IP only from a trusted proxy.
 */
export function upstreamRequestHeaders(req: IncomingMessage, tls: boolean, trusted: TrustedProxies): string[] {
  const raw = req.rawHeaders;
  const extra = connectionTokens(req.headers.connection);
  const trust = trusted.trusts(req.socket.remoteAddress);
  const out: string[] = [];
  let wantsTrailers = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower)) {
      if (lower === 'te' && /(^|,)\s*trailers\s*(,|$)/i.test(raw[i + 1]!)) wantsTrailers = true;
      continue;
    }
    if (FORWARDED.has(lower) || extra?.has(lower)) continue;
    if (!trust && FROM_TRUSTED_ONLY.has(lower)) continue;
    out.push(name, raw[i + 1]!);
  }
  if (wantsTrailers) out.push('te', 'trailers');
  const client = req.socket.remoteAddress?.replace(/^::ffff:/, '') ?? '';
  const h = req.headers;
  const priorFor = trust ? joinHeader(h['x-forwarded-for']) : undefined;
  out.push('x-forwarded-for', priorFor ? `${priorFor}, ${client}` : client);
  out.push('x-forwarded-proto', (trust && firstValue(h['x-forwarded-proto'])) || (tls ? 'https' : 'http'));
  const fwdHost = (trust && firstValue(h['x-forwarded-host'])) || h.host;
  if (fwdHost) out.push('x-forwarded-host', fwdHost);
  return out;
}

/** Prepares an upgrade request's headers for http-proxy-3 (which appends X-Forwarded-* itself). */
export function scrubUntrustedForwarded(req: IncomingMessage, trusted: TrustedProxies): void {
  if (trusted.trusts(req.socket.remoteAddress)) return;
  for (const k of FORWARDED) delete req.headers[k];
  for (const k of FROM_TRUSTED_ONLY) delete req.headers[k];
}

/** The upstream's response headers without hop-by-hop ones. */
export function clientResponseHeaders(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const extra = connectionTokens(headers.connection);
  const out: IncomingHttpHeaders = {};
  for (const k in headers) {
    if (k === 'trailer') {
      out[k] = headers[k];
      continue;
    }
    if (HOP_BY_HOP.has(k) || extra?.has(k)) continue;
    out[k] = headers[k];
  }
  return out;
}

function joinHeader(v: string | string[] | undefined): string | undefined {
  if (v === undefined) return undefined;
  return Array.isArray(v) ? v.join(', ') : v;
}

function firstValue(v: string | string[] | undefined): string | undefined {
  const s = Array.isArray(v) ? v[0] : v;
  return s?.split(',')[0]?.trim() || undefined;
}
