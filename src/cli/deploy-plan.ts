import type { ServiceStatus, StatusSnapshot, UpstreamStatus } from '../control/status.ts';

// The decisions of `bluegreen deploy`, as pure functions of the proxy's status (GET /api/status):
// which color is idle, whether a rollback has a warm color to go back to, what the old color still
// has to drain. No I/O here; deploy-run.ts acts on the answers (and asks GET /api/wait when the new
// color is ready and the old one gone).

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

/** The old color's upstreams: those to drain now and those already draining (to wait for). */
export function drainTargets(status: StatusSnapshot, name: string, color: Color): { drain: UpstreamStatus[]; draining: UpstreamStatus[] } {
  const ups = (findService(status, name)?.upstreams ?? []).filter((u) => u.color === color);
  return {
    drain: ups.filter((u) => u.state !== 'draining' && u.state !== 'gone'),
    draining: ups.filter((u) => u.state === 'draining'),
  };
}

function names(ups: readonly UpstreamStatus[]): string {
  return ups.map((u) => u.name).join(', ');
}

function states(ups: readonly UpstreamStatus[]): string {
  return ups.map((u) => `${u.name} ${u.state}`).join(', ');
}
