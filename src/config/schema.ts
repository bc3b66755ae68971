import { isIP } from 'node:net';
import * as z from 'zod';
import type { ListenAddress } from '../dataplane/listener.ts';
import { tryParseDuration, tryParseSize } from './units.ts';

// The whole settings model: every key, its default, its documentation, and a zod schema that turns
// what people write (YAML, env, flags) into typed values: durations become milliseconds, sizes bytes,
// addresses { host, port }. `SETTINGS` is the one table that docs, env names, flags and the restart
// rule are generated from; `settingsSchema` validates a whole settings object with those defaults.

/** How a value is written; decides env/flag conversion (env and flags are always text). */
export type SettingKind = 'duration' | 'size' | 'int' | 'bool' | 'string' | 'address' | 'enum' | 'list';

export interface SettingDoc {
  kind: SettingKind;
  /** Default as written in YAML; undefined when the key is unset by default. */
  default: string | number | boolean | readonly string[] | undefined;
  /** True when a change takes effect only after a restart (listeners, discovery). */
  restart: boolean;
  /** Command-line flag, without `--`. `no-docker` sets false. */
  flag: string;
  /** Placeholder for the flag's value in help text; absent for boolean flags. */
  arg?: string;
  doc: string;
}

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Every setting by key path (YAML keys in camelCase; nested keys joined with '.'). */
export const SETTINGS = {
  listen: {
    kind: 'address', default: '0.0.0.0:8080', restart: true, flag: 'listen', arg: 'HOST:PORT',
    doc: 'Client (HTTP) listener.',
  },
  'admin.listen': {
    kind: 'address', default: '127.0.0.1:9901', restart: true, flag: 'admin', arg: 'HOST:PORT',
    doc: 'Admin API, metrics and dashboard listener. On a non-loopback address admin.token is required.',
  },
  'admin.token': {
    kind: 'string', default: undefined, restart: false, flag: 'admin-token', arg: 'TOKEN',
    doc: 'Bearer token the admin API requires (required unless admin.listen is a loopback address).',
  },
  holdTimeout: {
    kind: 'duration', default: '30s', restart: false, flag: 'hold-timeout', arg: 'DURATION',
    doc: 'Longest a request waits for a ready upstream before a 503.',
  },
  holdQueueSize: {
    kind: 'int', default: 10_000, restart: true, flag: 'hold-queue-size', arg: 'N',
    doc: 'Requests that may wait at once, per service (beyond that: 503 at once).',
  },
  retryBufferSize: {
    kind: 'size', default: '1MiB', restart: false, flag: 'retry-buffer-size', arg: 'SIZE',
    doc: 'Request bodies up to this size are buffered so a failed attempt can be replayed on another upstream.',
  },
  failDuration: {
    kind: 'duration', default: '2s', restart: false, flag: 'fail-duration', arg: 'DURATION',
    doc: 'After a connect failure, the upstream is tried last for this long.',
  },
  connectTimeout: {
    kind: 'duration', default: '5s', restart: false, flag: 'connect-timeout', arg: 'DURATION',
    doc: 'Longest wait for a TCP connection to an upstream (new connection pools).',
  },
  headersTimeout: {
    kind: 'duration', default: '60s', restart: false, flag: 'headers-timeout', arg: 'DURATION',
    doc: "Longest wait for an upstream's response headers, then 504 (new connection pools).",
  },
  idleTimeout: {
    kind: 'duration', default: '60s', restart: false, flag: 'idle-timeout', arg: 'DURATION',
    doc: "Longest silence between two chunks of an upstream's response body (new connection pools).",
  },
  upstreamKeepAlive: {
    kind: 'duration', default: '4s', restart: false, flag: 'upstream-keep-alive', arg: 'DURATION',
    doc: 'Idle keep-alive time of connections to upstreams (new connection pools).',
  },
  connectionsPerUpstream: {
    kind: 'int', default: 256, restart: false, flag: 'connections-per-upstream', arg: 'N',
    doc: 'Most connections open to one upstream (new connection pools).',
  },
  expectContinueTimeout: {
    kind: 'duration', default: '1s', restart: false, flag: 'expect-continue-timeout', arg: 'DURATION',
    doc: "A request whose body must not be sent twice (POST, PATCH, a body above retryBufferSize) goes upstream with `Expect: 100-continue`; if the connection breaks before the 100, it is sent to another upstream. Longest wait for the 100 before the body goes anyway (an upstream that never answered 100 is then sent requests without Expect); 0: never send Expect.",
  },
  clientKeepAlive: {
    kind: 'duration', default: '5s', restart: false, flag: 'client-keep-alive', arg: 'DURATION',
    doc: 'Idle keep-alive time of client connections (0 closes after each response).',
  },
  'limits.maxConnections': {
    kind: 'int', default: 16_384, restart: false, flag: 'max-connections', arg: 'N',
    doc: 'Client connections each listener serves at once. Above it a new connection gets 503 with Connection: close (TLS: closed before the handshake); beyond twice it, connections are closed at accept. Open connections keep being served.',
  },
  'limits.maxHeaderSize': {
    kind: 'size', default: '16KiB', restart: false, flag: 'max-header-size', arg: 'SIZE',
    doc: "Bytes of a request's line and header fields together; more: 431 (414 when the request line alone overflows) and the connection closed.",
  },
  'limits.maxHeaderCount': {
    kind: 'int', default: 100, restart: false, flag: 'max-header-count', arg: 'N',
    doc: 'Header fields in one request; more: 431 and the connection closed.',
  },
  'limits.maxUrlLength': {
    kind: 'size', default: '8KiB', restart: false, flag: 'max-url-length', arg: 'SIZE',
    doc: 'Bytes of a request target (path and query); longer: 414 and the connection closed.',
  },
  'limits.headerTimeout': {
    kind: 'duration', default: '10s', restart: false, flag: 'client-header-timeout', arg: 'DURATION',
    doc: "Longest a client may take to send a request's line and headers, from its first byte (slowloris); then 408 and the connection closed. Also bounds TLS handshakes (the value at start).",
  },
  'limits.bodyIdleTimeout': {
    kind: 'duration', default: '30s', restart: false, flag: 'client-body-timeout', arg: 'DURATION',
    doc: "Longest silence between two bytes of a client's request body; then 408 (a cut connection once the response has begun) and the connection closed.",
  },
  shutdownGrace: {
    kind: 'duration', default: '30s', restart: false, flag: 'shutdown-grace', arg: 'DURATION',
    doc: 'On SIGTERM, how long in-flight requests may finish before they are aborted.',
  },
  shutdownIdleClose: {
    kind: 'duration', default: undefined, restart: false, flag: 'shutdown-idle-close', arg: 'DURATION',
    doc: 'On SIGTERM, an idle keep-alive client connection is closed once it has been idle this long (a request that comes first is answered with Connection: close). Default: clientKeepAlive, the idle time advertised to clients in Keep-Alive: timeout=N, so no client that honours it is racing the close.',
  },
  defaultDrainTimeout: {
    kind: 'duration', default: '10s', restart: true, flag: 'default-drain-timeout', arg: 'DURATION',
    doc: 'Drain deadline of an upstream that names none (a bluegreen.drain-timeout label names one).',
  },
  defaultService: {
    kind: 'string', default: undefined, restart: false, flag: 'default-service', arg: 'SERVICE',
    doc: 'Service that gets requests no route matches (otherwise: the one service without hosts and path).',
  },
  logLevel: {
    kind: 'enum', default: 'info', restart: false, flag: 'log-level', arg: 'LEVEL',
    doc: `Log level: ${LOG_LEVELS.join(', ')}.`,
  },
  accessLog: {
    kind: 'bool', default: false, restart: false, flag: 'access-log',
    doc: 'Log one line per request.',
  },
  trustedProxies: {
    kind: 'list', default: [], restart: false, flag: 'trusted-proxy', arg: 'CIDR',
    doc: 'Client addresses (CIDRs or single addresses) whose X-Forwarded-* headers are kept and extended.',
  },
  hostAddress: {
    kind: 'string', default: '127.0.0.1', restart: true, flag: 'host-address', arg: 'IP',
    doc: 'IP address where containers in network mode host are reached (the Docker host as the proxy sees it).',
  },
  'docker.enabled': {
    kind: 'bool', default: true, restart: true, flag: 'no-docker',
    doc: 'Discover upstreams from Docker containers (--no-docker: static upstreams only).',
  },
  'docker.host': {
    kind: 'string', default: undefined, restart: true, flag: 'docker-host', arg: 'URL',
    doc: 'Docker Engine API address: unix:///path, tcp://host:port, http(s)://host:port or ssh://host (default: DOCKER_HOST, else the local socket).',
  },
  staticUpstreams: {
    kind: 'list', default: [], restart: false, flag: 'upstream', arg: 'SERVICE=HOST:PORT',
    doc: 'Upstreams not in Docker, ready at once: a list of { service, address: HOST:PORT, hosts?, path?, color? } or "SERVICE=HOST:PORT" strings.',
  },
  'tls.dir': {
    kind: 'string', default: undefined, restart: true, flag: 'tls-dir', arg: 'DIR',
    doc: 'Directory of PEM certificate/key pairs (NAME.crt + NAME.key, NAME.pem, or NAME/fullchain.pem + privkey.pem), chosen by SNI; setting it turns on the TLS listener. Watched: renewed certificates serve on the next handshake.',
  },
  'tls.listen': {
    kind: 'address', default: '0.0.0.0:8443', restart: true, flag: 'tls-listen', arg: 'HOST:PORT',
    doc: 'TLS (HTTPS) listener: HTTP/1.1 over TLS; X-Forwarded-Proto is https.',
  },
  'tls.redirectHttp': {
    kind: 'bool', default: false, restart: true, flag: 'tls-redirect-http',
    doc: 'Answer every plain-HTTP request with a 308 redirect to the same host and path over HTTPS (on the tls.listen port unless it is 443); needs tls.dir.',
  },
} as const satisfies Record<string, SettingDoc>;

