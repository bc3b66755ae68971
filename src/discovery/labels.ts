import { editDistance } from '../edit-distance.ts';
import { tryParseDuration } from '../config/units.ts';
import type { ContainerInfo } from './container-info.ts';

// Reads a container's `bluegreen.*` labels into an upstream target, or into every problem found.
// Pure and total: it never throws, whatever the labels say.

/**
 * How readiness is checked. `docker`: follow Docker's HEALTHCHECK status. `http`: GET `path`,
 * any 2xx/3xx is ready. `tcp`: a connect succeeds. `intervalMs` is the steady-state interval;
 * while an upstream is starting the prober checks every STARTING_PROBE_INTERVAL_MS instead.
 */
export type Probe =
  | { kind: 'docker' }
  | { kind: 'http'; path: string; intervalMs: number; timeoutMs: number }
  | { kind: 'tcp'; intervalMs: number; timeoutMs: number };

export interface UpstreamTarget {
  /** Lowercased service name. */
  service: string;
  /** Lowercased hosts (exact or `*.suffix`); [] and no pathPrefix = the default service. */
  route: { hosts: string[]; pathPrefix?: string };
  host: string;
  port: number;
  /** Lowercased color; absent when the container has no bluegreen.color label. */
  color?: string;
  probe: Probe;
  drainTimeoutMs?: number;
  /** The network whose address `host` is; absent in network mode host. */
  network?: string;
}

export interface LabelProblem {
  /** Container name (or short id when it has no name). */
  container: string;
  /** The label at fault, e.g. `bluegreen.port`, also when the problem is that it is missing. */
  label: string;
  /** The value at fault, as set; '' when the problem is not about a value (e.g. a missing label). */
  value: string;
  /** Why, e.g. `is not a port (1-65535)`. */
  reason: string;
  /** One line for the log: `container web-blue-1: label bluegreen.port=80x is not a port (1-65535); container left out`. */
  message: string;
}

/** `ignored`: the container has no `bluegreen.*` labels at all, so it is not ours. */
export type LabelResult =
  | { ok: true; target: UpstreamTarget }
  | { ok: false; problems: LabelProblem[] }
  | { ok: false; ignored: true };

export interface LabelContext {
  /** Networks the proxy itself is attached to. */
  proxyNetworks: readonly string[];
  /** Address of the Docker host as seen from the proxy, for containers in network mode host. */
  hostAddress: string;
}

export const LABEL_PREFIX = 'bluegreen.';
export const DEFAULT_PROBE_INTERVAL_MS = 1000;
export const DEFAULT_PROBE_TIMEOUT_MS = 1000;
/** Probe interval while an upstream is starting, whatever `intervalMs` says. */
export const STARTING_PROBE_INTERVAL_MS = 250;

/** True when any label key starts with `bluegreen.`: the container is ours, to route or to report. */
export function hasBluegreenLabels(labels: Readonly<Record<string, string>>): boolean {
  for (const k of Object.keys(labels)) if (k.startsWith(LABEL_PREFIX)) return true;
  return false;
}

export const KNOWN_LABELS: readonly string[] = [
  'bluegreen.service',
  'bluegreen.hosts',
  'bluegreen.path',
  'bluegreen.port',
  'bluegreen.network',
  'bluegreen.color',
  'bluegreen.healthcheck.path',
  'bluegreen.healthcheck.interval',
  'bluegreen.healthcheck.timeout',
  'bluegreen.drain-timeout',
];

const SERVICE_NAME = /^[a-z0-9][a-z0-9_.-]{0,62}$/i;
const COLOR_NAME = /^[a-z0-9][a-z0-9_-]{0,31}$/i;
const HOST_LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;
/** Characters a path label may not contain: whitespace, controls, non-ASCII, and the given extras. */
const PATH_FORBIDDEN = /[^\x21-\x7e]/;

export function parseContainerLabels(c: ContainerInfo, ctx: LabelContext): LabelResult {
  try {
    return parse(c, ctx);
  } catch (err) {
    // Unreachable for well-typed input; kept so that a malformed ContainerInfo cannot crash discovery.
    const container = containerName(c);
    const reason = `could not be read (${err instanceof Error ? err.message : String(err)})`;
    return { ok: false, problems: [{ container, label: '', value: '', reason, message: `container ${container}: ${reason}; container left out` }] };
  }
}

