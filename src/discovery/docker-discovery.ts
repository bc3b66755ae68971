import type { Logger } from 'pino';
import type { Registry } from '../registry/registry.ts';
import type { UpstreamState } from '../registry/upstream-state.ts';
import { backoffDelay, DEFAULT_INITIAL_BACKOFF_MS, DEFAULT_MAX_BACKOFF_MS } from './backoff.ts';
import { containerInfoFromInspect, containerSummariesFromList, type ContainerInfo } from './container-info.ts';
import type { DockerApi } from './docker-client.ts';
import { EventDecoder, type DockerEvent } from './event-stream.ts';
import { DEFAULT_PROBE_INTERVAL_MS, DEFAULT_PROBE_TIMEOUT_MS, hasBluegreenLabels, parseContainerLabels, type LabelProblem } from './labels.ts';
import { runReadinessProbe, type OwnProbe } from './readiness-probe.ts';
import { ServiceRetention } from './service-retention.ts';
import { isStopSignal, stopSignals } from './stop-signal.ts';
import { engineFromInfo, labelsFromService, mergeServiceLabels, serviceFromInspect, swarmManagerFromInfo, taskStopGraceMs, type EngineInfo, type SwarmService } from './swarm.ts';
import { SwarmTaskSource, type SwarmTasksState } from './swarm-task-source.ts';
import { WakeableSleep } from './wakeable-sleep.ts';

// Docker containers in, registry changes out. Start: list + inspect + register, then follow the
// event stream; every event is applied at once (drains are never batched or delayed), in order per
// container. On stream end or error: reconnect with backoff, replay from the last event's time and
// reconcile against a fresh list. All Docker I/O goes through DockerApi.
// Swarm: task containers are containers (with com.docker.swarm.* labels). Against a manager, a
// task container also gets its service's `bluegreen.*` labels (stack `deploy.labels`; the
// container's own labels win) and its task's stop grace period as the drain bound.

export interface DockerDiscoveryOptions {
  client: DockerApi;
  registry: Registry;
  logger: Logger;
  /** Where containers in network mode host are reached. */
  hostAddress: string;
  /** How long a service stays known after its last container left (default: 30 s, the hold timeout). */
  retentionMs?: number;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /**
   * Drain bound when neither `bluegreen.drain-timeout`, `Config.StopTimeout` nor (swarm) the task's
   * StopGracePeriod says (Docker's 10 s).
   */
  defaultGraceMs?: number;
}

/** A container left out because of its labels (or its networks), with why: for the admin API. */
export interface RejectedContainer {
  id: string;
  name: string;
  label: string;
  value: string;
  reason: string;
  message: string;
}

export interface DiscoveryState {
  endpoint: string;
  connected: boolean;
  /** When the last list + reconcile finished (ms since epoch). */
  lastSyncAt: number | undefined;
  /** Milliseconds from the process start to the end of the first sync (undefined before it). */
  firstSyncMs: number | undefined;
  /** Successful reconnections after the first sync. */
  reconnects: number;
  /** Events received (relevant ones, after client-side filtering). */
  events: number;
  lastError: string | undefined;
  /** Networks of the proxy's own container; [] when it does not run in one. */
  proxyNetworks: string[];
  /** Containers currently registered as upstreams. */
  containers: number;
  /** The engine is a swarm manager: service labels and task grace periods are read. */
  swarmManager: boolean;
  /** The engine followed (from /info at the last sync): its id, host name, swarm node and role. */
  engine: EngineInfo | undefined;
  /** On a manager: the swarm services followed through the tasks API, and when their tasks were last listed. */
  swarmTasks: SwarmTasksState | undefined;
}

/** What discovery remembers about a container it registered, until it dies or is destroyed. */
interface Tracked {
  id: string;
  name: string;
  service: string;
  address: string;
  graceMs: number;
  stopSignals: ReadonlySet<number>;
  /** Readiness comes from Docker's HEALTHCHECK (else: our probe). */
  dockerHealth: boolean;
  host: string;
  port: number;
  /** Longest Docker may go between two runs of the HEALTHCHECK (interval + timeout). */
  healthPeriodMs: number;
  /** After a reconnect: the check that Docker still runs the HEALTHCHECK. */
  healthWatch: NodeJS.Timeout | undefined;
  /** A stop event was seen: the upstream is draining and nothing but a new start brings it back. */
  stopping: boolean;
  probe: AbortController | undefined;
}

const SEEN_EVENTS = 1024;
/** Added to twice a HEALTHCHECK's period before deciding Docker no longer runs it. */
const HEALTH_STALL_SLACK_MS = 1_000;
/** The label swarm puts on a task container: its service's id. */
const SWARM_SERVICE_ID = 'com.docker.swarm.service.id';
/** The label swarm puts on a task container: its task's id. */
const SWARM_TASK_ID = 'com.docker.swarm.task.id';
const INSPECT_TRIES = 3;
/** After the endpoint reappears, how long reconnects ignore the backoff and retry at the initial delay. */
const ENDPOINT_HINT_MS = 3_000;
/**
 * Looks again at a running, labelled container that Docker showed with no network address at all,
 * after these delays (ms): while the engine reconfigures its networking (swarm init/leave, a
 * daemon reload) it shows containers that way for a moment and may send no event when it is over.
 */