export type SettingKey = keyof typeof SETTINGS;
export const SETTING_KEYS = Object.keys(SETTINGS) as SettingKey[];

/** Keys of one static upstream entry. */
export const STATIC_UPSTREAM_KEYS = ['service', 'address', 'hosts', 'path', 'color'] as const;

/** `holdTimeout` → `BLUEGREEN_HOLD_TIMEOUT`, `admin.token` → `BLUEGREEN_ADMIN_TOKEN`. */
export function envName(key: string): string {
  return `BLUEGREEN_${key.replace(/\./g, '_').replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()}`;
}

// ---------------------------------------------------------------------------------------------
// Leaf parsers. Each returns the typed value or a reason that starts with the offending value.

type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };
const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const no = (reason: string): Parsed<never> => ({ ok: false, reason });

/** A value as it appears in an error message. */
export function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 80 ? `${v.slice(0, 80)}…` : v);
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'bigint') return `${v}`;
  return String(v);
}

function leaf<In, Out>(parse: (v: unknown) => Parsed<Out>) {
  return z.custom<In>(() => true).transform((v, ctx): Out => {
    const r: Parsed<Out> =
      v === undefined ? no('is required') : v === null ? no('has no value (remove the key to get the default)') : parse(v);
    if (r.ok) return r.value;
    ctx.addIssue({ code: 'custom', message: r.reason, input: v });
    return z.NEVER;
  });
}

