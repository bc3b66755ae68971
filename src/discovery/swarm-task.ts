// A swarm task as a manager's `GET /tasks` (API 1.41) shows it, and what discovery makes of it.
// Pure: JSON in (read defensively, input `unknown`), a narrow view and a verdict out.
//
// What the API shows (Docker 20.10, checked on a multi-node swarm): a task's DesiredState and its
// overlay addresses (NetworksAttachments) from the moment it is assigned, before its container
// exists. An update sets an old task's DesiredState to `shutdown` seconds before its container is
// signalled. A task whose service (or image) has a healthcheck stays in Status.State `starting`
// until the container is healthy: `running` already means healthy there (1.41 has no separate
// health field on a task).
import type { ContainerInfo, ContainerNetwork } from './container-info.ts';
import { LABEL_PREFIX } from './labels.ts';

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : {});
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/** Task states in swarmkit's order; the index orders them. */
const STATES = ['new', 'pending', 'assigned', 'accepted', 'preparing', 'ready', 'starting', 'running', 'complete', 'shutdown', 'failed', 'rejected', 'remove', 'orphaned'] as const;
export type TaskState = (typeof STATES)[number];
const RUNNING = STATES.indexOf('running');

function taskState(v: unknown): TaskState | undefined {
  const s = str(v).toLowerCase();
  return (STATES as readonly string[]).includes(s) ? (s as TaskState) : undefined;
}

export interface TaskView {
  id: string;
  serviceId: string;
  nodeId: string;
  /** Replicated services: the slot (1..replicas); 0 for global ones. */
  slot: number;
  desired: TaskState | undefined;
  state: TaskState | undefined;
  /** Status.Message / Err, for log lines. */
  message: string;
  /** Status.ContainerStatus.ContainerID, once the node created the container. */
  containerId: string;
  /** Spec.ContainerSpec.Labels (the container's own labels). */
  labels: Record<string, string>;
  /** Overlay addresses by network name, without the prefix length. */
  networks: Record<string, ContainerNetwork>;
  /** Spec.ContainerSpec.StopGracePeriod in ms, when set. */
  stopGraceMs?: number;
  /** Spec.ContainerSpec.Healthcheck: true = a test, false = NONE, undefined = not set (the image's applies). */
  healthcheck: boolean | undefined;
  image: string;
  /** Status.Timestamp in ms (0 when unknown). */
  statusAt: number;
  /** UpdatedAt in ms: when the manager last changed the task (its DesiredState, say); 0 when unknown. */
  updatedAt: number;
}

export function taskFromJson(raw: unknown): TaskView {
  const root = obj(raw);
  const spec = obj(obj(root['Spec'])['ContainerSpec']);
  const status = obj(root['Status']);
  const slot = root['Slot'];
  const view: TaskView = {
    id: str(root['ID']),
    serviceId: str(root['ServiceID']),
    nodeId: str(root['NodeID']),
    slot: typeof slot === 'number' && Number.isSafeInteger(slot) && slot > 0 ? slot : 0,
    desired: taskState(root['DesiredState']),
    state: taskState(status['State']),
    message: [str(status['Message']), str(status['Err'])].filter(Boolean).join(': '),
    containerId: str(obj(status['ContainerStatus'])['ContainerID']),
    labels: stringRecord(spec['Labels']),
    networks: attachments(root['NetworksAttachments']),
    healthcheck: healthcheckSet(spec['Healthcheck']),
    image: str(spec['Image']),
    statusAt: Date.parse(str(status['Timestamp'])) || 0,
    updatedAt: Date.parse(str(root['UpdatedAt'])) || 0,
  };
  const grace = nsToMs(spec['StopGracePeriod']);
  if (grace !== undefined) view.stopGraceMs = grace;
  return view;
}

/** What discovery does with a task now. */
export type TaskVerdict =
  /** Not running yet (or not meant to run yet): not routed. */
  | 'wait'
  /** Swarm reports it running (healthy, where it has a healthcheck) and wants it running. */
  | 'route'
  /** Swarm wants it stopped (DesiredState past running: an update, a scale-down, a drained node): drain now. */
  | 'drain'
  /** Its container is gone or never started (Status.State past running): remove. */
  | 'gone';

export function taskVerdict(t: Pick<TaskView, 'desired' | 'state'>): TaskVerdict {
  const state = t.state === undefined ? -1 : STATES.indexOf(t.state);
  const desired = t.desired === undefined ? -1 : STATES.indexOf(t.desired);
  if (state > RUNNING) return 'gone';
  if (desired > RUNNING) return 'drain';
  if (desired === RUNNING && state === RUNNING) return 'route';
  return 'wait';
}

/** What discovery uses of a service from `GET /services`. */
export interface ServiceView {
  id: string;
  name: string;
  /** The service's own `bluegreen.*` labels (stack `deploy.labels`). */
  labels: Record<string, string>;
  /** The task template's container labels (stack `labels`), `bluegreen.*` only. */
  containerLabels: Record<string, string>;
  stopGraceMs?: number;
  healthcheck: boolean | undefined;
  /** UpdateStatus.State: `updating`, `completed`, `paused`, `rollback_started`, ...; '' when never updated. */
  updateState: string;
}

