import { constants } from 'node:os';

// Which `kill` events mean "this container is stopping". `docker stop` sends the container's
// StopSignal (SIGTERM unless the image or compose says otherwise), then SIGKILL; `docker kill`
// sends SIGKILL. A SIGHUP or SIGUSR1 sent to reload config is not a stop.

const ALWAYS_STOP = ['SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGKILL'] as const;

/** `15`, `SIGTERM`, `TERM` or `sigterm` to 15; undefined for anything else (e.g. `SIGRTMIN+3`). */
export function signalNumber(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const s = text.trim().toUpperCase();
  if (/^\d{1,2}$/.test(s)) {
    const n = Number(s);
    return n >= 1 && n <= 64 ? n : undefined;
  }
  const name = (s.startsWith('SIG') ? s : `SIG${s}`) as keyof typeof constants.signals;
  const n = (constants.signals as Record<string, number | undefined>)[name];
  return typeof n === 'number' ? n : undefined;
}

/** The signal numbers that start a drain for a container with this StopSignal. */
export function stopSignals(stopSignal: string | undefined): ReadonlySet<number> {
  const set = new Set<number>(ALWAYS_STOP.map((s) => constants.signals[s]));
  const own = signalNumber(stopSignal);
  if (own !== undefined) set.add(own);
  return set;
}

/**
 * Whether a kill event's `signal` attribute means the container is stopping. A signal that cannot
 * be read counts as a stop: draining a container that keeps running costs less than sending
 * requests to one that is going away.
 */
export function isStopSignal(signal: string | undefined, stops: ReadonlySet<number>): boolean {
  const n = signalNumber(signal);
  return n === undefined || stops.has(n);
}
