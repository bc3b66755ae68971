import type { DataPlaneOptions } from '../dataplane/options.ts';
import { DockerodeClient } from '../discovery/docker-client.ts';
import type { ProxyOptions } from '../proxy.ts';
import type { Registry } from '../registry/registry.ts';
import type { ServiceRoute } from '../registry/service.ts';
import { formatHostPort, staticUpstreamId, type Settings, type StaticUpstream } from './schema.ts';

// From resolved settings to the objects that run: data plane options, proxy construction options,
// and the static upstreams in the registry.

/** The data plane's share of the settings (every DataPlaneOptions key). */
export function toDataPlaneOptions(s: Settings): Partial<DataPlaneOptions> {
  return {
    holdTimeoutMs: s.holdTimeout,
    holdQueueSize: s.holdQueueSize,
    retryBufferBytes: s.retryBufferSize,
    failDurationMs: s.failDuration,
    connectTimeoutMs: s.connectTimeout,
    headersTimeoutMs: s.headersTimeout,
    bodyTimeoutMs: s.idleTimeout,
    upstreamKeepAliveMs: s.upstreamKeepAlive,
    connectionsPerUpstream: s.connectionsPerUpstream,
    expectContinueTimeoutMs: s.expectContinueTimeout,
    clientKeepAliveMs: s.clientKeepAlive,
    trustedProxies: [...s.trustedProxies],
    shutdownGraceMs: s.shutdownGrace,
    shutdownIdleCloseMs: s.shutdownIdleClose,
    defaultService: s.defaultService,
    accessLog: s.accessLog,
    maxConnections: s.limits.maxConnections,
    maxHeaderBytes: s.limits.maxHeaderSize,
    maxHeaderCount: s.limits.maxHeaderCount,
    maxUrlBytes: s.limits.maxUrlLength,
    clientHeaderTimeoutMs: s.limits.headerTimeout,
    clientBodyIdleTimeoutMs: s.limits.bodyIdleTimeout,
  };
}

/**
 * `new Proxy({ logger, ...toProxyOptions(settings) })`. Docker discovery is absent when
 * docker.enabled is false; docker.host picks the engine (else DOCKER_HOST, else the local socket).
 */
export function toProxyOptions(s: Settings): Omit<ProxyOptions, 'logger'> {
  const opts: Omit<ProxyOptions, 'logger'> = {
    listen: { ...s.listen },
    dataPlane: toDataPlaneOptions(s),
    defaultDrainTimeoutMs: s.defaultDrainTimeout,
  };
  if (s.docker.enabled) {
    opts.docker = { hostAddress: s.hostAddress };
    if (s.docker.host !== undefined) opts.docker.client = new DockerodeClient(s.docker.host);
  }
  return opts;
}

export interface StaticApplyResult {
  /** Registry ids added (state ready). */
  added: string[];
  /** Registry ids put to draining (removed from the config). */
  drained: string[];
  /** Ids of entries in both lists, left untouched. */
  kept: string[];
}

interface RegistryState {
  /** Services that lost their last static entry; removed once their last upstream is gone. */
  orphans: Set<string>;
  listening: boolean;
}
const states = new WeakMap<Registry, RegistryState>();

/**
 * Makes the registry's static upstreams follow `list`, given the `previous` list applied (initially
 * []). New entries are added ready, entries gone from the list are drained (their in-flight requests
 * finish), unchanged ones are not touched. A changed entry (other color, other address) is a removal
 * plus an addition. Each service's route is set with defineService (a no-op when unchanged); a service
 * left without static entries is removed once its last upstream is gone, so its route stops matching.
 * Ids are `static:<service>:<host>:<port>[@color]` (`#n` appended while an older one still drains).
 */
export function applyStaticUpstreams(
  registry: Registry,
  list: readonly StaticUpstream[],
  previous: readonly StaticUpstream[],
): StaticApplyResult {
  const result: StaticApplyResult = { added: [], drained: [], kept: [] };
  const state = stateOf(registry);
  const prevIds = new Set(previous.map(staticUpstreamId));
  const nextIds = new Set(list.map(staticUpstreamId));

  const routes = new Map<string, ServiceRoute>();
  for (const u of list) {
    const hasRoute = u.hosts.length > 0 || u.path !== undefined;
    if (hasRoute || !routes.has(u.service)) routes.set(u.service, { hosts: [...u.hosts], pathPrefix: u.path });
  }
  for (const [name, route] of routes) {
    state.orphans.delete(name);
    registry.defineService(name, route);
  }

  // Add before draining, so a service whose address changed never has a moment without an upstream.
  for (const u of list) {
    const base = staticUpstreamId(u);
    if (prevIds.has(base)) {
      result.kept.push(base);
      continue;
    }
    const live = liveIds(registry, base);
    if (live.length > 0) {
      result.kept.push(...live); // already there (added by an earlier apply or at startup)
      continue;
    }
    const id = freeId(registry, base);
    registry.addUpstream({ id, name: formatHostPort(u), service: u.service, host: u.host, port: u.port, color: u.color, state: 'ready' });
    result.added.push(id);
  }

  for (const u of previous) {
    const base = staticUpstreamId(u);
    if (nextIds.has(base)) continue;
    for (const id of liveIds(registry, base)) {
      registry.drain(id);
      result.drained.push(id);
    }
    if (!routes.has(u.service)) state.orphans.add(u.service);
  }
  for (const name of state.orphans) removeIfEmpty(registry, state, name);
  return result;
}

function stateOf(registry: Registry): RegistryState {
  let s = states.get(registry);
  if (!s) {
    s = { orphans: new Set(), listening: false };
    states.set(registry, s);
  }
  if (!s.listening) {
    const st = s;
    registry.on('upstream-removed', (up) => {
      if (st.orphans.has(up.service)) removeIfEmpty(registry, st, up.service);
    });
    s.listening = true;
  }
  return s;
}

function removeIfEmpty(registry: Registry, state: RegistryState, name: string): void {
  const svc = registry.service(name);
  if (!svc) {
    state.orphans.delete(name);
    return;
  }
  if (svc.upstreams.size > 0) return;
  state.orphans.delete(name);
  registry.removeService(name);
}

/** Ids of `base` (or `base#n`) that are in rotation or could be: not draining, not gone. */
function liveIds(registry: Registry, base: string): string[] {
  const out: string[] = [];
  for (const [id, up] of registry.upstreams) {
    if ((id === base || id.startsWith(`${base}#`)) && up.state !== 'draining' && up.state !== 'gone') out.push(id);
  }
  return out;
}

function freeId(registry: Registry, base: string): string {
  if (!registry.upstreams.has(base)) return base;
  for (let n = 2; ; n++) if (!registry.upstreams.has(`${base}#${n}`)) return `${base}#${n}`;
}