export function serviceViewFromJson(raw: unknown): ServiceView {
  const root = obj(raw);
  const spec = obj(root['Spec']);
  const cspec = obj(obj(spec['TaskTemplate'])['ContainerSpec']);
  const view: ServiceView = {
    id: str(root['ID']),
    name: str(spec['Name']),
    labels: bluegreenOnly(stringRecord(spec['Labels'])),
    containerLabels: bluegreenOnly(stringRecord(cspec['Labels'])),
    healthcheck: healthcheckSet(cspec['Healthcheck']),
    updateState: str(obj(root['UpdateStatus'])['State']),
  };
  const grace = nsToMs(cspec['StopGracePeriod']);
  if (grace !== undefined) view.stopGraceMs = grace;
  return view;
}

/** True when the service is ours: a `bluegreen.*` label on the service or on its task template. */
export function isFollowed(s: ServiceView): boolean {
  return Object.keys(s.labels).length > 0 || Object.keys(s.containerLabels).length > 0;
}

/** The service's rolling update (or rollback) is in progress: its tasks change at any moment. */
export function isUpdating(s: ServiceView): boolean {
  return s.updateState === 'updating' || s.updateState === 'rollback_started';
}

/** What an image says (from `GET /images/{name}/json` on the manager), when the manager has it. */
export interface ImageFacts {
  exposedPorts: number[];
  healthcheck: boolean;
}

/**
 * The task as a ContainerInfo, so that the same label rules apply to tasks as to containers:
 * service labels under the task's own (the container's labels win), its overlay addresses,
 * the image's exposed ports when known, and whether a healthcheck gates `running`.
 */
export function taskAsContainer(task: TaskView, service: ServiceView, image: ImageFacts | undefined): ContainerInfo {
  const hasHealthcheck = task.healthcheck ?? service.healthcheck ?? image?.healthcheck ?? false;
  const info: ContainerInfo = {
    id: task.id,
    name: taskName(task, service),
    labels: { ...service.labels, ...task.labels },
    createdAt: task.statusAt,
    running: true,
    paused: false,
    networkMode: '',
    networks: task.networks,
    exposedPorts: image?.exposedPorts ?? [],
    hasHealthcheck,
  };
  const grace = task.stopGraceMs ?? service.stopGraceMs;
  if (grace !== undefined) info.stopTimeoutMs = grace;
  return info;
}

/** Docker's container name for the task: `<service>.<slot>.<task id>` (`<service>.<node id>.<task id>` for global services). */
export function taskName(task: TaskView, service: ServiceView): string {
  return `${service.name || task.serviceId}.${task.slot > 0 ? task.slot : task.nodeId}.${task.id}`;
}

export function imageFactsFromInspect(raw: unknown): ImageFacts {
  const config = obj(obj(raw)['Config']);
  const ports = Object.keys(obj(config['ExposedPorts']))
    .map((k) => /^(\d{1,5})(?:\/tcp)?$/i.exec(k))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .filter((p) => p >= 1 && p <= 65535);
  return { exposedPorts: [...new Set(ports)].sort((a, b) => a - b), healthcheck: healthcheckSet(config['Healthcheck']) === true };
}

function attachments(v: unknown): Record<string, ContainerNetwork> {
  const out: [string, ContainerNetwork][] = [];
  if (!Array.isArray(v)) return {};
  for (const raw of v) {
    const a = obj(raw);
    const netSpec = obj(obj(a['Network'])['Spec']);
    // The routing mesh's network (ports published in mode ingress) is never the way to a task.
    if (netSpec['Ingress'] === true) continue;
    const name = str(netSpec['Name']);
    const addrs = Array.isArray(a['Addresses']) ? a['Addresses'].map(str) : [];
    const v4 = addrs.map((x) => x.split('/')[0]!).find((x) => /^\d{1,3}(\.\d{1,3}){3}$/.test(x));
    const v6 = addrs.map((x) => x.split('/')[0]!).find((x) => x.includes(':'));
    if (name === '' || (v4 === undefined && v6 === undefined)) continue;
    const net: ContainerNetwork = { ip: v4 ?? v6! };
    if (v6 !== undefined) net.ipv6 = v6;
    out.push([name, net]);
  }
  return Object.fromEntries(out);
}

function healthcheckSet(v: unknown): boolean | undefined {
  const test = obj(v)['Test'];
  if (!Array.isArray(test) || test.length === 0) return undefined;
  return test[0] !== 'NONE';
}

function stringRecord(v: unknown): Record<string, string> {
  return Object.fromEntries(Object.entries(obj(v)).filter((e): e is [string, string] => typeof e[1] === 'string'));
}

function bluegreenOnly(r: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(r).filter(([k]) => k.startsWith(LABEL_PREFIX)));
}

function nsToMs(ns: unknown): number | undefined {
  if (typeof ns !== 'number' || !Number.isFinite(ns) || ns < 0) return undefined;
  const ms = Math.round(ns / 1_000_000);
  return Number.isSafeInteger(ms) ? ms : undefined;
}
