import type { UpstreamStatus } from '../control/status.ts';
import type { RejectedEntry, WaitReason } from '../control/wait-lookup.ts';
import { MAX_WAIT_TIMEOUT_MS, type WaitFail, type WaitState } from '../control/wait-query.ts';
import { AdminApiError, type CallOptions } from './admin-client.ts';

// The client side of GET /api/wait, for `bluegreen wait` and `bluegreen deploy`: one call per
// at most MAX_WAIT_TIMEOUT_MS (the server's bound), again until the caller's whole timeout is spent.

/** The JSON the wait answers with, on success and (with code) on a timeout or failure. */
export interface WaitAnswer {
  code?: 'WAIT_TIMEOUT' | 'WAIT_FAILED';
  container: string;
  state: WaitState;
  reason: WaitReason;
  message: string;
  waitedMs: number;
  upstream: UpstreamStatus | null;
  service: { name: string; activeColor: string | null; colorMode: string; paused: boolean } | null;
  rejected: RejectedEntry[];
  removed: { id: string; name: string; service: string; color: string | null; reason: string; at: string } | null;
}

export type WaitResult = { ok: true; answer: WaitAnswer } | { ok: false; answer: WaitAnswer };

export interface WaitApi {
  get<T>(path: string, opts?: CallOptions): Promise<T>;
}

/** Extra time the HTTP call gets beyond the wait's own timeout, for the answer to arrive. */
const ANSWER_MARGIN_MS = 15_000;

/**
 * Waits until `container` is in `state` or `timeoutMs` has passed. Resolves with the answer
 * either way (ok: false on a timeout, or at once on a `fail` outcome); rejects on other API
 * errors (AdminApiError: bad input, token) and when the admin API cannot be reached.
 */
export async function waitFor(
  admin: WaitApi,
  container: string,
  state: WaitState,
  timeoutMs: number,
  opts: { fail?: readonly WaitFail[]; signal?: AbortSignal | undefined } = {},
): Promise<WaitResult> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const chunk = Math.max(0, Math.min(deadline - Date.now(), MAX_WAIT_TIMEOUT_MS));
    const q = new URLSearchParams({ container, state, timeout: `${chunk}ms` });
    if (opts.fail?.length) q.set('fail', opts.fail.join(','));
    try {
      const answer = await admin.get<WaitAnswer>(`/api/wait?${q.toString()}`, { timeoutMs: chunk + ANSWER_MARGIN_MS, signal: opts.signal });
      return { ok: true, answer };
    } catch (err) {
      if (!(err instanceof AdminApiError) || (err.code !== 'WAIT_TIMEOUT' && err.code !== 'WAIT_FAILED')) throw err;
      const answer = err.body as WaitAnswer;
      if (err.code === 'WAIT_FAILED' || Date.now() >= deadline) return { ok: false, answer };
    }
  }
}

/** One phrase for where the container stands, e.g. `web-green-1 (0123456789ab): starting (http probe: ...)`. */
export function describeWait(a: WaitAnswer): string {
  const u = a.upstream;
  if (u) {
    return `${u.name} (${u.id.slice(0, 12)}): ${u.state}${u.stateReason ? ` (${u.stateReason})` : ''}${a.reason === 'inactive' ? ', color not active' : ''}`;
  }
  const short = a.container.slice(0, 12);
  if (a.reason === 'rejected' && a.rejected[0]) return `${a.rejected[0].name} (${a.rejected[0].id.slice(0, 12)}): rejected`;
  if (a.reason === 'stopped' && a.removed) return `${a.removed.name} (${a.removed.id.slice(0, 12)}): stopped (${a.removed.reason})`;
  if (a.reason === 'gone') return `${short}: gone`;
  return `${short}: not registered by the proxy yet`;
}
