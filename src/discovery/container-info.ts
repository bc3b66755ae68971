// The narrow view of one container that discovery works with, mapped from a Docker Engine API 1.41
// `GET /containers/{id}/json` (inspect) result. Nothing here depends on dockerode's types: the
// input is `unknown` and every field is read defensively, so a partial object maps to defaults.

/** One network the container is attached to with an address. */
export interface ContainerNetwork {
  /** The address to dial: the IPv4 address, or the global IPv6 address on an IPv6-only network. */
  ip: string;
  ipv6?: string;
}

export type ContainerHealth = 'starting' | 'healthy' | 'unhealthy';

/** The swarm task a container runs, from the `com.docker.swarm.*` labels. */
export interface SwarmTask {
  serviceName: string;
  serviceId: string;
  taskId: string;
}

export interface ContainerInfo {
  id: string;
  /** Name without Docker's leading '/'. */
  name: string;
  labels: Record<string, string>;
  /** Creation time in ms since the epoch; 0 when unknown. */
  createdAt: number;
  running: boolean;
  paused: boolean;
  /** HostConfig.NetworkMode: 'bridge', 'host', 'none', 'container:<id>', a network name, or ''. */
  networkMode: string;
  /** Networks with an address, keyed by network name. */
  networks: Record<string, ContainerNetwork>;
  /** Exposed TCP ports, ascending, without duplicates. */
  exposedPorts: number[];
  /** Config.StopTimeout in ms, when the container sets one. */
  stopTimeoutMs?: number;
  stopSignal?: string;
  /** True when Docker runs a HEALTHCHECK for it (Config.Healthcheck.Test other than NONE). */
  hasHealthcheck: boolean;
  /** Docker's health status; absent when there is no healthcheck. */
  health?: ContainerHealth;
  /** When Docker last ran the HEALTHCHECK (the newest State.Health.Log entry, ms since epoch); absent before the first run. */
  healthCheckedAt?: number;
  /**
   * Longest Docker may go between two runs of the HEALTHCHECK while it runs them (interval + timeout
   * of Config.Healthcheck, Docker's 30 s defaults when unset); absent without a healthcheck.
   */
  healthPeriodMs?: number;
  swarm?: SwarmTask;
}

type Obj = Record<string, unknown>;

function obj(v: unknown): Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : {};
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

