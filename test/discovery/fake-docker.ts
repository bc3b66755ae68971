// A fake Docker Engine at the DockerApi boundary: it keeps containers as API 1.41 inspect JSON,
// answers list/inspect from them, and writes event lines (exactly as the engine formats them) to
// the open event streams, keeping a history so that `since` replays what a reconnect missed.
// Swarm: set `swarmRole` and add services and tasks; a task container is a container with the
// com.docker.swarm.* labels (FakeContainerSpec.swarm), as on a single-node swarm.
import { PassThrough, type Readable } from 'node:stream';
import type { DockerApi } from '../../src/discovery/docker-client.ts';

export interface FakeContainerSpec {
  id: string;
  name: string;
  labels?: Record<string, string>;
  /** network name → IPv4 (default { e2e: '10.0.0.<n>' }) */
  networks?: Record<string, string>;
  networkMode?: string;
  exposed?: number[];
  running?: boolean;
  paused?: boolean;
  /** Docker HEALTHCHECK status; absent: no healthcheck. */
  health?: 'starting' | 'healthy' | 'unhealthy';
  stopTimeout?: number;
  stopSignal?: string;
  created?: string;
  /** A swarm task container: adds the com.docker.swarm.* labels swarm puts on it. */
  swarm?: { serviceId: string; serviceName?: string; taskId: string };
}

export interface FakeServiceSpec {
  id: string;
  name: string;
  /** The service's own labels (stack `deploy.labels`). */
  labels?: Record<string, string>;
  /** Spec.TaskTemplate.ContainerSpec.StopGracePeriod, in ns. */
  stopGraceNs?: number;
}

export type Inspect = {
  Id: string;
  Name: string;
  Created: string;
  State: { Status: string; Running: boolean; Paused: boolean; Health?: { Status: string } };
  Config: {
    Labels: Record<string, string>;
    ExposedPorts: Record<string, object>;
    Healthcheck?: { Test: string[] };
    StopTimeout?: number;
    StopSignal?: string;
  };
  HostConfig: { NetworkMode: string };
  NetworkSettings: { Networks: Record<string, { IPAddress: string }> };
};

let ipSeq = 1;

export function inspectJson(s: FakeContainerSpec): Inspect {
  const networks = s.networks ?? { e2e: `10.0.0.${++ipSeq}` };
  const running = s.running ?? true;
  const c: Inspect = {
    Id: s.id,
    Name: `/${s.name}`,
    Created: s.created ?? new Date().toISOString(),
    State: { Status: s.paused ? 'paused' : running ? 'running' : 'exited', Running: running, Paused: s.paused ?? false },
    Config: {
      Labels: {
        ...(s.labels ?? {}),
        ...(s.swarm
          ? {
              'com.docker.swarm.service.id': s.swarm.serviceId,
              'com.docker.swarm.service.name': s.swarm.serviceName ?? 'svc',
              'com.docker.swarm.task.id': s.swarm.taskId,
              'com.docker.swarm.task.name': `${s.swarm.serviceName ?? 'svc'}.1.${s.swarm.taskId}`,
              'com.docker.swarm.task': '',
            }
          : {}),
      },
      ExposedPorts: Object.fromEntries((s.exposed ?? [8080]).map((p) => [`${p}/tcp`, {}])),
    },
    HostConfig: { NetworkMode: s.networkMode ?? Object.keys(networks)[0] ?? 'none' },
    NetworkSettings: { Networks: Object.fromEntries(Object.entries(networks).map(([n, ip]) => [n, { IPAddress: ip }])) },
  };
  if (s.health) {
    c.State.Health = { Status: s.health };
    c.Config.Healthcheck = { Test: ['CMD', 'true'] };
  }
  if (s.stopTimeout !== undefined) c.Config.StopTimeout = s.stopTimeout;
  if (s.stopSignal !== undefined) c.Config.StopSignal = s.stopSignal;
  return c;
}

function notManager(): Error {
  return Object.assign(new Error('(HTTP code 503) unexpected - This node is not a swarm manager.'), { statusCode: 503 });
}

function refused(): Error {
  return Object.assign(new Error('connect ECONNREFUSED /fake/docker.sock'), { code: 'ECONNREFUSED' });
}