function durationOf(v: unknown, positive: boolean): Parsed<number> {
  if (typeof v !== 'string' && typeof v !== 'number') return no(`${show(v)} is not a duration (write e.g. "30s", "1m30s", "500ms")`);
  const r = tryParseDuration(String(v));
  if (!r.ok) return no(`${show(v)} is not a duration: it ${r.reason}`);
  if (positive && r.value === 0) return no(`${show(v)} must be more than 0`);
  return ok(r.value);
}

const duration = leaf<string | number, number>((v) => durationOf(v, false));
const positiveDuration = leaf<string | number, number>((v) => durationOf(v, true));

const size = leaf<string | number, number>((v) => {
  if (typeof v === 'number') {
    return Number.isSafeInteger(v) && v >= 0 ? ok(v) : no(`${show(v)} is not a size: it is not a whole number of bytes ≥ 0`);
  }
  if (typeof v !== 'string') return no(`${show(v)} is not a size (write e.g. "1MiB", "512KB", 1024)`);
  const r = tryParseSize(v);
  return r.ok ? ok(r.value) : no(`${show(v)} is not a size: it ${r.reason}`);
});

/** A size from `min` to `max` bytes. */
function sizeBetween(min: number, max: number) {
  return leaf<string | number, number>((v) => {
    let bytes: number;
    if (typeof v === 'number') bytes = v;
    else if (typeof v === 'string') {
      const r = tryParseSize(v);
      if (!r.ok) return no(`${show(v)} is not a size: it ${r.reason}`);
      bytes = r.value;
    } else return no(`${show(v)} is not a size (write e.g. "16KiB", 8192)`);
    return Number.isSafeInteger(bytes) && bytes >= min && bytes <= max
      ? ok(bytes)
      : no(`${show(v)} is not a size from ${min} to ${max} bytes`);
  });
}

