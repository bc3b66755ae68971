import { HoldQueue } from '../dataplane/hold-queue.ts';
import type { Upstream } from './upstream.ts';

export type ColorMode = 'auto' | 'manual';

/** Where a service is reached: host patterns (exact or `*.suffix`) and an optional path prefix. */
export interface ServiceRoute {
  hosts: readonly string[];
  pathPrefix?: string | undefined;
}

/**
 * A named pool of upstreams. It owns the hold queue, the pause flag and, in blue/green mode, the
 * active color. `eligible()` is what the balancer may choose from: ready upstreams of the active color.
 */
export class Service {
  readonly name: string;
  route: ServiceRoute = { hosts: [] };
  readonly upstreams = new Map<string, Upstream>();
  readonly holdQueue: HoldQueue;
  paused = false;
  activeColor: string | undefined;
  colorMode: ColorMode = 'auto';
  /** Why the active color became what it is (the last switch). */
  switchNote = '';
  held = 0;
  holdTimeouts = 0;
  maxHoldMs = 0;
  #eligible: Upstream[] | null = null;

  constructor(name: string, holdQueueSize: number) {
    this.name = name;
    this.holdQueue = new HoldQueue(holdQueueSize);
  }

  get isDefault(): boolean {
    return this.route.hosts.length === 0 && !this.route.pathPrefix;
  }

  /** True when any upstream carries a color: the service is in blue/green mode. */
  get colored(): boolean {
    for (const u of this.upstreams.values()) if (u.color !== undefined) return true;
    return false;
  }

  eligible(): Upstream[] {
    if (this.#eligible) return this.#eligible;
    const out: Upstream[] = [];
    const colored = this.colored;
    for (const u of this.upstreams.values()) {
      if (u.state !== 'ready') continue;
      if (colored && u.color !== this.activeColor) continue;
      out.push(u);
    }
    this.#eligible = out;
    return out;
  }

  /** Called by the registry whenever membership, a state, or the active color changes. */
  invalidate(): void {
    this.#eligible = null;
  }

  /**
   * For the admin status: why a newer color is not taking over (none of its upstreams is ready,
   * with each one's state and reason), else why the active color is what it is.
   */
  get colorNote(): string {
    return this.waitingColorNote() ?? this.switchNote;
  }

  /** A color newer than the active one that has no ready upstream, and why; undefined when there is none. */
  waitingColorNote(): string | undefined {
    const active = this.activeColor;
    if (active === undefined) return undefined;
    const newest = new Map<string, number>();
    for (const u of this.upstreams.values()) {
      if (u.color === undefined || u.state === 'draining' || u.state === 'gone') continue;
      newest.set(u.color, Math.max(newest.get(u.color) ?? -Infinity, u.createdAt));
    }
    const activeAge = newest.get(active) ?? -Infinity;
    const notes: string[] = [];
    for (const [color, age] of newest) {
      if (color === active || age <= activeAge) continue;
      const ups = [...this.upstreams.values()].filter((u) => u.color === color && u.state !== 'draining' && u.state !== 'gone');
      if (ups.some((u) => u.state === 'ready')) continue;
      const why = ups.map((u) => `${u.name} ${u.state}${u.stateReason ? `: ${u.stateReason}` : ''}`).join('; ');
      notes.push(`color ${color} is newer but not switched to: no ready upstream (${why})`);
    }
    if (notes.length === 0) return undefined;
    return `${notes.join('; ')}; ${active} keeps serving`;
  }

  colors(): string[] {
    const set = new Set<string>();
    for (const u of this.upstreams.values()) if (u.color !== undefined) set.add(u.color);
    return [...set].sort();
  }

  /**
   * The auto rule: the newest color that has a ready upstream becomes active, once the current
   * active color is older or has begun to stop. A color with no ready upstream never takes over.
   */
  autoColor(): string | undefined {
    let best: string | undefined;
    let bestAge = -Infinity;
    const newest = new Map<string, number>();
    const ready = new Set<string>();
    const live = new Set<string>();
    for (const u of this.upstreams.values()) {
      if (u.color === undefined) continue;
      if (u.state === 'ready') ready.add(u.color);
      if (u.state !== 'draining' && u.state !== 'gone') live.add(u.color);
      newest.set(u.color, Math.max(newest.get(u.color) ?? -Infinity, u.createdAt));
    }
    for (const c of ready) {
      const age = newest.get(c) ?? -Infinity;
      if (age > bestAge) {
        best = c;
        bestAge = age;
      }
    }
    const active = this.activeColor;
    if (best === undefined) return active;
    if (active === undefined || !ready.has(active) || !live.has(active)) return best;
    if (best !== active && bestAge > (newest.get(active) ?? -Infinity)) return best;
    return active;
  }
}