export class FakeDocker implements DockerApi {
  readonly endpoint = 'unix:///fake/docker.sock';
  readonly containers = new Map<string, Inspect>();
  /** Every event line written, with its time in ns. */
  readonly history: { nano: bigint; line: string }[] = [];
  /** `since` of each events() call, in order. */
  readonly sinceCalls: (string | undefined)[] = [];
  readonly inspects: string[] = [];
  self: Inspect | undefined;
  down = false;
  /** undefined: the engine is in no swarm. */
  swarmRole: 'manager' | 'worker' | undefined;
  readonly services = new Map<string, unknown>();
  readonly tasks = new Map<string, unknown>();
  readonly serviceInspects: string[] = [];
  readonly taskInspects: string[] = [];
  #streams = new Set<PassThrough>();
  #watchers = new Set<() => void>();
  #clockNano = BigInt(Date.now()) * 1_000_000n;

  add(spec: FakeContainerSpec): Inspect {
    const c = inspectJson(spec);
    this.containers.set(c.Id, c);
    return c;
  }

  /** A swarm service as `GET /services/{id}` returns it (trimmed). */
  addService(s: FakeServiceSpec): Record<string, unknown> {
    const containerSpec: Record<string, unknown> = { Image: 'app:1', Labels: {} };
    if (s.stopGraceNs !== undefined) containerSpec['StopGracePeriod'] = s.stopGraceNs;
    const svc = { ID: s.id, Version: { Index: 1 }, Spec: { Name: s.name, Labels: s.labels ?? {}, TaskTemplate: { ContainerSpec: containerSpec } } };
    this.services.set(s.id, svc);
    return svc;
  }

  /** A swarm task as `GET /tasks/{id}` returns it (trimmed); its spec is the service's at the time. */
  addTask(t: { id: string; serviceId: string; stopGraceNs?: number }): void {
    const containerSpec: Record<string, unknown> = { Image: 'app:1' };
    if (t.stopGraceNs !== undefined) containerSpec['StopGracePeriod'] = t.stopGraceNs;
    this.tasks.set(t.id, { ID: t.id, ServiceID: t.serviceId, Spec: { ContainerSpec: containerSpec }, Status: { State: 'running' } });
  }

  async info(): Promise<unknown> {
    await Promise.resolve();
    if (this.down) throw refused();
    const state = this.swarmRole ? 'active' : 'inactive';
    return { ID: 'FAKE', ServerVersion: '20.10.24', Swarm: { LocalNodeState: state, ControlAvailable: this.swarmRole === 'manager' } };
  }

  async inspectService(id: string): Promise<unknown> {
    await Promise.resolve();
    if (this.down) throw refused();
    this.serviceInspects.push(id);
    if (this.swarmRole !== 'manager') throw notManager();
    const s = this.services.get(id);
    return s ? structuredClone(s) : undefined;
  }

  async inspectTask(id: string): Promise<unknown> {
    await Promise.resolve();
    if (this.down) throw refused();
    this.taskInspects.push(id);
    if (this.swarmRole !== 'manager') throw notManager();
    const t = this.tasks.get(id);
    return t ? structuredClone(t) : undefined;
  }

  async listContainers(): Promise<unknown> {
    await Promise.resolve();
    if (this.down) throw refused();
    return [...this.containers.values()]
      .filter((c) => c.State.Running && !c.State.Paused)
      .map((c) => ({ Id: c.Id, Names: [c.Name], Labels: c.Config.Labels, State: c.State.Status }));
  }

  async inspectContainer(id: string): Promise<unknown> {
    await Promise.resolve();
    if (this.down) throw refused();
    this.inspects.push(id);
    const c = this.containers.get(id);
    return c ? structuredClone(c) : undefined;
  }

  async inspectSelf(): Promise<unknown> {
    await Promise.resolve();
    if (this.down) throw refused();
    return this.self;
  }