function int(min: number, max: number) {
  return leaf<number, number>((v) =>
    typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max
      ? ok(v)
      : no(`${show(v)} is not a whole number from ${min} to ${max}`),
  );
}

const bool = leaf<boolean, boolean>((v) => (typeof v === 'boolean' ? ok(v) : no(`${show(v)} is not true or false`)));

const text = leaf<string, string>((v) => {
  if (typeof v !== 'string') return no(`${show(v)} is not text`);
  if (v.trim() === '') return no('is empty');
  return ok(v.trim());
});

// A secret: its reasons name what kind of value it is, never the value (error messages reach logs).
const token = leaf<string, string>((v) => {
  if (typeof v !== 'string') return no(`${typeof v === 'object' ? show(v) : `a ${typeof v}`} is not text (quote it in YAML)`);
  if (v === '') return no('is empty');
  if (/[^\x21-\x7e]/.test(v)) return no('contains whitespace, control or non-ASCII characters');
  return ok(v);
});

const logLevel = leaf<LogLevel, LogLevel>((v) =>
  typeof v === 'string' && (LOG_LEVELS as readonly string[]).includes(v.toLowerCase())
    ? ok(v.toLowerCase() as LogLevel)
    : no(`${show(v)} is not a log level (${LOG_LEVELS.join(', ')})`),
);

const HOST_LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/i;
const SERVICE_NAME = /^[a-z0-9][a-z0-9_.-]{0,62}$/i;
const COLOR_NAME = /^[a-z0-9][a-z0-9_-]{0,31}$/i;

function isHostname(name: string): boolean {
  const n = name.replace(/\.$/, '');
  return n !== '' && n.length <= 253 && n.split('.').every((p) => HOST_LABEL.test(p));
}

/** Why `text` is not HOST:PORT, or the address. IPv6 hosts in brackets: `[::1]:8080`. */
export function tryParseHostPort(text: string, opts: { listen: boolean }): Parsed<ListenAddress> {
  const s = text.trim();
  const m = /^(?:\[([^\]]*)\]|([^:[\]]*)):(\d+)$/.exec(s);
  if (!m) {
    if (!s.includes(':')) return no(`${show(text)} has no port (write HOST:PORT, e.g. ${opts.listen ? '0.0.0.0:8080' : '10.0.0.5:8080'})`);
    if (!s.startsWith('[') && (s.match(/:/g) ?? []).length > 1) return no(`${show(text)} is an IPv6 address without brackets (write [::1]:8080)`);
    return no(`${show(text)} is not HOST:PORT`);
  }
  const [, v6, plain, portText] = m as unknown as [string, string | undefined, string | undefined, string];
  const port = Number(portText);
  if (portText.length > 5 || port > 65535) return no(`${show(text)} has port ${portText}, above 65535`);
  if (port === 0 && !opts.listen) return no(`${show(text)} has port 0`);
  let host: string;
  if (v6 !== undefined) {
    if (isIP(v6) !== 6) return no(`${show(text)} has ${show(v6)} in brackets, which is not an IPv6 address`);
    host = v6;
  } else {
    host = plain ?? '';
    if (host === '') {
      if (!opts.listen) return no(`${show(text)} has no host`);
      host = '0.0.0.0';
    } else if (!isIP(host) && !isHostname(host)) {
      return no(`${show(text)} has ${show(host)}, which is not an IP address or hostname`);
    }
  }
  return ok({ host, port });
}

