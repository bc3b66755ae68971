import type { ServiceStatus, StatusSnapshot, UpstreamStatus } from '../control/status.ts';

// The decisions of `bluegreen deploy`, as pure functions of the proxy's status (GET /api/status):
// which color is idle, whether a rollback has a warm color to go back to, when the new color counts
// as ready, what the old color still has to drain. No I/O here; deploy-run.ts acts on the answers.

export const COLORS = ['blue', 'green'] as const;
export type Color = (typeof COLORS)[number];
export type ColorMode = ServiceStatus['colorMode'];

export function isColor(c: unknown): c is Color {
  return c === 'blue' || c === 'green';
}

export function otherColor(c: Color): Color {
  return c === 'blue' ? 'green' : 'blue';
}

/** A release: start `to`, switch to it, then drain and stop `from` (null: nothing serves yet). */
export interface DeployPlan {
  service: string;
  from: Color | null;
  to: Color;
  /** The service's color mode now; null when the proxy does not know the service yet. */
  mode: ColorMode | null;
}

/** A rollback: switch to `to`, which still has `warm` ready upstreams. */
export interface RollbackPlan {
  service: string;
  from: Color;
  to: Color;
  warm: number;
}

export type Planned<T> = { ok: true; plan: T } | { ok: false; reason: string };

export function findService(status: StatusSnapshot, name: string): ServiceStatus | undefined {
  return status.services.find((s) => s.name === name);
}

/** The idle color of SERVICE, or why a blue/green release cannot start. */
export function planDeploy(status: StatusSnapshot, name: string): Planned<DeployPlan> {
  const svc = findService(status, name);
  if (!svc) return { ok: true, plan: { service: name, from: null, to: 'blue', mode: null } };
  const uncolored = svc.upstreams.filter((u) => u.color === null && u.state !== 'gone');
  if (uncolored.length > 0) {
    return {
      ok: false,
      reason: `service ${name} has upstreams without a bluegreen.color label (${names(uncolored)}): it is not a blue/green service`,
    };
  }
  const active = svc.activeColor;
  if (active === null) return { ok: true, plan: { service: name, from: null, to: 'blue', mode: svc.colorMode } };
  if (!isColor(active)) return { ok: false, reason: `service ${name}'s active color is ${JSON.stringify(active)}; deploy knows only blue and green` };
  return { ok: true, plan: { service: name, from: active, to: otherColor(active), mode: svc.colorMode } };
}

/** Back to the other color, which must still have a ready upstream (running, not drained). */
export function planRollback(status: StatusSnapshot, name: string): Planned<RollbackPlan> {
  const svc = findService(status, name);
  if (!svc) return { ok: false, reason: `the proxy knows no service ${name}` };
  const active = svc.activeColor;
  if (active === null) return { ok: false, reason: `service ${name} has no active color to roll back from` };
  if (!isColor(active)) return { ok: false, reason: `service ${name}'s active color is ${JSON.stringify(active)}; rollback knows only blue and green` };
  const to = otherColor(active);
  const mine = svc.upstreams.filter((u) => u.color === to);
  const warm = mine.filter((u) => u.state === 'ready').length;
  if (warm === 0) {
    const what = mine.length ? `its upstreams are ${states(mine)}` : 'it has no upstream in the proxy (stopped, or drained by a deploy)';
    return { ok: false, reason: `cannot roll back ${name} to ${to}: ${what}; run bluegreen deploy ${name} to start it again` };
  }
  return { ok: true, plan: { service: name, from: active, to, warm } };
}

/** Where the new color's containers stand, by container id. */
export interface Readiness {
  /** Every container compose started for the new color is a ready upstream of it. */
  done: boolean;
  ready: number;
  total: number;
  /** Waiting cannot help: a container was rejected or registered under another service or color. */
  fatal: string | undefined;
  /** One phrase per container, e.g. `web-green-1 (0123456789ab): unhealthy`. */
  detail: string[];
}

/** Docker ids in full or abbreviated (12+ characters) refer to the same container. */
export function sameId(a: string, b: string): boolean {
  if (a.length < 12 || b.length < 12) return a === b;
  return a.startsWith(b) || b.startsWith(a);
}

export function assessReadiness(status: StatusSnapshot, name: string, color: Color, containerIds: readonly string[]): Readiness {
  const all = status.services.flatMap((s) => s.upstreams);
  const rejected = (status.discovery?.rejected ?? []) as Partial<Record<'id' | 'name' | 'message', unknown>>[];
  const detail: string[] = [];
  const fatal: string[] = [];
  let ready = 0;
  for (const id of containerIds) {
    const short = id.slice(0, 12);
    const refusals = rejected.filter((r) => typeof r.id === 'string' && sameId(r.id, id));
    if (refusals.length > 0) {
      const why = refusals.map((r) => String(r.message)).join('; ');
      fatal.push(`container ${String(refusals[0]!.name)} (${short}) was rejected by the proxy: ${why}`);
      detail.push(`${String(refusals[0]!.name)} (${short}): rejected`);
      continue;
    }
    const up = all.find((u) => sameId(u.id, id));
    if (!up) {
      detail.push(`${short}: not registered by the proxy yet`);
      continue;
    }
    detail.push(`${up.name} (${short}): ${up.state}`);
    if (up.service !== name) fatal.push(`container ${up.name} is an upstream of service ${up.service}, not ${name}: check its bluegreen.service label`);
    else if (up.color !== color) fatal.push(`container ${up.name} has color ${up.color ?? 'none'}, not ${color}: check its bluegreen.color label`);
    else if (up.state === 'ready') ready++;
  }
  const total = containerIds.length;
  return { done: total > 0 && ready === total && fatal.length === 0, ready, total, fatal: fatal.length ? fatal.join('; ') : undefined, detail };
}

/** The old color's upstreams: those to drain now and those already draining (to wait for). */
export function drainTargets(status: StatusSnapshot, name: string, color: Color): { drain: UpstreamStatus[]; draining: UpstreamStatus[] } {
  const ups = (findService(status, name)?.upstreams ?? []).filter((u) => u.color === color);
  return {
    drain: ups.filter((u) => u.state !== 'draining' && u.state !== 'gone'),
    draining: ups.filter((u) => u.state === 'draining'),
  };
}

/** Which of `ids` the proxy still lists (not gone). */
export function stillPresent(status: StatusSnapshot, ids: readonly string[]): UpstreamStatus[] {
  const all = status.services.flatMap((s) => s.upstreams);
  return all.filter((u) => u.state !== 'gone' && ids.includes(u.id));
}

function names(ups: readonly UpstreamStatus[]): string {
  return ups.map((u) => u.name).join(', ');
}

function states(ups: readonly UpstreamStatus[]): string {
  return ups.map((u) => `${u.name} ${u.state}`).join(', ');
}