  async events(opts: { since?: string | undefined; signal: AbortSignal }): Promise<Readable> {
    await Promise.resolve();
    if (this.down) throw refused();
    this.sinceCalls.push(opts.since);
    const stream = new PassThrough();
    if (opts.since !== undefined) {
      const [s, ns = '0'] = opts.since.split('.');
      const since = BigInt(s!) * 1_000_000_000n + BigInt(ns.padEnd(9, '0'));
      for (const h of this.history) if (h.nano >= since) stream.write(`${h.line}\n`);
    }
    this.#streams.add(stream);
    const close = () => {
      this.#streams.delete(stream);
      stream.destroy();
    };
    opts.signal.addEventListener('abort', close, { once: true });
    stream.once('close', () => this.#streams.delete(stream));
    return stream;
  }

  watchEndpoint(onChange: () => void): () => void {
    this.#watchers.add(onChange);
    return () => this.#watchers.delete(onChange);
  }

  get openStreams(): number {
    return this.#streams.size;
  }

  /** The engine goes away: streams end with an error, calls are refused. */
  cut(): void {
    this.down = true;
    for (const s of this.#streams) s.destroy(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }));
    this.#streams.clear();
  }

  /** The engine is back; `announce` tells the watchers (the socket file was created again). */
  restore(announce = true): void {
    this.down = false;
    if (announce) this.announce();
  }

  /** Only the watcher hint: the socket file exists again (it may not accept connections yet). */
  announce(): void {
    for (const w of this.#watchers) w();
  }

  /** Writes raw bytes to every open stream (for split-chunk tests). */
  writeRaw(text: string): void {
    for (const s of this.#streams) s.write(text);
  }

  /**
   * Records an event (in the history, so `since` can replay it) and, while the engine is up,
   * writes it to every open stream. Returns the event time in ms.
   */
  emit(
    type: 'container' | 'network' | 'service',
    action: string,
    actorId: string,
    attributes: Record<string, string> = {},
    opts: { split?: boolean } = {},
  ): number {
    this.#clockNano = maxBig(this.#clockNano + 1_000n, BigInt(Date.now()) * 1_000_000n);
    const nano = this.#clockNano;
    let attrs = attributes;
    if (type === 'container') {
      const c = this.containers.get(actorId);
      attrs = { ...(c?.Config.Labels ?? {}), name: c?.Name.slice(1) ?? actorId, image: 'app:1', ...attributes };
    } else if (type === 'service') {
      const svc = this.services.get(actorId) as { Spec: { Name: string } } | undefined;
      attrs = { name: svc?.Spec.Name ?? actorId, ...attributes };
    }
    const ev: Record<string, unknown> = { Type: type, Action: action, Actor: { ID: actorId, Attributes: attrs }, scope: type === 'service' ? 'swarm' : 'local' };
    if (type === 'container') Object.assign(ev, { status: action, id: actorId, from: 'app:1' });
    ev['time'] = Number(nano / 1_000_000_000n);
    // timeNano goes in as exact digits (JSON.stringify would need a Number, which rounds it).
    const line = JSON.stringify(ev).replace(/}$/, `,"timeNano":${nano}}`);
    this.history.push({ nano, line });
    if (!this.down) {
      for (const s of this.#streams) {
        if (opts.split) {
          const cut = Math.floor(line.length / 2);
          s.write(line.slice(0, cut));
          setImmediate(() => s.write(`${line.slice(cut)}\n`));
        } else s.write(`${line}\n`);
      }
    }
    return Number(nano / 1_000_000n);
  }

  /** Container lifecycle helpers that change the state and emit what Docker emits. */
  start(spec: FakeContainerSpec): number {
    const c = this.add(spec);
    for (const net of Object.keys(c.NetworkSettings.Networks)) this.emit('network', 'connect', `net-${net}`, { container: c.Id, name: net, type: 'bridge' });
    return this.emit('container', 'start', c.Id);
  }

  kill(id: string, signal = '15'): number {
    return this.emit('container', 'kill', id, { signal });
  }

  die(id: string): number {
    const c = this.containers.get(id)!;
    c.State.Running = false;
    c.State.Status = 'exited';
    const t = this.emit('container', 'die', id, { exitCode: '0' });
    for (const net of Object.keys(c.NetworkSettings.Networks)) this.emit('network', 'disconnect', `net-${net}`, { container: c.Id, name: net, type: 'bridge' });
    return t;
  }

  health(id: string, status: 'healthy' | 'unhealthy'): number {
    this.containers.get(id)!.State.Health = { Status: status };
    return this.emit('container', `health_status: ${status}`, id);
  }
}

function maxBig(a: bigint, b: bigint): bigint {
  return a > b ? a : b;
}
