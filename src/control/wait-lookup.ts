import { BluegreenError } from '../errors.ts';
import type { Registry } from '../registry/registry.ts';
import type { Service } from '../registry/service.ts';
import type { Upstream } from '../registry/upstream.ts';
import { upstreamStatus, type UpstreamStatus } from './status.ts';
import type { WaitQuery } from './wait-query.ts';

// Where a container stands with the proxy, for `GET /api/wait`: a pure look at the registry, the
// containers discovery rejected and the upstreams removed lately. It says whether the wait is
// reached, failed (for `fail=`), or why not yet; wait.ts decides when to look and answers.

/** An upstream the registry removed, remembered so that a wait can say "it stopped". */
export interface Removal {
  id: string;
  name: string;
  aliases: readonly string[];
  service: string;
  color: string | null;
  /** The registry's reason: drained, drain deadline, container died, container destroyed... */
  reason: string;
  at: number;
  abortedAtDeadline: number;
}

/** One label problem of a rejected container, as discovery reports it (`discovery.rejected`). */
export interface RejectedEntry {
  id: string;
  name: string;
  label?: string;
  value?: string;
  reason?: string;
  message: string;
}

/**
 * Why a wait is not reached (or what it reached):
 * `unknown` no upstream and nothing known about the container; `rejected` discovery left it out
 * (bad label); `stopped` it was an upstream and was removed; `starting` / `unhealthy` not ready;
 * `inactive` ready, but its color is not the active one; `draining` it is being stopped;
 * `present` (state=gone) still an upstream; `routed`, `ready`, `gone` reached.
 */
export type WaitReason = 'unknown' | 'rejected' | 'stopped' | 'starting' | 'unhealthy' | 'inactive' | 'draining' | 'present' | 'routed' | 'ready' | 'gone';

export interface Look {
  outcome: 'reached' | 'failed' | 'waiting';
  reason: WaitReason;
  message: string;
  upstream: UpstreamStatus | null;
  service: { name: string; activeColor: string | null; colorMode: string; paused: boolean } | null;
  rejected: RejectedEntry[];
  removed: (Omit<Removal, 'at' | 'aliases'> & { at: string }) | null;
}

export interface LookSources {
  registry: Registry;
  rejected: readonly unknown[];
  removals: readonly Removal[];
}

/** Prefixes shorter than this never match (a 1-character prefix would match almost anything later). */
export const MIN_PREFIX = 4;

/**
 * The upstreams `key` names: an exact id or alias (task id), else an exact name, else the ids and
 * aliases it is a prefix of (MIN_PREFIX+ characters). More than one is a 400, like docker's
 * "multiple IDs found with provided prefix".
 */
export function findUpstream(registry: Registry, key: string): Upstream | undefined {
  const exact = registry.upstreams.get(key);
  if (exact) return exact;
  const all = [...registry.upstreams.values()];
  let found = all.filter((u) => u.aliases.includes(key));
  if (found.length === 0) found = all.filter((u) => u.name === key);
  if (found.length === 0 && key.length >= MIN_PREFIX) found = all.filter((u) => matchesPrefix(key, u.id, u.aliases));
  if (found.length > 1) {
    throw new BluegreenError('BAD_REQUEST', `${JSON.stringify(key)} matches ${found.length} upstreams (${found.map((u) => `${u.name} ${u.id.slice(0, 12)}`).join(', ')}); give the full id`);
  }
  return found[0];
}

function matchesPrefix(key: string, id: string, aliases: readonly string[]): boolean {
  return id.startsWith(key) || aliases.some((a) => a.startsWith(key));
}

function names(key: string, id: string, name: string, aliases: readonly string[] = []): boolean {
  return id === key || name === key || aliases.includes(key) || (key.length >= MIN_PREFIX && matchesPrefix(key, id, aliases));
}

export function rejectedFor(rejected: readonly unknown[], key: string): RejectedEntry[] {
  const out: RejectedEntry[] = [];
  for (const r of rejected) {
    if (typeof r !== 'object' || r === null) continue;
    const e = r as Record<string, unknown>;
    const id = typeof e.id === 'string' ? e.id : '';
    const name = typeof e.name === 'string' ? e.name : '';
    if (id === '' || !names(key, id, name)) continue;
    out.push({
      id,
      name,
      ...(typeof e.label === 'string' ? { label: e.label } : {}),
      ...(typeof e.value === 'string' ? { value: e.value } : {}),
      ...(typeof e.reason === 'string' ? { reason: e.reason } : {}),
      message: typeof e.message === 'string' ? e.message : String(e.reason ?? 'rejected'),
    });
  }
  return out;
}

/** The newest removal of the container `key` names, at or after `since` (ms). */
export function removalFor(removals: readonly Removal[], key: string, since = 0): Removal | undefined {
  for (let i = removals.length - 1; i >= 0; i--) {
    const r = removals[i]!;
    if (r.at < since) break;
    if (names(key, r.id, r.name, r.aliases)) return r;
  }
  return undefined;
}

