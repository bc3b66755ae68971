import type { DataPlane } from '../dataplane/data-plane.ts';
import type { ColorMode, Service } from '../registry/service.ts';
import type { Upstream } from '../registry/upstream.ts';
import type { UpstreamState } from '../registry/upstream-state.ts';
import { safeStatus, type ConfigStatusProvider, type DiscoveryProvider } from './providers.ts';

// The JSON shape of `GET /api/status`, of each server-sent event, and of action results. The CLI
// and the dashboard read it; keep it additive.

export interface UpstreamStatus {
  id: string;
  name: string;
  service: string;
  address: string;
  state: UpstreamState;
  /** Why it is in its state (probe or Docker health verdict), '' when nobody said. */
  stateReason: string;
  color: string | null;
  inFlight: number;
  webSockets: number;
  requests: number;
  failures: number;
  retries: number;
  abortedAtDeadline: number;
  /** ISO time until which a failed connect makes the balancer try it last; null when it is not marked. */
  connectFailedUntil: string | null;
  /** ISO time at which a drain aborts what is left; null unless draining. */
  drainDeadline: string | null;
  createdAt: string;
}

export interface ServiceStatus {
  name: string;
  route: { hosts: string[]; pathPrefix: string | null };
  isDefault: boolean;
  paused: boolean;
  activeColor: string | null;
  colorMode: ColorMode;
  colorNote: string;
  colors: string[];
  /** Requests waiting in the hold queue now. */
  held: number;
  holdCapacity: number;
  /** Requests that ever had to wait, and those that gave up waiting. */
  heldTotal: number;
  holdTimeouts: number;
  maxHoldMs: number;
  upstreams: UpstreamStatus[];
}

export interface StatusSnapshot {
  proxy: { requests: number; active: number; retries: number; failed: number; held: number; holdTimeouts: number; heldBeforeSync: number; closing: boolean };
  services: ServiceStatus[];
  routing: { defaultService: string | null; conflicts: string[] };
  discovery: { status: unknown; rejected: unknown[] } | null;
  config: { status: unknown; errors: unknown[] } | null;
}

export interface StatusSources {
  dataPlane: DataPlane;
  discovery?: DiscoveryProvider | undefined;
  configStatus?: ConfigStatusProvider | undefined;
}

export function upstreamStatus(u: Upstream): UpstreamStatus {
  return {
    id: u.id,
    name: u.name,
    service: u.service,
    address: u.address,
    state: u.state,
    stateReason: u.stateReason,
    color: u.color ?? null,
    inFlight: u.inFlight,
    webSockets: u.webSockets,
    requests: u.requests,
    failures: u.failures,
    retries: u.retries,
    abortedAtDeadline: u.abortedAtDeadline,
    connectFailedUntil: u.failedUntil > Date.now() ? new Date(u.failedUntil).toISOString() : null,
    drainDeadline: u.state === 'draining' && u.drainDeadline !== undefined ? new Date(u.drainDeadline).toISOString() : null,
    createdAt: new Date(u.createdAt).toISOString(),
  };
}

export function serviceStatus(s: Service): ServiceStatus {
  const upstreams = [...s.upstreams.values()].map(upstreamStatus);
  upstreams.sort((a, b) => (a.color ?? '').localeCompare(b.color ?? '') || a.name.localeCompare(b.name));
  return {
    name: s.name,
    route: { hosts: [...s.route.hosts], pathPrefix: s.route.pathPrefix ?? null },
    isDefault: s.isDefault,
    paused: s.paused,
    activeColor: s.activeColor ?? null,
    colorMode: s.colorMode,
    colorNote: s.colorNote,
    colors: s.colors(),
    held: s.holdQueue.size,
    holdCapacity: s.holdQueue.capacity,
    heldTotal: s.held,
    holdTimeouts: s.holdTimeouts,
    maxHoldMs: s.maxHoldMs,
    upstreams,
  };
}

export function buildStatus(src: StatusSources): StatusSnapshot {
  const plane = src.dataPlane;
  const services = [...plane.registry.services.values()].map(serviceStatus);
  services.sort((a, b) => a.name.localeCompare(b.name));
  const { discovery, configStatus } = src;
  return {
    proxy: { ...plane.stats, closing: plane.closing },
    services,
    routing: { defaultService: plane.router.defaultService?.name ?? null, conflicts: [...plane.router.conflicts] },
    discovery: discovery ? { status: safeStatus(discovery), rejected: [...discovery.rejected] } : null,
    config: configStatus ? { status: safeStatus(configStatus), errors: [...configStatus.errors] } : null,
  };
}