export function formatHostPort(a: ListenAddress): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

const listenAddress = leaf<string, ListenAddress>((v) =>
  typeof v === 'string' ? tryParseHostPort(v, { listen: true }) : no(`${show(v)} is not HOST:PORT (quote it in YAML)`),
);

const cidr = leaf<string, string>((v) => {
  if (typeof v !== 'string') return no(`${show(v)} is not an address or CIDR`);
  const s = v.trim();
  const slash = s.indexOf('/');
  const addr = slash < 0 ? s : s.slice(0, slash);
  const family = isIP(addr);
  if (!family) return no(`${show(v)} is not an address or CIDR (examples: 10.0.0.0/8, 192.168.1.10, fd00::/8)`);
  if (slash >= 0) {
    const bits = s.slice(slash + 1);
    const max = family === 6 ? 128 : 32;
    if (!/^\d{1,3}$/.test(bits) || Number(bits) > max) return no(`${show(v)} has prefix length ${show(bits)}, not 0 to ${max}`);
  }
  return ok(s);
});

const ipAddress = leaf<string, string>((v) => {
  const s = typeof v === 'string' ? v.trim() : '';
  return isIP(s) ? ok(s) : no(`${show(v)} is not an IP address`);
});

const dockerHost = leaf<string, string>((v) => {
  if (typeof v !== 'string') return no(`${show(v)} is not a Docker host URL`);
  const s = v.trim();
  if (/^unix:\/\/\/./.test(s) || /^npipe:\/\/./.test(s)) return ok(s);
  if (/^(tcp|http|https|ssh):\/\/[^\s/]+/.test(s)) return ok(s);
  return no(`${show(v)} is not a Docker host URL (unix:///var/run/docker.sock, tcp://HOST:PORT, https://HOST:PORT, ssh://HOST)`);
});

const serviceName = leaf<string, string>((v) =>
  typeof v === 'string' && SERVICE_NAME.test(v.trim())
    ? ok(v.trim().toLowerCase())
    : no(`${show(v)} is not a service name (letters, digits, '_', '.' and '-', up to 63, starting with a letter or digit)`),
);

const colorName = leaf<string, string>((v) =>
  typeof v === 'string' && COLOR_NAME.test(v.trim())
    ? ok(v.trim().toLowerCase())
    : no(`${show(v)} is not a color name (letters, digits, '_' and '-', up to 32, starting with a letter or digit)`),
);

const hostPattern = leaf<string, string>((v) => {
  if (typeof v !== 'string') return no(`${show(v)} is not a hostname`);
  const item = v.trim().toLowerCase();
  if (/^\[.*\](:\d*)?$/.test(item) || (item.match(/:/g) ?? []).length > 1) return no(`${show(v)} is an IPv6 literal; use a hostname`);
  if (/:\d*$/.test(item)) return no(`${show(v)} has a port; hosts match without the port`);
  const name = item.startsWith('*.') ? item.slice(2) : item;
  if (name.includes('*')) return no(`${show(v)} has a wildcard other than a leading '*.'`);
  if (!isHostname(name)) return no(`${show(v)} is not a hostname (or *.suffix)`);
  return ok(item.replace(/\.$/, ''));
});

const pathPrefix = leaf<string, string>((v) => {
  if (typeof v !== 'string') return no(`${show(v)} is not a path`);
  if (!v.startsWith('/')) return no(`${show(v)} does not start with '/'`);
  for (const ch of v) {
    if (/[^\x21-\x7e]/.test(ch)) return no(`${show(v)} contains ${JSON.stringify(ch)} (whitespace, control and non-ASCII characters must be percent-encoded)`);
    if (ch === '?' || ch === '#') return no(`${show(v)} contains '${ch}', which is not allowed in a path prefix`);
  }
  return ok(v.replace(/\/+$/, '') || '/');
});