const ADDRESS_RECHECK_MS = [500, 1_000, 2_000, 4_000, 8_000, 15_000, 30_000, 30_000, 30_000, 30_000];

export class DockerDiscovery {
  /** Resolves after the first successful list + register (never rejects; resolves on stop too). */
  readonly firstSync: Promise<void>;
  readonly #client: DockerApi;
  readonly #registry: Registry;
  readonly #log: Logger;
  readonly #hostAddress: string;
  readonly #initialBackoffMs: number;
  readonly #maxBackoffMs: number;
  readonly #defaultGraceMs: number;
  readonly #retention: ServiceRetention;
  readonly #tracked = new Map<string, Tracked>();
  readonly #rejected = new Map<string, RejectedContainer[]>();
  readonly #rejectListeners = new Set<() => void>();
  /** Containers shown without a network address: the next look and how many were made. */
  readonly #addressRechecks = new Map<string, { tries: number; timer: NodeJS.Timeout }>();
  /** Per-container task chains: events of one container apply in order, containers independently. */
  readonly #chains = new Map<string, Promise<void>>();
  readonly #seen = new Set<string>();
  readonly #seenOrder: string[] = [];
  readonly #stopAc = new AbortController();
  #resolveFirstSync!: () => void;
  #sessionAc: AbortController | undefined;
  #running: Promise<void> | undefined;
  #unwatch: (() => void) | undefined;
  readonly #pause = new WakeableSleep();
  /** Until then, failed attempts retry at the initial delay: the endpoint just came back. */
  #hintUntil = 0;
  #proxyNetworks: string[] = [];
  #selfChecked = false;
  #lastEventNano: bigint | undefined;
  #connectedAtNano: bigint | undefined;
  #connected = false;
  #everSynced = false;
  #lastSyncAt: number | undefined;
  /** Milliseconds from the process start to the end of the first sync. */
  #firstSyncMs: number | undefined;
  #reconnects = 0;
  #events = 0;
  #lastError: string | undefined;
  #swarmManager = false;
  #engine: EngineInfo | undefined;
  /**
   * On a manager (with the tasks API): swarm services are followed through their tasks, and task
   * containers are left out of the container path (one source per upstream, never both).
   */
  #tasks: SwarmTaskSource | undefined;
  /** Swarm services by id, read once and kept until an event about the service or the next sync. */
  readonly #services = new Map<string, Promise<SwarmService | undefined>>();

  constructor(opts: DockerDiscoveryOptions) {
    this.#client = opts.client;
    this.#registry = opts.registry;
    this.#log = opts.logger;
    this.#hostAddress = opts.hostAddress;
    this.#initialBackoffMs = opts.initialBackoffMs ?? DEFAULT_INITIAL_BACKOFF_MS;
    this.#maxBackoffMs = opts.maxBackoffMs ?? DEFAULT_MAX_BACKOFF_MS;
    this.#defaultGraceMs = opts.defaultGraceMs ?? 10_000;
    this.#retention = new ServiceRetention(opts.registry, opts.retentionMs ?? 30_000, opts.logger);
    this.firstSync = new Promise((resolve) => {
      this.#resolveFirstSync = resolve;
    });
  }