/** Maps an inspect result to a ContainerInfo. Never throws; missing or odd fields become defaults. */
export function containerInfoFromInspect(inspect: unknown): ContainerInfo {
  const root = obj(inspect);
  const config = obj(root['Config']);
  const state = obj(root['State']);
  const hostConfig = obj(root['HostConfig']);

  const labels = readLabels(config['Labels']);
  const created = Date.parse(str(root['Created']));
  const healthStatus = str(obj(state['Health'])['Status']);
  const health = isHealth(healthStatus) ? healthStatus : undefined;

  const info: ContainerInfo = {
    id: str(root['Id']),
    name: str(root['Name']).replace(/^\//, ''),
    labels,
    createdAt: Number.isFinite(created) ? created : 0,
    running: state['Running'] === true,
    paused: state['Paused'] === true,
    networkMode: str(hostConfig['NetworkMode']),
    networks: readNetworks(obj(root['NetworkSettings'])['Networks']),
    exposedPorts: readExposedPorts(config['ExposedPorts']),
    hasHealthcheck: readHasHealthcheck(config['Healthcheck']) || health !== undefined,
  };
  const stopTimeout = config['StopTimeout'];
  if (typeof stopTimeout === 'number' && stopTimeout >= 0 && Number.isSafeInteger(stopTimeout * 1000)) {
    info.stopTimeoutMs = stopTimeout * 1000;
  }
  const stopSignal = str(config['StopSignal']);
  if (stopSignal !== '') info.stopSignal = stopSignal;
  if (health !== undefined) info.health = health;
  if (info.hasHealthcheck) {
    const hc = obj(config['Healthcheck']);
    const ms = (v: unknown) => (typeof v === 'number' && v > 0 && Number.isFinite(v) ? Math.ceil(v / 1e6) : 30_000); // ns
    info.healthPeriodMs = ms(hc['Interval']) + ms(hc['Timeout']);
    const checkedAt = lastHealthCheck(obj(state['Health'])['Log']);
    if (checkedAt !== undefined) info.healthCheckedAt = checkedAt;
  }
  const swarm = readSwarm(labels);
  if (swarm) info.swarm = swarm;
  return info;
}

/** The newest time (End, else Start) among State.Health.Log entries; undefined when there is none. */
function lastHealthCheck(log: unknown): number | undefined {
  if (!Array.isArray(log)) return undefined;
  let newest: number | undefined;
  for (const entry of log) {
    const e = obj(entry);
    const t = Date.parse(str(e['End'])) || Date.parse(str(e['Start']));
    if (Number.isFinite(t) && t > 0 && (newest === undefined || t > newest)) newest = t;
  }
  return newest;
}

function isHealth(s: string): s is ContainerHealth {
  return s === 'starting' || s === 'healthy' || s === 'unhealthy';
}

function readLabels(v: unknown): Record<string, string> {
  // Object.fromEntries defines own properties, so a label named `__proto__` stays a plain label.
  return Object.fromEntries(Object.entries(obj(v)).filter((e): e is [string, string] => typeof e[1] === 'string'));
}

function readNetworks(v: unknown): Record<string, ContainerNetwork> {
  const out: [string, ContainerNetwork][] = [];
  for (const [name, raw] of Object.entries(obj(v))) {
    const n = obj(raw);
    const ipv4 = str(n['IPAddress']);
    const ipv6 = str(n['GlobalIPv6Address']);
    if (ipv4 === '' && ipv6 === '') continue;
    const net: ContainerNetwork = { ip: ipv4 !== '' ? ipv4 : ipv6 };
    if (ipv6 !== '') net.ipv6 = ipv6;
    out.push([name, net]);
  }
  return Object.fromEntries(out);
}

function readExposedPorts(v: unknown): number[] {
  const ports = new Set<number>();
  for (const key of Object.keys(obj(v))) {
    const m = /^(\d{1,5})(?:\/(tcp|udp|sctp))?$/i.exec(key);
    if (!m || (m[2] !== undefined && m[2].toLowerCase() !== 'tcp')) continue;
    const port = Number(m[1]);
    if (port >= 1 && port <= 65535) ports.add(port);
  }
  return [...ports].sort((a, b) => a - b);
}

function readHasHealthcheck(v: unknown): boolean {
  const test = obj(v)['Test'];
  if (!Array.isArray(test) || test.length === 0) return false;
  return test[0] !== 'NONE';
}

function readSwarm(labels: Record<string, string>): SwarmTask | undefined {
  const serviceName = labels['com.docker.swarm.service.name'];
  const serviceId = labels['com.docker.swarm.service.id'];
  const taskId = labels['com.docker.swarm.task.id'];
  if (!serviceName || !serviceId || !taskId) return undefined;
  return { serviceName, serviceId, taskId };
}

/** One entry of `GET /containers/json`: only what decides whether the container is worth an inspect. */
export interface ContainerSummary {
  id: string;
  /** First name without Docker's leading '/'. */
  name: string;
  labels: Record<string, string>;
  /** `running`, `paused`, `exited`, ... */
  state: string;
}

/** Maps a container list result; entries without an id are skipped. Never throws. */
export function containerSummariesFromList(list: unknown): ContainerSummary[] {
  if (!Array.isArray(list)) return [];
  const out: ContainerSummary[] = [];
  for (const raw of list) {
    const c = obj(raw);
    const id = str(c['Id']);
    if (id === '') continue;
    const names = Array.isArray(c['Names']) ? c['Names'] : [];
    out.push({ id, name: str(names[0]).replace(/^\//, ''), labels: readLabels(c['Labels']), state: str(c['State']) });
  }
  return out;
}
