import { tryParseDuration } from '../config/units.ts';
import { BluegreenError } from '../errors.ts';

// The parameters of `GET /api/wait`, parsed and bounded. Bad input is a 400 naming the parameter.

/**
 * What to wait for:
 * - `routed`: the container is a ready upstream in its service's rotation (of the active color in
 *   blue/green mode): new requests go to it.
 * - `ready`: the container is a ready upstream, whether or not its color is active (what a
 *   blue/green deploy waits for before it switches).
 * - `gone`: the proxy routes nothing to it any more: it drained and was removed (or was never known).
 */
export type WaitState = 'routed' | 'ready' | 'gone';
/** Outcomes that end a wait at once (409) instead of at its timeout (504). */
export type WaitFail = 'rejected' | 'stopped';

export interface WaitQuery {
  /** A container id (full or a unique prefix of 4+ characters), a container name, or a swarm task id. */
  key: string;
  state: WaitState;
  timeoutMs: number;
  fail: ReadonlySet<WaitFail>;
}

export const DEFAULT_WAIT_TIMEOUT_MS = 30_000;
/** Longest single wait; a client that needs longer asks again (the CLI does). */
export const MAX_WAIT_TIMEOUT_MS = 10 * 60_000;

const STATES: readonly WaitState[] = ['routed', 'ready', 'gone'];
const FAILS: readonly WaitFail[] = ['rejected', 'stopped'];

export function parseWaitQuery(params: URLSearchParams): WaitQuery {
  for (const name of new Set(params.keys())) {
    if (!['container', 'state', 'timeout', 'fail'].includes(name)) {
      throw new BluegreenError('BAD_REQUEST', `unknown parameter ${JSON.stringify(name)}; /api/wait takes container, state, timeout and fail`);
    }
    if (params.getAll(name).length > 1) throw new BluegreenError('BAD_REQUEST', `parameter ${name} is given more than once`);
  }
  const key = (params.get('container') ?? '').trim().replace(/^\//, '');
  if (key === '') throw new BluegreenError('BAD_REQUEST', 'container is required: /api/wait?container=ID (a container id or unique id prefix, a container name, or a swarm task id)');
  if (key.length > 256 || /[\s\x00-\x1f]/.test(key)) throw new BluegreenError('BAD_REQUEST', `container ${JSON.stringify(key.slice(0, 64))} is not a container id or name`);

  const stateText = params.get('state') ?? 'routed';
  if (!(STATES as readonly string[]).includes(stateText)) {
    throw new BluegreenError('BAD_REQUEST', `state ${JSON.stringify(stateText)} is not one of ${STATES.join(', ')}`);
  }

  let timeoutMs = DEFAULT_WAIT_TIMEOUT_MS;
  const timeoutText = params.get('timeout');
  if (timeoutText !== null) {
    const parsed = tryParseDuration(timeoutText);
    if (!parsed.ok) throw new BluegreenError('BAD_REQUEST', `timeout ${JSON.stringify(timeoutText)} ${parsed.reason}`);
    if (parsed.value > MAX_WAIT_TIMEOUT_MS) {
      throw new BluegreenError('BAD_REQUEST', `timeout ${timeoutText} is longer than the maximum 10m; wait again after a timeout to wait longer`);
    }
    timeoutMs = parsed.value;
  }

  const fail = new Set<WaitFail>();
  const failText = params.get('fail');
  if (failText !== null && failText !== '') {
    for (const f of failText.split(',').map((s) => s.trim())) {
      if (!(FAILS as readonly string[]).includes(f)) throw new BluegreenError('BAD_REQUEST', `fail ${JSON.stringify(f)} is not one of ${FAILS.join(', ')}`);
      fail.add(f as WaitFail);
    }
  }
  return { key, state: stateText as WaitState, timeoutMs, fail };
}