function label(u: { name: string; id: string }): string {
  return `container ${u.name} (${u.id.slice(0, 12)})`;
}

function serviceOf(svc: Service | undefined): Look['service'] {
  return svc ? { name: svc.name, activeColor: svc.activeColor ?? null, colorMode: svc.colorMode, paused: svc.paused } : null;
}

/** Where the container `q.key` stands; `since` is when the wait began (for `fail=stopped`). */
export function look(src: LookSources, q: WaitQuery, since: number): Look {
  const up = findUpstream(src.registry, q.key);
  const svc = up ? src.registry.service(up.service) : undefined;
  const base = {
    upstream: up ? upstreamStatus(up) : null,
    service: serviceOf(svc),
    rejected: [] as RejectedEntry[],
    removed: null as Look['removed'],
  };
  const lastRemoval = (after = 0) => {
    const r = removalFor(src.removals, q.key, after);
    return r ? { id: r.id, name: r.name, service: r.service, color: r.color, reason: r.reason, at: new Date(r.at).toISOString(), abortedAtDeadline: r.abortedAtDeadline } : null;
  };

  if (q.state === 'gone') {
    if (!up) {
      const removed = lastRemoval();
      const message = removed ? `${label(removed)} left the proxy at ${removed.at} (${removed.reason})` : `no upstream is named ${JSON.stringify(q.key)}: the proxy routes nothing to it`;
      return { ...base, removed, outcome: 'reached', reason: 'gone', message };
    }
    const inFlight = up.inFlight > 0 ? `, ${up.inFlight} request${up.inFlight === 1 ? '' : 's'} or socket${up.inFlight === 1 ? '' : 's'} in flight` : '';
    const message =
      up.state === 'draining'
        ? `${label(up)} is still draining${inFlight}; drain deadline ${base.upstream!.drainDeadline ?? 'unknown'}`
        : `${label(up)} is still an upstream of service ${up.service} (${up.state}${inFlight}): stop the container or drain it (bluegreen drain ${up.id.slice(0, 12)})`;
    return { ...base, outcome: 'waiting', reason: 'present', message };
  }

  if (!up) {
    const rejected = rejectedFor(src.rejected, q.key);
    if (rejected.length > 0) {
      const first = rejected[0]!;
      return {
        ...base,
        rejected,
        outcome: q.fail.has('rejected') ? 'failed' : 'waiting',
        reason: 'rejected',
        message: `${label(first)} was rejected by the proxy: ${rejected.map((r) => r.message).join('; ')}`,
      };
    }
    const removedSince = lastRemoval(since);
    const removed = removedSince ?? lastRemoval();
    if (removed) {
      return {
        ...base,
        removed,
        outcome: removedSince && q.fail.has('stopped') ? 'failed' : 'waiting',
        reason: 'stopped',
        message: `${label(removed)} was an upstream of service ${removed.service} and left the proxy at ${removed.at} (${removed.reason}); it is not running, or not yet registered again`,
      };
    }
    return {
      ...base,
      outcome: 'waiting',
      reason: 'unknown',
      message: `the proxy knows no container ${JSON.stringify(q.key)}: no running container with bluegreen labels has this id, name or task id (not started yet, no bluegreen.service label, or already gone)`,
    };
  }

  const us = base.upstream!;
  const why = us.stateReason; // a probe's or Docker health's last verdict, '' when nobody said
  switch (up.state) {
    case 'starting':
      return {
        ...base,
        outcome: 'waiting',
        reason: 'starting',
        message: `${label(up)} is not healthy yet: starting${why ? `; last check: ${why}` : '; no readiness check has succeeded yet (its Docker HEALTHCHECK, or the proxy\'s probe)'}`,
      };
    case 'unhealthy':
      return { ...base, outcome: 'waiting', reason: 'unhealthy', message: `${label(up)} is unhealthy${why ? `: ${why}` : ''}` };
    case 'draining':
    case 'gone':
      return {
        ...base,
        outcome: q.fail.has('stopped') ? 'failed' : 'waiting',
        reason: 'draining',
        message: `${label(up)} is stopping: the proxy is draining it (deadline ${us.drainDeadline ?? 'unknown'})`,
      };
    case 'ready':
      break;
  }
  if (q.state === 'ready') return { ...base, outcome: 'reached', reason: 'ready', message: `${label(up)} is ready in service ${up.service}` };
  if (svc && svc.eligible().includes(up)) {
    const paused = svc.paused ? ' (the service is paused: requests are held until it is resumed)' : '';
    return { ...base, outcome: 'reached', reason: 'routed', message: `${label(up)} is routed: it is in service ${up.service}'s rotation${paused}` };
  }
  return {
    ...base,
    outcome: 'waiting',
    reason: 'inactive',
    message: `${label(up)} is ready but not in rotation: its color ${up.color ?? 'none'} is not service ${up.service}'s active color (${svc?.activeColor ?? 'none'}, switching ${svc?.colorMode ?? 'auto'})`,
  };
}