const upstreamAddress = leaf<string, ListenAddress>((v) =>
  typeof v === 'string' ? tryParseHostPort(v, { listen: false }) : no(`${show(v)} is not HOST:PORT (quote it in YAML)`),
);

/** One upstream outside Docker, ready from the start. */
export interface StaticUpstream {
  service: string;
  host: string;
  port: number;
  /** Route of the service: hosts (exact or `*.suffix`), lowercased; [] with no path = default service. */
  hosts: string[];
  path?: string | undefined;
  color?: string | undefined;
}

const staticUpstreamObject = z
  .strictObject({
    service: serviceName,
    address: upstreamAddress,
    hosts: z.array(hostPattern).optional(),
    path: pathPrefix.optional(),
    color: colorName.optional(),
  })
  .transform((u): StaticUpstream => {
    const out: StaticUpstream = { service: u.service, host: u.address.host, port: u.address.port, hosts: [...new Set(u.hosts ?? [])] };
    if (u.path !== undefined) out.path = u.path;
    if (u.color !== undefined) out.color = u.color;
    return out;
  });

/** `SERVICE=HOST:PORT` (the --upstream and env form) becomes `{ service, address }`. */
const staticUpstream = z.preprocess((v, ctx) => {
  if (typeof v !== 'string') return v;
  const eq = v.indexOf('=');
  if (eq < 0) {
    ctx.addIssue({ code: 'custom', message: `${show(v)} is not SERVICE=HOST:PORT (or a mapping with service and address)`, input: v });
    return z.NEVER;
  }
  return { service: v.slice(0, eq).trim(), address: v.slice(eq + 1).trim() };
}, staticUpstreamObject);

/** Field-by-field schema, without the rules that relate keys to each other. */
export const settingsFieldsSchema = z.strictObject({
  listen: listenAddress.prefault(SETTINGS.listen.default),
  admin: z
    .strictObject({
      listen: listenAddress.prefault(SETTINGS['admin.listen'].default),
      token: token.optional(),
    })
    .prefault({}),
  holdTimeout: duration.prefault(SETTINGS.holdTimeout.default),
  holdQueueSize: int(1, 10_000_000).prefault(SETTINGS.holdQueueSize.default),
  retryBufferSize: size.prefault(SETTINGS.retryBufferSize.default),
  failDuration: duration.prefault(SETTINGS.failDuration.default),
  connectTimeout: positiveDuration.prefault(SETTINGS.connectTimeout.default),
  headersTimeout: positiveDuration.prefault(SETTINGS.headersTimeout.default),
  idleTimeout: positiveDuration.prefault(SETTINGS.idleTimeout.default),
  upstreamKeepAlive: positiveDuration.prefault(SETTINGS.upstreamKeepAlive.default),
  connectionsPerUpstream: int(1, 65_535).prefault(SETTINGS.connectionsPerUpstream.default),
  expectContinueTimeout: duration.prefault(SETTINGS.expectContinueTimeout.default),
  clientKeepAlive: duration.prefault(SETTINGS.clientKeepAlive.default),
  limits: z
    .strictObject({
      maxConnections: int(1, 10_000_000).prefault(SETTINGS['limits.maxConnections'].default),
      maxHeaderSize: sizeBetween(1024, 16 * 1024 * 1024).prefault(SETTINGS['limits.maxHeaderSize'].default),
      maxHeaderCount: int(1, 100_000).prefault(SETTINGS['limits.maxHeaderCount'].default),
      maxUrlLength: sizeBetween(64, 16 * 1024 * 1024).prefault(SETTINGS['limits.maxUrlLength'].default),
      headerTimeout: positiveDuration.prefault(SETTINGS['limits.headerTimeout'].default),
      bodyIdleTimeout: positiveDuration.prefault(SETTINGS['limits.bodyIdleTimeout'].default),
    })
    .prefault({}),
  shutdownGrace: duration.prefault(SETTINGS.shutdownGrace.default),
  shutdownIdleClose: duration.optional(),
  defaultDrainTimeout: duration.prefault(SETTINGS.defaultDrainTimeout.default),
  defaultService: serviceName.optional(),
  logLevel: logLevel.prefault(SETTINGS.logLevel.default),
  accessLog: bool.prefault(SETTINGS.accessLog.default),
  trustedProxies: z.array(cidr).prefault([]),
  hostAddress: ipAddress.prefault(SETTINGS.hostAddress.default),
  docker: z
    .strictObject({
      enabled: bool.prefault(SETTINGS['docker.enabled'].default),
      host: dockerHost.optional(),
    })
    .prefault({}),
  staticUpstreams: z.array(staticUpstream).prefault([]),
  tls: z
    .strictObject({
      dir: text.optional(),
      listen: listenAddress.prefault(SETTINGS['tls.listen'].default),
      redirectHttp: bool.prefault(SETTINGS['tls.redirectHttp'].default),
    })
    .prefault({}),
});