  get state(): DiscoveryState {
    return {
      endpoint: this.#client.endpoint,
      connected: this.#connected,
      lastSyncAt: this.#lastSyncAt,
      firstSyncMs: this.#firstSyncMs,
      reconnects: this.#reconnects,
      events: this.#events,
      lastError: this.#lastError,
      proxyNetworks: [...this.#proxyNetworks],
      containers: this.#tracked.size,
      swarmManager: this.#swarmManager,
      engine: this.#engine,
      swarmTasks: this.#tasks?.state,
    };
  }

  /** Every problem of every container left out, one entry per problem. */
  get rejected(): RejectedContainer[] {
    return [...this.#rejected.values(), ...(this.#tasks?.rejected ?? [])].flat();
  }

  /** Calls `listener` after a container is rejected (for /api/wait); returns the unsubscribe. */
  onRejectedChange(listener: () => void): () => void {
    this.#rejectListeners.add(listener);
    return () => this.#rejectListeners.delete(listener);
  }

  /** Starts in the background; failures to reach Docker are logged and retried, never thrown. */
  start(): void {
    if (this.#running) return;
    this.#unwatch = this.#client.watchEndpoint(() => {
      if (this.#connected) return;
      // The socket is back, maybe not listening yet: retry now, and quickly for a little while.
      this.#hintUntil = Date.now() + ENDPOINT_HINT_MS;
      this.#pause.wake();
    });
    this.#running = this.#run();
  }

  async stop(): Promise<void> {
    this.#stopAc.abort();
    this.#sessionAc?.abort();
    this.#pause.wake();
    this.#unwatch?.();
    for (const rec of this.#tracked.values()) {
      rec.probe?.abort();
      clearTimeout(rec.healthWatch);
    }
    this.#retention.stop();
    for (const r of this.#addressRechecks.values()) clearTimeout(r.timer);
    this.#addressRechecks.clear();
    await this.#tasks?.stop();
    await this.#running;
    this.#connected = false;
    this.#resolveFirstSync();
  }

  async #run(): Promise<void> {
    /** Failed attempts in a row; a session that synced resets it. */
    let failures = 0;
    while (!this.#stopAc.signal.aborted) {
      try {
        if (await this.#session()) failures = 0;
      } catch (err) {
        if (this.#stopAc.signal.aborted) break;
        failures++;
        this.#lastError = (err as Error).message;
        const fields = {
          endpoint: this.#client.endpoint,
          err: this.#lastError,
          attempt: failures,
          retryInMs: this.#delay(failures),
        };
        if (failures === 1) this.#log.error(fields, 'cannot reach the Docker Engine; serving what is known and retrying');
        else this.#log.warn(fields, 'Docker Engine still unreachable');
      }
      this.#connected = false;
      if (this.#stopAc.signal.aborted) break;
      await this.#pause.sleep(this.#delay(failures));
    }
  }

  /** 250 ms after a stream end or a first failure, then doubling up to the cap. */
  #delay(failures: number): number {
    if (Date.now() < this.#hintUntil) return this.#initialBackoffMs;
    return backoffDelay(Math.max(0, failures - 1), this.#initialBackoffMs, this.#maxBackoffMs);
  }


  /**
   * One connection: open the event stream (events are buffered), list and reconcile, apply the
   * buffered events, then follow the stream until it ends. Returns true once synced, throws
   * when the engine cannot be reached or the sync fails.
   */
  async #session(): Promise<boolean> {
    const ac = new AbortController();
    this.#sessionAc = ac;
    const signal = AbortSignal.any([ac.signal, this.#stopAc.signal]);
    const since = this.#resumeFrom();
    const openedAt = BigInt(Date.now()) * 1_000_000n;
    const stream = await this.#client.events({ since, signal });
    this.#connectedAtNano = openedAt;
    const decoder = new EventDecoder(this.#log);
    let buffered: DockerEvent[] | undefined = [];
    const take = (events: DockerEvent[]) => {
      for (const ev of events) {
        if (buffered) buffered.push(ev);
        else this.#dispatch(ev);
      }
    };
    const ended = new Promise<string>((resolve) => {
      stream.on('data', (chunk: Buffer | string) => take(decoder.push(chunk)));
      stream.once('end', () => {
        take(decoder.end());
        resolve('the engine ended it');
      });
      stream.on('error', (err: Error) => resolve(err.message));
      stream.once('close', () => resolve('connection closed'));
    });
    try {
      await this.#sync(signal, since !== undefined);
    } catch (err) {
      ac.abort();
      throw err;
    }
    const pending = buffered;
    buffered = undefined;
    for (const ev of pending) this.#dispatch(ev);
    this.#connected = true;
    if (this.#everSynced) this.#reconnects++;
    this.#everSynced = true;
    this.#lastError = undefined;
    this.#lastSyncAt = Date.now();
    this.#resolveFirstSync();
    const why = await ended;
    ac.abort();
    if (!this.#stopAc.signal.aborted) {
      this.#lastError = `event stream ended: ${why}`;
      this.#log.warn({ endpoint: this.#client.endpoint, reason: why }, 'Docker event stream ended; reconnecting');
    }
    return true;
  }

  /** `since` for a reconnect: the last event's time, else shortly before the last connection opened. */
  #resumeFrom(): string | undefined {
    const nano = this.#lastEventNano ?? (this.#connectedAtNano === undefined ? undefined : this.#connectedAtNano - 1_000_000_000n);
    if (nano === undefined) return undefined;
    const s = nano / 1_000_000_000n;
    const ns = nano % 1_000_000_000n;
    return `${s}.${ns.toString().padStart(9, '0')}`;
  }

  async #sync(signal: AbortSignal, resumed: boolean): Promise<void> {
    if (!this.#selfChecked) {
      const self = await this.#client.inspectSelf(signal);
      this.#selfChecked = true;
      if (self !== undefined) {
        const info = containerInfoFromInspect(self);
        this.#proxyNetworks = Object.keys(info.networks).sort();
        this.#log.info({ container: info.name, id: info.id.slice(0, 12), networks: this.#proxyNetworks }, 'the proxy runs in a container');
      }
    }
    await this.#checkSwarm(signal);
    const list = containerSummariesFromList(await this.#client.listContainers(signal));
    // Swarm tasks whose bluegreen labels may all be on their service (deploy.labels).
    const services = new Map<string, SwarmService | undefined>();
    if (this.#swarmManager && !this.#tasks) {
      const ids = new Set<string>();
      for (const c of list) {
        const sid = c.labels[SWARM_SERVICE_ID];
        if (c.state === 'running' && sid && !hasBluegreenLabels(c.labels)) ids.add(sid);
      }
      await Promise.all([...ids].map(async (sid) => services.set(sid, await this.#service(sid, signal))));
    }
    const running = new Set<string>();
    const tasks: Promise<void>[] = [];
    for (const c of list) {
      if (c.state !== 'running') continue;
      if (this.#tasks && c.labels[SWARM_TASK_ID]) continue; // followed through the tasks API
      if (!hasBluegreenLabels(c.labels)) {
        const svc = services.get(c.labels[SWARM_SERVICE_ID] ?? '');
        if (!svc || !hasBluegreenLabels(svc.labels)) continue;
      }
      running.add(c.id);
      // Known containers are inspected again too: their health or networks may have changed while
      // the stream was down.
      tasks.push(this.#enqueue(c.id, () => this.#inspectAndRegister(c.id, 'sync', signal)));
    }
    for (const id of this.#tracked.keys()) {
      if (!running.has(id)) tasks.push(this.#enqueue(id, () => this.#remove(id, 'not running at resync')));
    }
    for (const id of [...this.#rejected.keys()]) if (!running.has(id)) this.#rejected.delete(id);
    await Promise.all(tasks);
    if (this.#tasks) {
      await this.#tasks.sync();
      this.#tasks.start();
    }
    // Docker 20.10 does not resume the HEALTHCHECKs of containers it live-restored after a daemon
    // restart: after a reconnect, a container whose health Docker no longer updates gets our probe.
    if (resumed) for (const rec of this.#tracked.values()) if (rec.dockerHealth && !rec.stopping) void this.#watchDockerHealth(rec);
    // The first sync's time since the process started: how long a restarted proxy routes blind.
    if (this.#firstSyncMs === undefined) this.#firstSyncMs = Math.round(performance.now());
    this.#log.info(
      {
        endpoint: this.#client.endpoint,
        running: running.size,
        upstreams: this.#tracked.size,
        rejected: this.#rejected.size,
        resumed,
        swarmManager: this.#swarmManager,
        ...(this.#everSynced ? {} : { sinceProcessStartMs: this.#firstSyncMs }),
      },
      resumed ? 'reconnected to Docker and reconciled' : 'synced with Docker',
    );
  }

  /**
   * Whether the engine is a swarm manager (it answers /services and /tasks), checked at every sync
   * since a node can be promoted or demoted; services read before are read again.
   */
  async #checkSwarm(signal: AbortSignal): Promise<void> {
    this.#services.clear();
    if (!this.#client.info || !this.#client.inspectService) return;
    const info = await this.#client.info(signal);
    this.#engine = engineFromInfo(info);
    const manager = swarmManagerFromInfo(info);
    const { listServices, listTasks } = this.#client;
    if (manager && listServices && listTasks && !this.#tasks) {
      const client = this.#client;
      this.#tasks = new SwarmTaskSource({
        client: {
          endpoint: client.endpoint,
          listServices: listServices.bind(client),
          listTasks: listTasks.bind(client),
          ...(client.inspectImage ? { inspectImage: client.inspectImage.bind(client) } : {}),
        },
        registry: this.#registry,
        logger: this.#log,
        retention: this.#retention,
        proxyNetworks: () => this.#proxyNetworks,
        hostAddress: this.#hostAddress,
        defaultGraceMs: this.#defaultGraceMs,
        onRejected: () => {
          for (const listener of this.#rejectListeners) listener();
        },
      });
      // Task containers the container path registered before (a node just promoted) are dropped by
      // this sync's reconcile and registered again by the task source.
      this.#log.info(
        { endpoint: this.#client.endpoint, node: this.#engine.name, nodeId: this.#engine.nodeId },
        'the engine is a swarm manager: swarm services with bluegreen labels are followed through the tasks API; task containers are left to it',
      );
    } else if (!manager && this.#tasks) {
      const tasks = this.#tasks;
      this.#tasks = undefined;
      await tasks.close('the engine is no longer a swarm manager');
    }
    if (manager === this.#swarmManager) return;
    this.#swarmManager = manager;
    if (manager && this.#tasks) {
      // (logged above)
    } else if (manager) {
      this.#log.info(
        { endpoint: this.#client.endpoint },
        "the engine is a swarm manager: task containers also get their service's bluegreen labels (deploy.labels) and their task's stop grace period",
      );
    } else this.#log.info({ endpoint: this.#client.endpoint }, 'the engine is no longer a swarm manager: container labels only');
  }

  /** A task container's service (from a manager, cached), or undefined: not a manager, or no such service. */
  #service(serviceId: string, signal: AbortSignal): Promise<SwarmService | undefined> {
    const inspect = this.#client.inspectService?.bind(this.#client);
    if (!this.#swarmManager || !inspect) return Promise.resolve(undefined);
    let p = this.#services.get(serviceId);
    if (!p) {
      const read = this.#retry(() => inspect(serviceId, signal), signal).then((raw) => (raw === undefined ? undefined : serviceFromInspect(raw)));
      p = read;
      this.#services.set(serviceId, read);
      read.catch(() => {
        if (this.#services.get(serviceId) === read) this.#services.delete(serviceId);
      });
    }
    return p;
  }

  /**
   * The stop grace period swarm gives this task container: its task's own StopGracePeriod (the
   * service's may have changed since the task was created), else its service's; undefined when
   * neither sets one or the task cannot be read.
   */
  async #taskGraceMs(info: ContainerInfo, svc: SwarmService | undefined, signal: AbortSignal): Promise<number | undefined> {
    const inspect = this.#client.inspectTask?.bind(this.#client);
    if (!info.swarm || !this.#swarmManager) return undefined;
    let fromTask: number | undefined;
    if (inspect) {
      const taskId = info.swarm.taskId;
      try {
        fromTask = taskStopGraceMs(await this.#retry(() => inspect(taskId, signal), signal));
      } catch (err) {
        this.#log.warn({ container: info.name, task: taskId, err: (err as Error).message }, "cannot read the container's swarm task; using its service's stop grace period");
      }
    }
    return fromTask ?? svc?.stopGraceMs;
  }

  /**
   * A service changed (or is gone): forget what was read of it; after an update, look at its
   * running containers again, since `deploy.labels` change without new tasks.
   */
  #onServiceEvent(ev: DockerEvent): void {
    const sid = ev.serviceId ?? '';
    this.#services.delete(sid);
    if (!this.#swarmManager || this.#tasks || ev.action !== 'update' || sid === '') return;
    const signal = this.#stopAc.signal;
    this.#client.listContainers(signal).then(
      (raw) => {
        for (const c of containerSummariesFromList(raw)) {
          if (c.state !== 'running' || c.labels[SWARM_SERVICE_ID] !== sid) continue;
          this.#run1({ ...ev, containerId: c.id }, () => this.#inspectAndRegister(c.id, 'service update', signal));
        }
      },
      (err: unknown) => {
        if (signal.aborted) return;
        this.#log.warn({ service: sid, err: (err as Error).message }, 'cannot list the containers of an updated swarm service; the next resync will');
      },
    );
  }

  /** Runs `task` after every earlier task of the same container. Rejects with the task's error. */
  #enqueue(id: string, task: () => void | Promise<void>): Promise<void> {
    const prev = this.#chains.get(id);
    const next = prev ? prev.then(task) : Promise.resolve().then(task);
    const settled = next.catch(() => {});
    this.#chains.set(id, settled);
    void settled.then(() => {
      if (this.#chains.get(id) === settled) this.#chains.delete(id);
    });
    return next;
  }

  /** Applies one event now (after earlier events of the same container). */
  #dispatch(ev: DockerEvent): void {
    if (this.#seen.has(ev.key)) return; // replayed by `since` after a reconnect
    this.#seen.add(ev.key);
    this.#seenOrder.push(ev.key);
    if (this.#seenOrder.length > SEEN_EVENTS) this.#seen.delete(this.#seenOrder.shift()!);
    const nano = BigInt(ev.timeNano);
    if (this.#lastEventNano === undefined || nano > this.#lastEventNano) this.#lastEventNano = nano;

    if (ev.type === 'service') {
      this.#tasks?.onServiceEvent();
      this.#onServiceEvent(ev);
      return;
    }
    if (ev.type === 'node') {
      this.#tasks?.onNodeEvent();
      return;
    }
    const taskId = ev.type === 'container' ? ev.attributes[SWARM_TASK_ID] : undefined;
    if (this.#tasks && taskId) {
      // A task container on this node: the task source decides (a stop drains it at once); it looks now.
      this.#tasks.onTaskContainerEvent(taskId, ev.action, { signal: ev.attributes['signal'], health: ev.health });
      return;
    }
    const id = ev.containerId;
    const known = this.#tracked.has(id) || this.#rejected.has(id);
    if (ev.type === 'network') {
      if (known) this.#run1(ev, () => this.#inspectAndRegister(id, `network ${ev.action} ${ev.network ?? ''}`.trim(), this.#stopAc.signal));
      return;
    }
    if (!known && !hasBluegreenLabels(ev.attributes)) {
      // A swarm task may have its bluegreen labels on its service only (deploy.labels).
      const sid = this.#swarmManager ? ev.attributes[SWARM_SERVICE_ID] : undefined;
      if (!sid || (ev.action !== 'start' && ev.action !== 'unpause')) return;
      const signal = this.#stopAc.signal;
      this.#run1(ev, async () => {
        const svc = await this.#service(sid, signal);
        if (!svc || !hasBluegreenLabels(svc.labels)) return;
        this.#events++;
        await this.#inspectAndRegister(id, ev.action, signal);
      });
      return;
    }
    this.#events++;
    switch (ev.action) {
      case 'start':
      case 'unpause':
        this.#run1(ev, () => this.#inspectAndRegister(id, ev.action, this.#stopAc.signal));
        break;
      case 'kill':
        this.#run1(ev, () => this.#onKill(id, ev));
        break;
      case 'stop':
      case 'pause':
        this.#run1(ev, () => this.#drain(id, ev));
        break;
      case 'die':
      case 'destroy':
        this.#run1(ev, () => this.#remove(id, `container ${ev.action === 'die' ? 'died' : 'destroyed'}`));
        break;
      case 'health_status':
        this.#run1(ev, () => this.#onHealth(id, ev.health));
        break;
      default:
        break;
    }
  }

  #run1(ev: DockerEvent, task: () => void | Promise<void>): void {
    this.#enqueue(ev.containerId, task).catch((err: unknown) => {
      if (this.#stopAc.signal.aborted) return;
      this.#log.error(
        { id: ev.containerId.slice(0, 12), name: ev.attributes['name'], event: ev.action, err: (err as Error).message },
        'could not apply a Docker event; the next resync will',
      );
    });
  }

  #inspect(id: string, signal: AbortSignal): Promise<unknown> {
    return this.#retry(() => this.#client.inspectContainer(id, signal), signal);
  }

  /** An API call, tried up to INSPECT_TRIES times with the reconnect backoff in between. */
  async #retry<T>(call: () => Promise<T>, signal: AbortSignal): Promise<T> {
    for (let i = 1; ; i++) {
      try {
        return await call();
      } catch (err) {
        if (i >= INSPECT_TRIES || signal.aborted) throw err;
        await new Promise((r) => setTimeout(r, backoffDelay(i - 1, this.#initialBackoffMs, this.#maxBackoffMs)));
      }
    }
  }

  /**
   * Inspects a container and makes the registry agree: register it, re-register it when its
   * address changed, report it when its labels are bad, forget it when it is not running.
   * `why` is `start`/`unpause` (may bring back a stopping container), `sync` or a network change.
   */
  async #inspectAndRegister(id: string, why: string, signal: AbortSignal): Promise<void> {
    const raw = await this.#inspect(id, signal);
    if (raw === undefined) {
      this.#endAddressRecheck(id);
      return this.#remove(id, 'no such container');
    }
    const info = containerInfoFromInspect(raw);
    if (!info.running || info.paused) {
      this.#endAddressRecheck(id);
      if (this.#tracked.has(id)) this.#remove(id, info.paused ? 'container paused' : 'container not running');
      return;
    }
    const existing = this.#tracked.get(id);
    const restart = why === 'start' || why === 'unpause';
    // A stopping container still shows as running until it exits: only a new start brings it back.
    if (existing?.stopping && !restart) return;
    let swarmService: SwarmService | undefined;
    let fromService: string[] = [];
    if (info.swarm && this.#swarmManager) {
      swarmService = await this.#service(info.swarm.serviceId, signal);
      fromService = labelsFromService(info.labels, swarmService);
      info.labels = mergeServiceLabels(info.labels, swarmService);
    }

    const parsed = parseContainerLabels(info, { proxyNetworks: this.#proxyNetworks, hostAddress: this.#hostAddress });
    if (!parsed.ok) {
      if ('ignored' in parsed) this.#remove(id, 'no bluegreen labels');
      else {
        this.#reject(info, parsed.problems);
        if (existing) this.#remove(id, 'left out: labels or networks no longer usable', false);
        if (info.networkMode !== 'host' && !Object.values(info.networks).some((n) => n.ip)) this.#recheckAddress(id, info.name);
      }
      return;
    }
    this.#rejected.delete(id);
    this.#endAddressRecheck(id);
    const t = parsed.target;
    const address = `${t.host}:${t.port}`;
    const up = this.#registry.upstreams.get(id);
    if (existing && up && !existing.stopping && existing.address === address && existing.service === t.service) {
      if (existing.dockerHealth && info.health) this.#applyHealth(id, info.health, why);
      const route = { hosts: t.route.hosts, pathPrefix: t.route.pathPrefix };
      const svcNow = this.#registry.service(t.service);
      if (why === 'service update' && svcNow && !sameRoute(svcNow.route, route)) {
        // deploy.labels changed: the service's route follows (its containers stay as they are).
        this.#log.info({ service: t.service, container: info.name, from: svcNow.route, to: route }, 'route changed by a swarm service update');
        this.#registry.defineService(t.service, route);
      }
      return; // already registered as it is
    }
    if (existing || up) {
      const reason = existing?.stopping ? 'container started again' : existing?.address !== address ? `address changed to ${address}` : 'service changed';
      this.#remove(id, reason, false);
    }

    const knownGraceMs = t.drainTimeoutMs ?? info.stopTimeoutMs ?? (await this.#taskGraceMs(info, swarmService, signal));
    const graceMs = knownGraceMs ?? this.#defaultGraceMs;
    const dockerHealth = t.probe.kind === 'docker';
    const rec: Tracked = {
      id,
      name: info.name,
      service: t.service,
      address,
      graceMs,
      stopSignals: stopSignals(info.stopSignal),
      dockerHealth,
      host: t.host,
      port: t.port,
      healthPeriodMs: info.healthPeriodMs ?? 60_000,
      healthWatch: undefined,
      stopping: false,
      probe: undefined,
    };
    this.#retention.claim(t.service);
    const svc = this.#registry.service(t.service);
    const route = { hosts: t.route.hosts, pathPrefix: t.route.pathPrefix };
    if (svc && svc.upstreams.size > 0 && !sameRoute(svc.route, route)) {
      this.#log.warn(
        { service: t.service, container: info.name, from: svc.route, to: route },
        'containers of one service disagree on bluegreen.hosts/bluegreen.path; the newest one wins',
      );
    }
    this.#registry.defineService(t.service, route);
    this.#registry.addUpstream({
      id,
      name: info.name,
      service: t.service,
      host: t.host,
      port: t.port,
      color: t.color,
      state: dockerHealth && info.health === 'healthy' ? 'ready' : 'starting',
      drainTimeoutMs: graceMs,
      createdAt: info.createdAt || undefined,
      aliases: info.swarm ? [info.swarm.taskId] : undefined,
    });
    this.#tracked.set(id, rec);
    this.#log.info(
      {
        container: info.name,
        id: id.slice(0, 12),
        service: t.service,
        address,
        readiness: t.probe.kind,
        graceMs,
        why,
        ...(info.swarm ? { swarmService: info.swarm.serviceName } : {}),
        ...(fromService.length > 0 ? { serviceLabels: fromService } : {}),
      },
      'container registered',
    );
    const probe = t.probe;
    if (probe.kind === 'docker') {
      if (info.health === 'unhealthy') this.#applyHealth(id, 'unhealthy', why);
    } else this.#startProbe(rec, probe, '');
  }

  /** Our readiness probe for a container (`note` is added to each verdict). */
  #startProbe(rec: Tracked, probe: OwnProbe, note: string): void {
    const id = rec.id;
    const probeAc = new AbortController();
    rec.probe = probeAc;
    void runReadinessProbe({ host: rec.host, port: rec.port, probe }, AbortSignal.any([probeAc.signal, this.#stopAc.signal]), {
      onReady: () => this.#setState(id, rec, 'ready', `${probe.kind} probe succeeded${note}`),
      onUnhealthy: (reason) => this.#setState(id, rec, 'unhealthy', `${reason}${note}`),
      onStartingFailure: (reason) => this.#startingReason(id, rec, `${probe.kind} probe: ${reason}${note}`),
    });
  }

  /**
   * After a reconnect: reads when Docker last ran the container's HEALTHCHECK, and again two of its
   * periods later. Unchanged means Docker no longer runs it (it does not after a live-restore
   * restart, in 20.10): the container then gets our TCP probe until it is started again.
   */
  async #watchDockerHealth(rec: Tracked): Promise<void> {
    const current = () => this.#tracked.get(rec.id) === rec && rec.dockerHealth && !rec.stopping;
    const checkedAt = async (): Promise<number | undefined | null> => {
      try {
        const raw = await this.#inspect(rec.id, this.#stopAc.signal);
        if (raw === undefined) return null;
        const info = containerInfoFromInspect(raw);
        return info.running && info.hasHealthcheck ? info.healthCheckedAt : null;
      } catch {
        return null; // unreachable again: the next reconnect looks again
      }
    };
    clearTimeout(rec.healthWatch);
    const before = await checkedAt();
    if (before === null || !current()) return;
    const waitMs = 2 * rec.healthPeriodMs + HEALTH_STALL_SLACK_MS;
    await new Promise<void>((resolve) => {
      rec.healthWatch = setTimeout(resolve, waitMs);
      rec.healthWatch.unref();
    });
    rec.healthWatch = undefined;
    if (!current()) return;
    const after = await checkedAt();
    if (after === null || !current() || after !== before) return;
    rec.dockerHealth = false;
    this.#log.warn(
      {
        container: rec.name,
        id: rec.id.slice(0, 12),
        service: rec.service,
        lastCheck: after === undefined ? null : new Date(after).toISOString(),
        waitedMs: waitMs,
      },
      "Docker has not run the container's HEALTHCHECK since the engine came back (Docker 20.10 does not resume them for containers it live-restored); probing it ourselves (TCP) until it is started again",
    );
    this.#startProbe(rec, { kind: 'tcp', intervalMs: DEFAULT_PROBE_INTERVAL_MS, timeoutMs: DEFAULT_PROBE_TIMEOUT_MS }, " (Docker's HEALTHCHECK stalled)");
  }

  #onKill(id: string, ev: DockerEvent): void {
    const rec = this.#tracked.get(id);
    if (!rec) return;
    const signal = ev.attributes['signal'];
    if (!isStopSignal(signal, rec.stopSignals)) {
      this.#log.debug({ container: rec.name, signal }, 'kill with a signal that does not stop the container; kept');
      return;
    }
    this.#drain(id, ev);
  }

  /** The first stop event drains at once, with the deadline the event time + the container's grace period. */
  #drain(id: string, ev: DockerEvent): void {
    const rec = this.#tracked.get(id);
    if (!rec || rec.stopping) return;
    rec.stopping = true;
    rec.probe?.abort();
    const up = this.#registry.upstreams.get(id);
    if (!up || up.state === 'draining' || up.state === 'gone') return;
    const deadline = ev.timeMs + rec.graceMs;
    this.#log.info(
      { container: rec.name, id: id.slice(0, 12), service: rec.service, event: ev.action, signal: ev.attributes['signal'], lagMs: Date.now() - ev.timeMs },
      'container stopping; draining it',
    );
    this.#registry.drain(id, deadline);
  }

  #remove(id: string, reason: string, forgetRejected = true): void {
    const rec = this.#tracked.get(id);
    rec?.probe?.abort();
    clearTimeout(rec?.healthWatch);
    this.#tracked.delete(id);
    if (forgetRejected) this.#rejected.delete(id);
    if (this.#registry.upstreams.has(id)) this.#registry.remove(id, reason);
  }

  #onHealth(id: string, health: 'healthy' | 'unhealthy' | undefined): void {
    const rec = this.#tracked.get(id);
    if (!rec || !rec.dockerHealth || rec.stopping || health === undefined) return;
    this.#applyHealth(id, health, 'health_status event');
  }

  #applyHealth(id: string, health: ContainerInfo['health'], why: string): void {
    const rec = this.#tracked.get(id);
    if (!rec) return;
    if (health === 'healthy') this.#setState(id, rec, 'ready', `docker health: healthy (${why})`);
    else if (health === 'unhealthy') this.#setState(id, rec, 'unhealthy', `docker health: unhealthy (${why})`);
  }

  /** Readiness changes only; a draining or replaced upstream is never brought back. */
  #setState(id: string, rec: Tracked, to: Extract<UpstreamState, 'ready' | 'unhealthy'>, why: string): void {
    if (this.#tracked.get(id) !== rec || rec.stopping) return;
    const up = this.#registry.upstreams.get(id);
    if (!up || up.state === to || up.state === 'draining' || up.state === 'gone') return;
    this.#log.info({ container: rec.name, id: id.slice(0, 12), service: rec.service, from: up.state, to, why }, 'container readiness changed');
    this.#registry.setState(id, to, why);
  }

  /** Why a starting upstream is not ready yet (its probe's last failure), for the admin status. */
  #startingReason(id: string, rec: Tracked, why: string): void {
    if (this.#tracked.get(id) !== rec || rec.stopping) return;
    const up = this.#registry.upstreams.get(id);
    if (up?.state === 'starting') up.stateReason = why;
  }

  /** Schedules the next look at a running container Docker showed without a network address. */
  #recheckAddress(id: string, name: string): void {
    const prev = this.#addressRechecks.get(id);
    const tries = prev?.tries ?? 0;
    if (prev) clearTimeout(prev.timer);
    if (tries >= ADDRESS_RECHECK_MS.length || this.#stopAc.signal.aborted) {
      this.#addressRechecks.delete(id);
      if (prev) this.#log.warn({ container: name, id: id.slice(0, 12), tries }, 'still no network address; looking again only at its next event or resync');
      return;
    }
    const delayMs = ADDRESS_RECHECK_MS[tries]!;
    const timer = setTimeout(() => {
      this.#enqueue(id, () => this.#inspectAndRegister(id, 'address recheck', this.#stopAc.signal)).catch((err: unknown) => {
        if (!this.#stopAc.signal.aborted) this.#log.warn({ container: name, id: id.slice(0, 12), err: (err as Error).message }, 'could not look at the container again');
      });
    }, delayMs);
    timer.unref();
    this.#addressRechecks.set(id, { tries: tries + 1, timer });
    if (tries === 0) this.#log.info({ container: name, id: id.slice(0, 12) }, 'Docker shows this running container without a network address; looking again shortly');
  }

  #endAddressRecheck(id: string): void {
    const r = this.#addressRechecks.get(id);
    if (!r) return;
    clearTimeout(r.timer);
    this.#addressRechecks.delete(id);
  }

  #reject(info: ContainerInfo, problems: LabelProblem[]): void {
    const entries = problems.map((p) => ({ id: info.id, name: p.container, label: p.label, value: p.value, reason: p.reason, message: p.message }));
    const before = this.#rejected.get(info.id);
    this.#rejected.set(info.id, entries);
    for (const listener of this.#rejectListeners) listener();
    if (before && before.map((e) => e.message).join('\n') === entries.map((e) => e.message).join('\n')) return;
    for (const e of entries) {
      this.#log.warn({ container: e.name, id: e.id.slice(0, 12), label: e.label, value: e.value, reason: e.reason }, e.message);
    }
  }
}

function sameRoute(a: { hosts: readonly string[]; pathPrefix?: string | undefined }, b: { hosts: readonly string[]; pathPrefix?: string | undefined }): boolean {
  const norm = (h: readonly string[]) => [...new Set(h.map((x) => x.toLowerCase()))].sort().join(',');
  return norm(a.hosts) === norm(b.hosts) && (a.pathPrefix || undefined) === (b.pathPrefix || undefined);
}
