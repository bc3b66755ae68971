import { StringDecoder } from 'node:string_decoder';
import type { Logger } from 'pino';

// The Docker Engine's `/events` stream, as bytes in and discovery events out. Pure apart from the
// log line for garbage: the caller feeds it chunks in any cut (a chunk can hold several events or
// half of one, even half of a UTF-8 character) and gets whole, relevant events back.

/** The event actions discovery acts on. Everything else (exec_*, create, attach, ...) is dropped. */
export type DiscoveryAction =
  | 'start'
  | 'unpause'
  | 'kill'
  | 'stop'
  | 'pause'
  | 'die'
  | 'destroy'
  | 'health_status'
  | 'connect'
  | 'disconnect'
  | 'create'
  | 'update'
  | 'remove';

export interface DockerEvent {
  type: 'container' | 'network' | 'service' | 'node';
  action: DiscoveryAction;
  /** The container the event is about (for network events: the container connected or disconnected; '' for service events). */
  containerId: string;
  /** Service events (swarm managers) only: the service's id. */
  serviceId?: string;
  /** Container events: the container's attributes (labels, name, image, `signal` on kill, ...). */
  attributes: Record<string, string>;
  /** `health_status` only: `healthy` or `unhealthy`. */
  health?: 'healthy' | 'unhealthy';
  /** Network events only: the network's name. */
  network?: string;
  /** Event time in ns since the epoch, exactly as Docker sent it (digits). */
  timeNano: string;
  /** Event time in ms since the epoch. */
  timeMs: number;
  /** Identifies the event for de-duplication when a reconnect replays events with `since`. */
  key: string;
}

/** What one line of the stream turned out to be. */
export type ParsedLine = { kind: 'event'; event: DockerEvent } | { kind: 'ignored' } | { kind: 'garbage'; reason: string };

const CONTAINER_ACTIONS: ReadonlySet<string> = new Set(['start', 'unpause', 'kill', 'stop', 'pause', 'die', 'destroy', 'health_status']);
const NETWORK_ACTIONS: ReadonlySet<string> = new Set(['connect', 'disconnect']);
/** Service events come from swarm managers: its labels (`deploy.labels`) may have changed, or it is gone. */
const SERVICE_ACTIONS: ReadonlySet<string> = new Set(['create', 'update', 'remove']);
/** Node events come from swarm managers: a node was drained, went down or came back; its tasks move. */
const NODE_ACTIONS: ReadonlySet<string> = new Set(['create', 'update', 'remove']);
/** A line longer than this without a newline is not an event; it is dropped so memory stays bounded. */
export const MAX_EVENT_LINE_BYTES = 1024 * 1024;

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : {});
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/** Parses one line (without its newline). Blank lines are `ignored`; non-JSON or shapeless lines are `garbage`. */
export function parseEventLine(line: string): ParsedLine {
  const text = line.trim();
  if (text === '') return { kind: 'ignored' };
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { kind: 'garbage', reason: 'not JSON' };
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { kind: 'garbage', reason: 'not a JSON object' };
  const root = raw as Obj;
  const type = str(root['Type']);
  const fullAction = str(root['Action']) || str(root['status']);
  if (type === '' || fullAction === '') return { kind: 'garbage', reason: 'no Type or Action' };
  // `health_status: healthy`, `exec_start: sh -c ...`: the action is the part before ': '.
  const colon = fullAction.indexOf(':');
  const action = colon >= 0 ? fullAction.slice(0, colon) : fullAction;
  const detail = colon >= 0 ? fullAction.slice(colon + 1).trim() : '';

  const actor = obj(root['Actor']);
  const attributes = Object.fromEntries(
    Object.entries(obj(actor['Attributes'])).filter((e): e is [string, string] => typeof e[1] === 'string'),
  );
  const time = eventTime(text, root);
  if (!time) return { kind: 'garbage', reason: 'no time' };

  let event: DockerEvent;
  if (type === 'container') {
    if (!CONTAINER_ACTIONS.has(action)) return { kind: 'ignored' };
    const containerId = str(actor['ID']) || str(root['id']);
    if (containerId === '') return { kind: 'garbage', reason: 'container event without an id' };
    event = { type, action: action as DiscoveryAction, containerId, attributes, ...time, key: '' };
    if (action === 'health_status') {
      if (detail !== 'healthy' && detail !== 'unhealthy') return { kind: 'ignored' }; // `starting` changes nothing
      event.health = detail;
    }
  } else if (type === 'network') {
    if (!NETWORK_ACTIONS.has(action)) return { kind: 'ignored' };
    const containerId = attributes['container'] ?? '';
    if (containerId === '') return { kind: 'ignored' }; // e.g. a network connect of a swarm load balancer
    event = { type, action: action as DiscoveryAction, containerId, attributes, network: attributes['name'] ?? '', ...time, key: '' };
  } else if (type === 'service') {
    if (!SERVICE_ACTIONS.has(action)) return { kind: 'ignored' };
    const serviceId = str(actor['ID']);
    if (serviceId === '') return { kind: 'garbage', reason: 'service event without an id' };
    event = { type, action: action as DiscoveryAction, containerId: '', serviceId, attributes, ...time, key: '' };
  } else if (type === 'node') {
    if (!NODE_ACTIONS.has(action)) return { kind: 'ignored' };
    event = { type, action: action as DiscoveryAction, containerId: '', attributes, ...time, key: '' };
  } else {
    return { kind: 'ignored' };
  }
  event.key = `${event.timeNano}|${type}|${fullAction}|${str(actor['ID'])}|${event.containerId}`;
  return { kind: 'event', event };
}

