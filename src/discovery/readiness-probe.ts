import { request } from 'node:http';
import { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Probe } from './labels.ts';
import { STARTING_PROBE_INTERVAL_MS } from './labels.ts';

// Our readiness probe, for containers without a Docker HEALTHCHECK: a TCP connect, or an HTTP GET
// when `bluegreen.healthcheck.path` is set. Every 250 ms while starting; then at the label's
// interval, where 3 failures in a row make it unhealthy and one success makes it ready again.

/** Consecutive failures after ready that take an upstream out of rotation. */
export const UNHEALTHY_AFTER_FAILURES = 3;

export type OwnProbe = Exclude<Probe, { kind: 'docker' }>;

export interface ProbeTarget {
  host: string;
  port: number;
  probe: OwnProbe;
}

export interface ProbeHandlers {
  /** First success, and every success after unhealthy. */
  onReady(): void;
  /** UNHEALTHY_AFTER_FAILURES failures in a row after ready. */
  onUnhealthy(reason: string): void;
  /** A failed check before the first success (the upstream is still starting). */
  onStartingFailure?(reason: string): void;
}

/** One check: resolves with undefined on success or the reason it failed. Never rejects. */
export function checkOnce(target: ProbeTarget, signal: AbortSignal): Promise<string | undefined> {
  return target.probe.kind === 'http' ? checkHttp(target, target.probe.path, signal) : checkTcp(target, signal);
}

function checkTcp(t: ProbeTarget, signal: AbortSignal): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = new Socket({ signal });
    const done = (why: string | undefined) => {
      socket.destroy();
      resolve(why);
    };
    socket.setTimeout(t.probe.timeoutMs, () => done(`no TCP connect within ${t.probe.timeoutMs}ms`));
    socket.once('connect', () => done(undefined));
    socket.once('error', (err) => done(`TCP connect failed: ${err.message}`));
    socket.connect(t.port, t.host);
  });
}

function checkHttp(t: ProbeTarget, path: string, signal: AbortSignal): Promise<string | undefined> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (why: string | undefined) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve(why);
    };
    const host = t.host.includes(':') ? `[${t.host}]` : t.host;
    const req = request({
      host: t.host,
      port: t.port,
      path,
      method: 'GET',
      agent: false,
      signal,
      headers: { host: `${host}:${t.port}`, 'user-agent': 'bluegreen-probe', connection: 'close' },
    });
    const timer = setTimeout(() => done(`no HTTP answer within ${t.probe.timeoutMs}ms`), t.probe.timeoutMs);
    req.once('response', (res) => {
      const status = res.statusCode ?? 0;
      res.resume();
      done(status >= 200 && status < 400 ? undefined : `GET ${path} answered ${status}`);
    });
    req.once('error', (err) => done(`GET ${path} failed: ${err.message}`));
    req.end();
  });
}

/**
 * Runs the probe until `signal` aborts (the upstream drains or leaves). Calls the handlers on
 * transitions only, never twice in a row for the same state.
 */
export async function runReadinessProbe(target: ProbeTarget, signal: AbortSignal, handlers: ProbeHandlers): Promise<void> {
  let state: 'starting' | 'ready' | 'unhealthy' = 'starting';
  let failures = 0;
  while (!signal.aborted) {
    const failed = await checkOnce(target, signal);
    if (signal.aborted) return;
    if (failed === undefined) {
      failures = 0;
      if (state !== 'ready') {
        state = 'ready';
        handlers.onReady();
      }
    } else if (state === 'starting') {
      handlers.onStartingFailure?.(failed);
    } else if (state === 'ready' && ++failures >= UNHEALTHY_AFTER_FAILURES) {
      state = 'unhealthy';
      handlers.onUnhealthy(failed);
    }
    const wait = state === 'starting' ? STARTING_PROBE_INTERVAL_MS : target.probe.intervalMs;
    try {
      await sleep(wait, undefined, { signal });
    } catch {
      return; // aborted
    }
  }
}
