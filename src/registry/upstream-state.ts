// The lifecycle of an upstream, as an explicit transition table. Illegal moves are rejected:
// a health check can never flip a draining upstream back to ready.

export type UpstreamState = 'starting' | 'ready' | 'unhealthy' | 'draining' | 'gone';

const TRANSITIONS: Readonly<Record<UpstreamState, readonly UpstreamState[]>> = {
  starting: ['ready', 'unhealthy', 'draining', 'gone'],
  ready: ['unhealthy', 'draining', 'gone'],
  unhealthy: ['ready', 'draining', 'gone'],
  draining: ['gone'],
  gone: [],
};

export function canTransition(from: UpstreamState, to: UpstreamState): boolean {
  return TRANSITIONS[from].includes(to);
}

export const UPSTREAM_STATES: readonly UpstreamState[] = Object.keys(TRANSITIONS) as UpstreamState[];
