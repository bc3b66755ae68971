import type { AddressInfo } from 'node:net';
import { AdminServer, type AdminServerOptions } from '../../src/control/admin-server.ts';
import type { Proxy } from '../../src/proxy.ts';
import { silentLogger, startProxy } from '../support/servers.ts';
import type { DataPlaneOptions } from '../../src/dataplane/options.ts';

export interface AdminHarness {
  proxy: Proxy;
  /** The proxy's client URL. */
  url: string;
  admin: AdminServer;
  /** The admin API's base URL, e.g. http://127.0.0.1:40123 */
  adminUrl: string;
  close(): Promise<void>;
}

/** An in-process proxy on loopback port 0 with an AdminServer beside it, also on port 0. */
export async function startAdmin(
  opts: Partial<Pick<AdminServerOptions, 'token' | 'discovery' | 'configStatus'>> & { dataPlane?: Partial<DataPlaneOptions>; drainMs?: number } = {},
): Promise<AdminHarness> {
  const { proxy, url } = await startProxy(opts.dataPlane, opts.drainMs);
  const admin = new AdminServer({
    registry: proxy.registry,
    dataPlane: proxy.dataPlane,
    logger: silentLogger,
    token: opts.token,
    discovery: opts.discovery,
    configStatus: opts.configStatus,
  });
  const a: AddressInfo = await admin.listen({ host: '127.0.0.1', port: 0 });
  return {
    proxy,
    url,
    admin,
    adminUrl: `http://127.0.0.1:${a.port}`,
    close: async () => {
      await admin.close();
      await proxy.stop(100);
    },
  };
}

/** fetch + JSON for the admin API. */
export async function api(
  base: string,
  path: string,
  init: { method?: string; body?: unknown; token?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; json: any; headers: Headers }> {
  const headers: Record<string, string> = { ...init.headers };
  if (init.token) headers.authorization = `Bearer ${init.token}`;
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(base + path, {
    method: init.method ?? (init.body !== undefined ? 'POST' : 'GET'),
    headers,
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined, headers: res.headers };
}

/** The value of one sample in Prometheus text, or undefined. Labels must match exactly (any order). */
export function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got: Record<string, string> = {};
    for (const p of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) got[p[1]!] = p[2]!;
    const keys = Object.keys(labels);
    if (Object.keys(got).length !== keys.length) continue;
    if (keys.every((k) => got[k] === labels[k])) return Number(m[3]);
  }
  return undefined;
}
