// Swarm: what discovery reads from a manager about the tasks it finds as containers. On a
// single-node swarm, task containers emit container events like any container, so they are
// discovered as containers; a manager can also tell, per task container (label
// com.docker.swarm.service.id / .task.id), its service's labels (`deploy.labels` in a stack file,
// which are not on the container) and its task's stop grace period (`stop_grace_period`, which
// swarm does not copy to the container's Config.StopTimeout). Pure mappings of API 1.41 JSON
// (`GET /info`, `/services/{id}`, `/tasks/{id}`); input is `unknown`, read defensively.
import { LABEL_PREFIX } from './labels.ts';

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : {});
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/** True when the engine is an active swarm manager (`Swarm.ControlAvailable`): it answers /services and /tasks. */
export function swarmManagerFromInfo(info: unknown): boolean {
  const swarm = obj(obj(info)['Swarm']);
  return swarm['ControlAvailable'] === true && (swarm['LocalNodeState'] === undefined || swarm['LocalNodeState'] === 'active');
}

/** The engine discovery follows, from `GET /info`: for the admin status ("which engine and node"). */
export interface EngineInfo {
  /** The engine's ID (`ID`). */
  id: string;
  /** Its host name (`Name`). */
  name: string;
  /** Its swarm node id, address and role; '' / 'none' when not in a swarm. */
  nodeId: string;
  nodeAddr: string;
  role: 'manager' | 'worker' | 'none';
  /** The swarm's cluster id ('' when not a manager). */
  clusterId: string;
}

export function engineFromInfo(info: unknown): EngineInfo {
  const root = obj(info);
  const swarm = obj(root['Swarm']);
  const active = str(swarm['LocalNodeState']) === 'active';
  return {
    id: str(root['ID']),
    name: str(root['Name']),
    nodeId: str(swarm['NodeID']),
    nodeAddr: str(swarm['NodeAddr']),
    role: !active ? 'none' : swarm['ControlAvailable'] === true ? 'manager' : 'worker',
    clusterId: str(obj(swarm['Cluster'])['ID']),
  };
}

/** What discovery uses of a swarm service. */
export interface SwarmService {
  id: string;
  name: string;
  /** The service's own labels (`deploy.labels`), only the `bluegreen.*` ones. */
  labels: Record<string, string>;
  /** Spec.TaskTemplate.ContainerSpec.StopGracePeriod in ms, when set. */
  stopGraceMs?: number;
}

export function serviceFromInspect(raw: unknown): SwarmService {
  const root = obj(raw);
  const spec = obj(root['Spec']);
  const svc: SwarmService = { id: str(root['ID']), name: str(spec['Name']), labels: bluegreenLabels(spec['Labels']) };
  const grace = graceMs(obj(obj(spec['TaskTemplate'])['ContainerSpec'])['StopGracePeriod']);
  if (grace !== undefined) svc.stopGraceMs = grace;
  return svc;
}

/** A task's own stop grace period (Spec.ContainerSpec.StopGracePeriod) in ms, when set: what swarm waits when it stops this task. */
export function taskStopGraceMs(raw: unknown): number | undefined {
  return graceMs(obj(obj(obj(raw)['Spec'])['ContainerSpec'])['StopGracePeriod']);
}

/** Container labels over the service's `bluegreen.*` labels: a label on the container wins. */
export function mergeServiceLabels(container: Readonly<Record<string, string>>, service: SwarmService | undefined): Record<string, string> {
  if (!service || Object.keys(service.labels).length === 0) return { ...container };
  return Object.fromEntries([...Object.entries(service.labels), ...Object.entries(container)]);
}

/** Service labels the container does not override: for log lines saying where a setting came from. */
export function labelsFromService(container: Readonly<Record<string, string>>, service: SwarmService | undefined): string[] {
  if (!service) return [];
  return Object.keys(service.labels).filter((k) => !Object.hasOwn(container, k)).sort();
}

function bluegreenLabels(v: unknown): Record<string, string> {
  return Object.fromEntries(Object.entries(obj(v)).filter((e): e is [string, string] => e[0].startsWith(LABEL_PREFIX) && typeof e[1] === 'string'));
}

/** Nanoseconds (a JSON number) to whole ms; undefined when absent or not a sane non-negative number. */
function graceMs(ns: unknown): number | undefined {
  if (typeof ns !== 'number' || !Number.isFinite(ns) || ns < 0) return undefined;
  const ms = Math.round(ns / 1_000_000);
  return Number.isSafeInteger(ms) ? ms : undefined;
}