/** The complete schema: fields, then the rules between keys. */
export const settingsSchema = settingsFieldsSchema.superRefine((s, ctx) => {
  if (s.admin.token === undefined && !isLoopback(s.admin.listen.host)) {
    ctx.addIssue({
      code: 'custom',
      path: ['admin', 'listen'],
      message: `${show(formatHostPort(s.admin.listen))} is not a loopback address, so admin.token (${envName('admin.token')}, --admin-token) is required`,
    });
  }
  if (s.tls.redirectHttp && s.tls.dir === undefined) {
    ctx.addIssue({ code: 'custom', path: ['tls', 'redirectHttp'], message: 'is true but tls.dir is not set (no HTTPS listener to redirect to)' });
  }
  const seen = new Map<string, number>();
  const routes = new Map<string, { index: number; hosts: string[]; path: string | undefined }>();
  s.staticUpstreams.forEach((u, i) => {
    const id = staticUpstreamId(u);
    const first = seen.get(id);
    if (first !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['staticUpstreams', i], message: `repeats staticUpstreams[${first}] (${u.service} at ${formatHostPort(u)})` });
    } else seen.set(id, i);
    if (u.hosts.length === 0 && u.path === undefined) return; // inherits the service's route
    const hosts = [...u.hosts].sort();
    const r = routes.get(u.service);
    if (!r) routes.set(u.service, { index: i, hosts, path: u.path });
    else if (r.hosts.join(',') !== hosts.join(',') || r.path !== u.path) {
      ctx.addIssue({
        code: 'custom',
        path: ['staticUpstreams', i],
        message: `gives service ${u.service} another route than staticUpstreams[${r.index}] (a service has one route: give hosts and path once, or the same everywhere)`,
      });
    }
  });
});

/** What the file, env and flags may hold (before defaults and conversion). */
export type SettingsInput = z.input<typeof settingsSchema>;
/** Resolved settings: durations in ms, sizes in bytes, addresses as { host, port }. */
export type Settings = z.output<typeof settingsSchema>;

/** Every default. */
export function defaultSettings(): Settings {
  return settingsSchema.parse({});
}

export function isLoopback(host: string): boolean {
  const h = host.toLowerCase();
  return h === 'localhost' || h === '::1' || (isIP(h) === 4 && h.startsWith('127.'));
}

/** Registry id of a static upstream: `static:<service>:<host>:<port>`, plus `@<color>` when it has one. */
export function staticUpstreamId(u: Pick<StaticUpstream, 'service' | 'host' | 'port' | 'color'>): string {
  return `static:${u.service}:${u.host}:${u.port}${u.color !== undefined ? `@${u.color}` : ''}`;
}

/** The settings as a Markdown table (key, env, flag, default, restart, description) for the README. */
export function settingsMarkdownTable(): string {
  const rows = SETTING_KEYS.map((key) => {
    const d: SettingDoc = SETTINGS[key];
    const def = d.default === undefined ? '—' : `\`${Array.isArray(d.default) ? '[]' : String(d.default)}\``;
    const flag = `\`--${d.flag}${d.arg ? ` ${d.arg}` : ''}\``;
    return `| \`${key}\` | \`${envName(key)}\` | ${flag} | ${def} | ${d.restart ? 'restart' : 'live'} | ${d.doc.replace(/\|/g, '\\|')} |`;
  });
  return ['| key | env | flag | default | applies | description |', '| --- | --- | --- | --- | --- | --- |', ...rows].join('\n');
}