function parse(c: ContainerInfo, ctx: LabelContext): LabelResult {
  const container = containerName(c);
  const labels = new Map<string, string>();
  const rawLabels: unknown = c.labels;
  if (typeof rawLabels === 'object' && rawLabels !== null) {
    for (const [k, v] of Object.entries(rawLabels)) {
      if (k.startsWith(LABEL_PREFIX) && typeof v === 'string') labels.set(k, v);
    }
  }
  if (labels.size === 0) return { ok: false, ignored: true };

  const problems: LabelProblem[] = [];
  /** A problem with a label's value (the label is set). */
  const bad = (label: string, reason: string): void => {
    const value = labels.get(label) ?? '';
    problems.push({ container, label, value, reason, message: `container ${container}: label ${label}=${show(value)} ${reason}; container left out` });
  };
  /** A problem that is not about the label's value (usually: the label is missing). */
  const missing = (label: string, reason: string): void => {
    problems.push({ container, label, value: '', reason, message: `container ${container}: ${reason}; container left out` });
  };
  const get = (label: string): string | undefined => labels.get(label)?.trim();

  for (const key of labels.keys()) {
    if (KNOWN_LABELS.includes(key)) continue;
    const near = suggest(key);
    bad(key, `is an unknown label${near ? ` (did you mean ${near}?)` : ''}`);
  }

  // Service.
  let service = '';
  const serviceRaw = get('bluegreen.service');
  if (serviceRaw === undefined) {
    const others = [...labels.keys()].sort().join(', ');
    missing('bluegreen.service', `has ${others} but no bluegreen.service label; add it or remove the others`);
  } else if (!SERVICE_NAME.test(serviceRaw)) {
    bad('bluegreen.service', "is not a service name (letters, digits, '_', '.' and '-', up to 63, starting with a letter or digit)");
  } else {
    service = serviceRaw.toLowerCase();
  }

  // Route.
  const hosts: string[] = [];
  const hostsRaw = get('bluegreen.hosts');
  if (hostsRaw !== undefined) {
    const items = hostsRaw.split(',').map((h) => h.trim()).filter((h) => h !== '');
    if (items.length === 0) bad('bluegreen.hosts', 'lists no hosts; remove the label to make this the default service');
    for (const item of items) {
      const why = hostProblem(item);
      if (why) bad('bluegreen.hosts', `has ${JSON.stringify(item)}, which ${why}`);
      else {
        const h = item.toLowerCase().replace(/\.$/, '');
        if (!hosts.includes(h)) hosts.push(h);
      }
    }
  }
  let pathPrefix: string | undefined;
  const pathRaw = get('bluegreen.path');
  if (pathRaw !== undefined) {
    const why = pathProblem(pathRaw, '?#');
    if (why) bad('bluegreen.path', why);
    else pathPrefix = pathRaw.replace(/\/+$/, '') || '/';
  }

  // Port.
  let port = 0;
  const portRaw = get('bluegreen.port');
  if (portRaw !== undefined) {
    const n = /^\d{1,5}$/.test(portRaw) ? Number(portRaw) : NaN;
    if (n >= 1 && n <= 65535) port = n;
    else bad('bluegreen.port', 'is not a port (1-65535)');
  } else {
    const exposed = Array.isArray(c.exposedPorts) ? c.exposedPorts : [];
    if (exposed.length === 1 && Number.isInteger(exposed[0]) && exposed[0]! >= 1 && exposed[0]! <= 65535) port = exposed[0]!;
    else {
      const list = exposed.length > 1 ? ` (${exposed.join(', ')})` : '';
      missing('bluegreen.port', `no bluegreen.port label and ${exposed.length} exposed ports${list}; set bluegreen.port`);
    }
  }

  // Address.
  let host = '';
  let network: string | undefined;
  const networkRaw = get('bluegreen.network');
  const networks: Record<string, { ip: string }> = typeof c.networks === 'object' && c.networks !== null ? c.networks : {};
  const names = Object.keys(networks).filter((n) => typeof networks[n]?.ip === 'string' && networks[n].ip !== '').sort();
  if (c.networkMode === 'host') {
    if (networkRaw !== undefined && networkRaw !== 'host') bad('bluegreen.network', 'does not apply: the container uses network mode host');
    if (typeof ctx.hostAddress === 'string' && ctx.hostAddress !== '') host = ctx.hostAddress;
    else missing('bluegreen.network', 'uses network mode host, but the proxy knows no host address to reach it');
  } else if (networkRaw !== undefined) {
    if (names.includes(networkRaw)) network = networkRaw;
    else {
      const on = names.length > 0 ? `it is on ${names.join(', ')}` : 'it has no network address';
      bad('bluegreen.network', `is not a network this container has an address on (${on})`);
    }
  } else {
    const proxyNetworks = Array.isArray(ctx.proxyNetworks) ? ctx.proxyNetworks : [];
    network = names.find((n) => proxyNetworks.includes(n)) ?? (names.length === 1 ? names[0] : undefined);
    if (network === undefined && names.length === 0) {
      missing('bluegreen.network', `has no network address (network mode ${c.networkMode || 'unknown'})`);
    } else if (network === undefined) {
      const proxyOn = proxyNetworks.length > 0 ? proxyNetworks.join(', ') : 'none known';
      missing('bluegreen.network', `is on networks ${names.join(', ')} and none is shared with the proxy (proxy networks: ${proxyOn}); set bluegreen.network`);
    }
  }
  if (network !== undefined) host = networks[network]!.ip;

  // Color.
  let color: string | undefined;
  const colorRaw = get('bluegreen.color');
  if (colorRaw !== undefined) {
    if (COLOR_NAME.test(colorRaw)) color = colorRaw.toLowerCase();
    else bad('bluegreen.color', "is not a color name (letters, digits, '_' and '-', up to 32, starting with a letter or digit)");
  }

  // Probe.
  const intervalMs = durationLabel('bluegreen.healthcheck.interval', DEFAULT_PROBE_INTERVAL_MS, 1);
  const timeoutMs = durationLabel('bluegreen.healthcheck.timeout', DEFAULT_PROBE_TIMEOUT_MS, 1);
  let probePath: string | undefined;
  const probePathRaw = get('bluegreen.healthcheck.path');
  if (probePathRaw !== undefined) {
    const why = pathProblem(probePathRaw, '#');
    if (why) bad('bluegreen.healthcheck.path', why);
    else probePath = probePathRaw;
  }
  const probe: Probe =
    probePath !== undefined
      ? { kind: 'http', path: probePath, intervalMs, timeoutMs }
      : c.hasHealthcheck === true
        ? { kind: 'docker' }
        : { kind: 'tcp', intervalMs, timeoutMs };

  const drainTimeoutMs = labels.has('bluegreen.drain-timeout') ? durationLabel('bluegreen.drain-timeout', 0, 0) : undefined;

  if (problems.length > 0) return { ok: false, problems };
  const target: UpstreamTarget = { service, route: { hosts }, host, port, probe };
  if (pathPrefix !== undefined) target.route.pathPrefix = pathPrefix;
  if (color !== undefined) target.color = color;
  if (drainTimeoutMs !== undefined) target.drainTimeoutMs = drainTimeoutMs;
  if (network !== undefined) target.network = network;
  return { ok: true, target };

  function durationLabel(label: string, fallback: number, min: number): number {
    const raw = get(label);
    if (raw === undefined) return fallback;
    const r = tryParseDuration(raw);
    if (!r.ok) bad(label, `is not a duration: it ${r.reason} (examples: 500ms, 2s, 1m30s)`);
    else if (r.value < min) bad(label, 'must be more than 0');
    else return r.value;
    return fallback;
  }
}

