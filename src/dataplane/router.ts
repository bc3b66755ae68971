import type { Service } from '../registry/service.ts';

interface RouteEntry {
  service: Service;
  host: string | undefined; // exact host, or the suffix of a wildcard (".example.com")
  wildcard: boolean;
  prefix: string | undefined;
}

/** What the router found: a service, or why there is none. */
export type RouteMatch = { service: Service } | { service: undefined; reason: string };

/**
 * Matches a request's Host and path to a service. Exact hosts beat wildcards, longer wildcard
 * suffixes beat shorter ones, host routes beat path-only routes, and within each the longest path
 * prefix wins. The default service (no hosts, no path) takes the rest; two defaults is a conflict.
 */
export class Router {
  #exact = new Map<string, RouteEntry[]>();
  #wildcards: RouteEntry[] = [];
  #pathOnly: RouteEntry[] = [];
  #default: Service | undefined;
  /** Human-readable routing conflicts, for logs and the admin status. */
  conflicts: string[] = [];

  /** `defaultService` names the service that takes unmatched requests (the defaultService setting). */
  constructor(services: Iterable<Service> = [], defaultService?: string) {
    const defaults: Service[] = [];
    let named: Service | undefined;
    for (const svc of services) {
      if (svc.name === defaultService) named = svc;
      const { hosts, pathPrefix } = svc.route;
      if (hosts.length === 0 && !pathPrefix) {
        defaults.push(svc);
        continue;
      }
      if (hosts.length === 0) {
        this.#pathOnly.push({ service: svc, host: undefined, wildcard: false, prefix: pathPrefix });
        continue;
      }
      for (const h of hosts) {
        if (h.startsWith('*.')) {
          this.#wildcards.push({ service: svc, host: h.slice(1), wildcard: true, prefix: pathPrefix });
        } else {
          let list = this.#exact.get(h);
          if (!list) this.#exact.set(h, (list = []));
          list.push({ service: svc, host: h, wildcard: false, prefix: pathPrefix });
        }
      }
    }
    const byPrefix = (a: RouteEntry, b: RouteEntry) => (b.prefix?.length ?? 0) - (a.prefix?.length ?? 0);
    for (const list of this.#exact.values()) list.sort(byPrefix);
    this.#wildcards.sort((a, b) => b.host!.length - a.host!.length || byPrefix(a, b));
    this.#pathOnly.sort(byPrefix);
    if (defaultService !== undefined) this.#default = named;
    else if (defaults.length === 1) this.#default = defaults[0];
    else if (defaults.length > 1) {
      this.conflicts.push(
        `services ${defaults.map((s) => s.name).join(', ')} all claim to be the default (no hosts, no path); none is used as default`,
      );
    }
    this.#findDuplicates();
  }

  get defaultService(): Service | undefined {
    return this.#default;
  }

  match(rawHost: string | undefined, path: string): RouteMatch {
    const host = normalizeHost(rawHost);
    if (host) {
      const exact = this.#exact.get(host);
      if (exact) {
        const e = firstByPrefix(exact, path);
        if (e) return { service: e.service };
      }
      for (const e of this.#wildcards) {
        if (host.endsWith(e.host!) && host.length > e.host!.length && prefixMatches(e.prefix, path)) {
          return { service: e.service };
        }
      }
    }
    const p = firstByPrefix(this.#pathOnly, path);
    if (p) return { service: p.service };
    if (this.#default) return { service: this.#default };
    return { service: undefined, reason: `no route for host "${host ?? ''}" and path "${path.split('?')[0]}"` };
  }

  #findDuplicates(): void {
    const seen = new Map<string, string>();
    const check = (key: string, svc: string) => {
      const other = seen.get(key);
      if (other && other !== svc) this.conflicts.push(`services ${other} and ${svc} both claim ${key}`);
      else seen.set(key, svc);
    };
    for (const [h, list] of this.#exact) for (const e of list) check(`${h}${e.prefix ?? ''}`, e.service.name);
    for (const e of this.#wildcards) check(`*${e.host}${e.prefix ?? ''}`, e.service.name);
    for (const e of this.#pathOnly) check(`${e.prefix}`, e.service.name);
  }
}

function firstByPrefix(list: readonly RouteEntry[], path: string): RouteEntry | undefined {
  for (const e of list) if (prefixMatches(e.prefix, path)) return e;
  return undefined;
}

/** `/api` matches `/api`, `/api/x` and `/api?q`, never `/apix`. */
export function prefixMatches(prefix: string | undefined, path: string): boolean {
  if (!prefix || prefix === '/') return true;
  if (!path.startsWith(prefix)) return false;
  const next = path.charCodeAt(prefix.length);
  return Number.isNaN(next) || next === 47 /* / */ || next === 63 /* ? */;
}

/** Lowercase host without port; IPv6 literals keep their brackets off. */
export function normalizeHost(raw: string | undefined): string | undefined {
  if (!raw) return undefined;
  let h = raw.trim().toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    return end > 0 ? h.slice(1, end) : h;
  }
  const colon = h.indexOf(':');
  if (colon >= 0) h = h.slice(0, colon);
  if (h.endsWith('.')) h = h.slice(0, -1);
  return h || undefined;
}