/**
 * `timeNano` as exact digits: JSON.parse would round it (it is above 2^53), so it is read from the
 * text; `time` (seconds) is the fallback.
 */
function eventTime(text: string, root: Obj): { timeNano: string; timeMs: number } | undefined {
  const m = /"timeNano"\s*:\s*(\d{1,20})\s*[,}]/.exec(text);
  if (m) {
    const timeNano = m[1]!.replace(/^0+(?=\d)/, '');
    return { timeNano, timeMs: Number(BigInt(timeNano) / 1_000_000n) };
  }
  const seconds = root['time'];
  if (typeof seconds === 'number' && Number.isSafeInteger(seconds) && seconds > 0) {
    return { timeNano: `${seconds}000000000`, timeMs: seconds * 1000 };
  }
  return undefined;
}

/**
 * Splits the byte stream into lines itself and parses each. One decoder per connection: a half
 * line left at the end of a stream is dropped with `end()`, never glued to the next connection's.
 */
export class EventDecoder {
  readonly #log: Logger;
  readonly #utf8 = new StringDecoder('utf8');
  #partial = '';
  #skipping = false;
  garbage = 0;

  constructor(log: Logger) {
    this.#log = log;
  }

  /** Feeds one chunk; returns the relevant events it completed, in order. */
  push(chunk: Buffer | string): DockerEvent[] {
    const text = typeof chunk === 'string' ? chunk : this.#utf8.write(chunk);
    const out: DockerEvent[] = [];
    let start = 0;
    for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', start)) {
      const line = this.#partial + text.slice(start, nl);
      this.#partial = '';
      start = nl + 1;
      if (this.#skipping) {
        this.#skipping = false; // the end of an over-long line
        continue;
      }
      this.#take(line, out);
    }
    if (!this.#skipping) this.#partial += text.slice(start);
    if (this.#partial.length > MAX_EVENT_LINE_BYTES) {
      this.#drop(this.#partial, `longer than ${MAX_EVENT_LINE_BYTES} bytes without a newline`);
      this.#partial = '';
      this.#skipping = true;
    }
    return out;
  }

  /** The stream ended: a complete last line without a newline still counts; a half one is dropped. */
  end(): DockerEvent[] {
    const rest = this.#partial + this.#utf8.end();
    this.#partial = '';
    const out: DockerEvent[] = [];
    if (!this.#skipping && rest.trim() !== '') this.#take(rest, out);
    this.#skipping = false;
    return out;
  }

  #take(line: string, out: DockerEvent[]): void {
    const r = parseEventLine(line);
    if (r.kind === 'event') out.push(r.event);
    else if (r.kind === 'garbage') this.#drop(line, r.reason);
  }

  #drop(line: string, reason: string): void {
    this.garbage++;
    const sample = line.length > 200 ? `${line.slice(0, 200)}…` : line;
    this.#log.warn({ reason, line: sample }, 'docker event stream: dropped a line that is not an event');
  }
}