function containerName(c: ContainerInfo): string {
  const name = typeof c?.name === 'string' ? c.name : '';
  const id = typeof c?.id === 'string' ? c.id.slice(0, 12) : '';
  return name || id || '(unnamed)';
}

/** Why `item` is not a host pattern, or undefined when it is one. */
function hostProblem(item: string): string | undefined {
  if (/^\[.*\](:\d*)?$/.test(item) || (item.match(/:/g) ?? []).length > 1) return 'is an IPv6 literal; use a hostname';
  if (/:\d*$/.test(item)) return 'has a port; hosts match without the port';
  let name = item.toLowerCase();
  if (name.startsWith('*.')) name = name.slice(2);
  name = name.replace(/\.$/, '');
  if (name.includes('*')) return "has a wildcard other than a leading '*.'";
  if (name === '' || name.length > 253) return 'is not a hostname';
  for (const part of name.split('.')) if (!HOST_LABEL.test(part)) return 'is not a hostname';
  return undefined;
}

/** Why `path` is not an acceptable path label, or undefined when it is. */
function pathProblem(path: string, forbidden: string): string | undefined {
  if (!path.startsWith('/')) return "does not start with '/'";
  for (const ch of path) {
    if (PATH_FORBIDDEN.test(ch)) return `contains ${JSON.stringify(ch)} (whitespace, control and non-ASCII characters must be percent-encoded)`;
    if (forbidden.includes(ch)) return `contains '${ch}', which is not allowed here`;
  }
  return undefined;
}

/** A label value as it appears in a log line: bare when plain and short, JSON-quoted otherwise. */
function show(value: string): string {
  if (/^[\x21-\x7e]{1,120}$/.test(value)) return value;
  return JSON.stringify(value.length > 120 ? `${value.slice(0, 120)}…` : value);
}

/** The known label within edit distance 2 of an unknown one. */
function suggest(key: string): string | undefined {
  let best: string | undefined;
  let bestDist = 3;
  const k = key.toLowerCase();
  for (const known of KNOWN_LABELS) {
    if (Math.abs(known.length - k.length) >= bestDist) continue;
    const d = editDistance(k, known);
    if (d < bestDist) {
      best = known;
      bestDist = d;
    }
  }
  return best;
}

