import type { Logger } from 'pino';
import type { Registry } from '../registry/registry.ts';
import type { UpstreamState } from '../registry/upstream-state.ts';
import type { RejectedContainer } from './docker-discovery.ts';
import { parseContainerLabels, type LabelProblem } from './labels.ts';
import { runReadinessProbe } from './readiness-probe.ts';
import { isStopSignal, stopSignals } from './stop-signal.ts';
import type { ServiceRetention } from './service-retention.ts';
import {
  imageFactsFromInspect,
  isFollowed,
  isUpdating,
  serviceViewFromJson,
  taskAsContainer,
  taskFromJson,
  taskName,
  taskVerdict,
  type ImageFacts,
  type ServiceView,
  type TaskView,
} from './swarm-task.ts';
import { WakeableSleep } from './wakeable-sleep.ts';

// Swarm services followed through a manager's tasks API, not through container events: a manager's
// event stream carries no events of other nodes' containers and no task events at all. Services
// with `bluegreen.*` labels (on the service or its task template) are followed; their tasks are
// listed with `GET /tasks?filters={"service":[...]}` every 250 ms while anything is changing (a
// service update in progress, a task between states, a service or node event in the last seconds)
// and every 5 s otherwise. A task is routed once Swarm reports it running (which, in API 1.41,
// already means healthy where it has a healthcheck) and, without a healthcheck, once our own probe
// passes; it is drained the moment its DesiredState goes past running, seconds before its container
// is signalled, with the drain bound taken from its StopGracePeriod; it is removed when its
// Status.State goes past running or it is no longer listed. A task container on the manager's own
// node is also drained at its container's stop or unhealthy event and taken out at its die event,
// since the list lags (see onTaskContainerEvent).

/** The manager's API this needs (a subset of DockerApi). */
export interface SwarmTasksApi {
  readonly endpoint: string;
  /** `GET /services`: the raw list. */
  listServices(signal: AbortSignal): Promise<unknown>;
  /** `GET /tasks?filters={"service":[ids]}`: the raw list. */
  listTasks(serviceIds: readonly string[], signal: AbortSignal): Promise<unknown>;
  /** `GET /images/{name}/json` on the manager, or undefined when it does not have the image. */
  inspectImage?(name: string, signal: AbortSignal): Promise<unknown>;
}

export interface SwarmTaskSourceOptions {
  client: SwarmTasksApi;
  registry: Registry;
  logger: Logger;
  retention: ServiceRetention;
  /** Networks of the proxy's own container (an address on one of them is chosen). */
  proxyNetworks: () => readonly string[];
  hostAddress: string;
  defaultGraceMs: number;
  /** Poll interval while something changes (default 250 ms). */
  fastPollMs?: number;
  /** Poll interval otherwise (default 5 s). */
  reconcileMs?: number;
  /** Called after a task is rejected (for /api/wait's fail=rejected). */
  onRejected?: () => void;
}

export interface SwarmTasksState {
  /** Services followed (with bluegreen labels). */
  services: number;
  /** Tasks routed or draining now. */
  tasks: number;
  /** When the tasks were last listed successfully (ms since epoch). */
  lastSyncAt: number | undefined;
  polls: number;
  pollErrors: number;
  /** Polling at the fast interval now. */
  fast: boolean;
  lastError: string | undefined;
}

interface Tracked {
  taskId: string;
  /** The registry id: the task's container id (so it matches the container name and id users see). */
  upstreamId: string;
  name: string;
  swarmServiceId: string;
  service: string;
  address: string;
  graceMs: number;
  stopping: boolean;
  probe: AbortController | undefined;
}

/** Signals that stop a task container (SIGTERM, SIGKILL, ...; a service's own StopSignal is left to the poll). */
const DEFAULT_STOP_SIGNALS = stopSignals(undefined);
/** After a service or node event, poll fast for at least this long. */
const BUSY_AFTER_EVENT_MS = 3_000;
/** A task between states for longer than this (stuck pending, say) no longer keeps the fast poll. */
const TRANSITION_WINDOW_MS = 60_000;

export class SwarmTaskSource {
  readonly #client: SwarmTasksApi;
  readonly #registry: Registry;
  readonly #log: Logger;
  readonly #retention: ServiceRetention;
  readonly #proxyNetworks: () => readonly string[];
  readonly #hostAddress: string;
  readonly #defaultGraceMs: number;
  readonly #onRejected: (() => void) | undefined;
  readonly #fastMs: number;
  readonly #slowMs: number;
  readonly #stopAc = new AbortController();
  /** Followed services by id (re-read at every reconcile and after service events). */
  #services = new Map<string, ServiceView>();
  #servicesDirty = true;
  #lastServicesAt = 0;
  readonly #tracked = new Map<string, Tracked>();
  readonly #rejected = new Map<string, RejectedContainer[]>();
  readonly #images = new Map<string, Promise<ImageFacts | undefined>>();
  /** The bluegreen service each followed swarm service's tasks were last registered in, by swarm service id. */
  readonly #serviceNames = new Map<string, string>();
  #busyUntil = 0;
  #fast = false;
  #lastSyncAt: number | undefined;
  #polls = 0;
  #pollErrors = 0;
  #lastError: string | undefined;
  #loop: Promise<void> | undefined;
  readonly #pause = new WakeableSleep();
  /** One poll at a time; a poll asked for meanwhile runs right after. */
  #polling: Promise<void> | undefined;

  constructor(opts: SwarmTaskSourceOptions) {
    this.#client = opts.client;
    this.#registry = opts.registry;
    this.#log = opts.logger;
    this.#retention = opts.retention;
    this.#proxyNetworks = opts.proxyNetworks;
    this.#hostAddress = opts.hostAddress;
    this.#defaultGraceMs = opts.defaultGraceMs;
    this.#onRejected = opts.onRejected;
    this.#fastMs = opts.fastPollMs ?? 250;
    this.#slowMs = opts.reconcileMs ?? 5_000;
  }

  get state(): SwarmTasksState {
    return {
      services: this.#services.size,
      tasks: this.#tracked.size,
      lastSyncAt: this.#lastSyncAt,
      polls: this.#polls,
      pollErrors: this.#pollErrors,
      fast: this.#fast,
      lastError: this.#lastError,
    };
  }

  get rejected(): RejectedContainer[] {
    return [...this.#rejected.values()].flat();
  }

  /** Lists services and tasks now and applies them; throws when the manager cannot be read. */
  async sync(): Promise<void> {
    this.#servicesDirty = true;
    await this.#pollOnce();
  }

  /** Starts the poll loop (after a first sync). */
  start(): void {
    this.#loop ??= this.#run();
  }

  async stop(): Promise<void> {
    this.#stopAc.abort();
    this.#pause.wake();
    for (const t of this.#tracked.values()) t.probe?.abort();
    await this.#loop;
    await this.#polling?.catch(() => {});
  }

  /** Stops following and removes every upstream it registered (the engine is no longer a manager). */
  async close(reason: string): Promise<void> {
    await this.stop();
    for (const t of [...this.#tracked.values()]) this.#remove(t, reason);
  }

  /** A service was created, updated or removed: re-read the services and poll fast for a while. */
  onServiceEvent(): void {
    this.#servicesDirty = true;
    this.#busy();
  }

  /** A node changed (drained, down, ...): its tasks are about to move. */
  onNodeEvent(): void {
    this.#busy();
  }

  /**
   * A container event of a task on this engine (the manager's own node). The manager's task list
   * lags its containers: a task whose healthcheck failed stays `running` (DesiredState too) until
   * its container has exited, about 2 s after its unhealthy event on Docker 20.10, and its end
   * reached our poll 0.5-1 s after the die event (single-node swarm, measured). So a routed task is drained at once when its container is told to stop (a kill
   * with a stop signal, stop) or turns unhealthy (swarm then stops it), and taken out of routing when it dies
   * or is destroyed; the task stays tracked until the list shows it gone, so a stale `running`
   * never routes it again. Any task container event (a start, say) also makes it look now and poll fast for a while.
   */
  onTaskContainerEvent(taskId: string, action: string, detail: { signal?: string | undefined; health?: string | undefined } = {}): void {
    const rec = this.#tracked.get(taskId);
    if (rec) {
      const stops = action === 'stop' || (action === 'kill' && isStopSignal(detail.signal, DEFAULT_STOP_SIGNALS));
      if (stops || (action === 'health_status' && detail.health === 'unhealthy')) {
        const what = action === 'health_status' ? 'container unhealthy (swarm stops it)' : `container ${action}${detail.signal ? ` (signal ${detail.signal})` : ''}`;
        this.#drain(rec, what, undefined);
      } else if (action === 'die' || action === 'destroy') {
        this.#drain(rec, `container ${action === 'destroy' ? 'destroyed' : 'died'}`, undefined);
        if (this.#registry.upstreams.has(rec.upstreamId)) this.#registry.remove(rec.upstreamId, `task container ${action === 'destroy' ? 'destroyed' : 'died'}`);
      }
    }
    this.#busy();
  }

  #busy(): void {
    this.#busyUntil = Date.now() + BUSY_AFTER_EVENT_MS;
    this.#pause.wake();
  }

  async #run(): Promise<void> {
    let failures = 0;
    while (!this.#stopAc.signal.aborted) {
      try {
        await this.#pollOnce();
        if (failures > 0) this.#log.info({ endpoint: this.#client.endpoint }, 'swarm tasks readable again');
        failures = 0;
      } catch (err) {
        if (this.#stopAc.signal.aborted) break;
        failures++;
        const fields = { endpoint: this.#client.endpoint, err: (err as Error).message, failures };
        if (failures === 1) this.#log.warn(fields, 'cannot list swarm tasks; keeping what is known and retrying');
        else this.#log.debug(fields, 'still cannot list swarm tasks');
      }
      if (this.#stopAc.signal.aborted) break;
      await this.#pause.sleep(this.#fast || Date.now() < this.#busyUntil ? this.#fastMs : this.#slowMs);
    }
  }


  #pollOnce(): Promise<void> {
    const p = (this.#polling ?? Promise.resolve()).catch(() => {}).then(() => this.#poll());
    this.#polling = p;
    return p;
  }

  async #poll(): Promise<void> {
    const signal = this.#stopAc.signal;
    if (signal.aborted) return;
    this.#polls++;
    try {
      const now = Date.now();
      if (this.#servicesDirty || now - this.#lastServicesAt >= this.#slowMs) {
        this.#servicesDirty = false;
        try {
          await this.#readServices(signal);
        } catch (err) {
          this.#servicesDirty = true;
          throw err;
        }
        this.#lastServicesAt = now;
      }
      const ids = [...this.#services.keys()];
      const raw = ids.length > 0 ? await this.#client.listTasks(ids, signal) : [];
      const tasks = (Array.isArray(raw) ? raw : []).map(taskFromJson).filter((t) => t.id !== '' && this.#services.has(t.serviceId));
      await this.#apply(tasks, signal);
      this.#lastSyncAt = Date.now();
      this.#lastError = undefined;
      const moving = tasks.some((t) => inTransition(t) && Date.now() - Math.max(t.statusAt, t.updatedAt) < TRANSITION_WINDOW_MS);
      const fast = moving || [...this.#services.values()].some(isUpdating);
      if (fast !== this.#fast) this.#log.debug({ fast, intervalMs: fast ? this.#fastMs : this.#slowMs }, 'swarm task poll interval');
      this.#fast = fast;
    } catch (err) {
      this.#pollErrors++;
      this.#lastError = (err as Error).message;
      throw err;
    }
  }

  async #readServices(signal: AbortSignal): Promise<void> {
    const raw = await this.#client.listServices(signal);
    const next = new Map<string, ServiceView>();
    for (const s of (Array.isArray(raw) ? raw : []).map(serviceViewFromJson)) {
      if (s.id !== '' && isFollowed(s)) next.set(s.id, s);
    }
    for (const [id, s] of next) {
      if (!this.#services.has(id)) this.#log.info({ swarmService: s.name, id: id.slice(0, 12), labels: { ...s.labels, ...s.containerLabels } }, 'following a swarm service through its tasks');
    }
    for (const [id, s] of this.#services) {
      if (next.has(id)) continue;
      this.#log.info({ swarmService: s.name, id: id.slice(0, 12) }, 'swarm service gone or no longer labelled; draining its tasks');
      for (const t of this.#tracked.values()) if (t.swarmServiceId === id) this.#drain(t, 'its service is gone or no longer labelled', undefined);
      const name = this.#serviceNames.get(id);
      this.#serviceNames.delete(id);
      if (name !== undefined) this.#retention.recheck(name);
    }
    this.#services = next;
  }

  async #apply(tasks: TaskView[], signal: AbortSignal): Promise<void> {
    const listed = new Set<string>();
    const work: Promise<void>[] = [];
    for (const task of tasks) {
      listed.add(task.id);
      const service = this.#services.get(task.serviceId)!;
      const tracked = this.#tracked.get(task.id);
      switch (taskVerdict(task)) {
        case 'route':
          if (!tracked) work.push(this.#register(task, service, signal));
          break;
        case 'drain':
          if (tracked) this.#drain(tracked, `desired state ${task.desired ?? '?'} (state ${task.state ?? '?'})`, task.updatedAt || undefined);
          this.#rejected.delete(task.id);
          break;
        case 'gone':
          if (tracked) this.#remove(tracked, `task ${task.state ?? 'gone'}${task.message ? `: ${task.message}` : ''}`);
          this.#rejected.delete(task.id);
          break;
        case 'wait':
          break;
      }
    }
    for (const t of [...this.#tracked.values()]) {
      if (listed.has(t.taskId)) continue;
      if (this.#services.has(t.swarmServiceId)) this.#remove(t, 'task no longer listed');
      // A service no longer followed: its tasks were drained; forget each once its drain has ended.
      else if (!this.#registry.upstreams.has(t.upstreamId)) this.#tracked.delete(t.taskId);
    }
    for (const id of [...this.#rejected.keys()]) if (!listed.has(id)) this.#rejected.delete(id);
    // A swarm service whose replacement tasks are on their way (Swarm wants them running; they are
    // starting, or waiting out a restart delay) keeps its bluegreen service: requests stay held for
    // them instead of turning 404 once the retention period after its last upstream has passed.
    const coming = new Set(tasks.filter((t) => taskVerdict(t) === 'wait' && (t.desired === 'running' || t.desired === 'ready')).map((t) => t.serviceId));
    // Once none is on its way any more (scaled to 0, say), an empty service's retention period starts.
    const awaited = new Set([...this.#serviceNames].filter(([sid]) => coming.has(sid)).map(([, name]) => name));
    for (const name of new Set(this.#serviceNames.values())) {
      if (!this.#registry.service(name)) continue;
      if (awaited.has(name)) this.#retention.claim(name);
      else this.#retention.recheck(name);
    }
    await Promise.all(work);
  }

  async #register(task: TaskView, service: ServiceView, signal: AbortSignal): Promise<void> {
    const image = task.image ? await this.#image(task.image, signal) : undefined;
    if (this.#tracked.has(task.id) || signal.aborted) return;
    const info = taskAsContainer(task, service, image);
    const parsed = parseContainerLabels(info, { proxyNetworks: this.#proxyNetworks(), hostAddress: this.#hostAddress });
    if (!parsed.ok) {
      if (!('ignored' in parsed)) this.#reject(task, info.name, parsed.problems);
      return;
    }
    this.#rejected.delete(task.id);
    const t = parsed.target;
    const upstreamId = task.containerId || task.id;
    if (this.#registry.upstreams.has(upstreamId)) {
      this.#log.warn({ task: task.id, id: upstreamId.slice(0, 12) }, 'task container already registered (by the container path?); left as it is');
      return;
    }
    const graceMs = t.drainTimeoutMs ?? info.stopTimeoutMs ?? this.#defaultGraceMs;
    const rec: Tracked = {
      taskId: task.id,
      upstreamId,
      name: taskName(task, service),
      swarmServiceId: task.serviceId,
      service: t.service,
      address: `${t.host}:${t.port}`,
      graceMs,
      stopping: false,
      probe: undefined,
    };
    this.#retention.claim(t.service);
    this.#serviceNames.set(task.serviceId, t.service);
    this.#registry.defineService(t.service, { hosts: t.route.hosts, pathPrefix: t.route.pathPrefix });
    // Swarm's `running` already waited for the healthcheck, if any; otherwise our probe decides.
    const swarmHealth = t.probe.kind === 'docker';
    this.#registry.addUpstream({
      id: upstreamId,
      name: rec.name,
      service: t.service,
      host: t.host,
      port: t.port,
      color: t.color,
      state: swarmHealth ? 'ready' : 'starting',
      drainTimeoutMs: graceMs,
      createdAt: task.statusAt || undefined,
      aliases: [task.id],
    });
    this.#tracked.set(task.id, rec);
    this.#log.info(
      {
        task: task.id,
        id: upstreamId.slice(0, 12),
        container: rec.name,
        service: t.service,
        swarmService: service.name,
        node: task.nodeId,
        address: rec.address,
        network: t.network,
        readiness: swarmHealth ? 'swarm (running = healthy)' : t.probe.kind,
        graceMs,
        serviceLabels: Object.keys(service.labels).filter((k) => !Object.hasOwn(task.labels, k)).sort(),
        runningForMs: task.statusAt ? Date.now() - task.statusAt : undefined,
      },
      'task registered',
    );
    const probe = t.probe;
    if (probe.kind !== 'docker') {
      const ac = new AbortController();
      rec.probe = ac;
      void runReadinessProbe({ host: t.host, port: t.port, probe }, AbortSignal.any([ac.signal, this.#stopAc.signal]), {
        onReady: () => this.#setState(rec, 'ready', `${probe.kind} probe succeeded`),
        onUnhealthy: (reason) => this.#setState(rec, 'unhealthy', reason),
      });
    }
  }

  #drain(rec: Tracked, why: string, changedAt: number | undefined): void {
    if (rec.stopping) return;
    rec.stopping = true;
    rec.probe?.abort();
    const up = this.#registry.upstreams.get(rec.upstreamId);
    if (!up || up.state === 'draining' || up.state === 'gone') return;
    this.#log.info(
      { task: rec.taskId, id: rec.upstreamId.slice(0, 12), container: rec.name, service: rec.service, why, lagMs: changedAt ? Date.now() - changedAt : undefined, graceMs: rec.graceMs },
      'task shutting down; draining it',
    );
    this.#registry.drain(rec.upstreamId, Date.now() + rec.graceMs);
  }

  #remove(rec: Tracked, reason: string): void {
    rec.probe?.abort();
    this.#tracked.delete(rec.taskId);
    if (this.#registry.upstreams.has(rec.upstreamId)) this.#registry.remove(rec.upstreamId, reason);
  }

  #setState(rec: Tracked, to: Extract<UpstreamState, 'ready' | 'unhealthy'>, why: string): void {
    if (this.#tracked.get(rec.taskId) !== rec || rec.stopping) return;
    const up = this.#registry.upstreams.get(rec.upstreamId);
    if (!up || up.state === to || up.state === 'draining' || up.state === 'gone') return;
    this.#log.info({ task: rec.taskId, id: rec.upstreamId.slice(0, 12), container: rec.name, service: rec.service, from: up.state, to, why }, 'task readiness changed');
    this.#registry.setState(rec.upstreamId, to);
  }

  /** What the manager knows of an image (exposed ports, healthcheck), cached; undefined when it does not have it. */
  #image(name: string, signal: AbortSignal): Promise<ImageFacts | undefined> {
    const inspect = this.#client.inspectImage?.bind(this.#client);
    if (!inspect) return Promise.resolve(undefined);
    let p = this.#images.get(name);
    if (!p) {
      const read = (async () => {
        // A digest-pinned reference (`name:tag@sha256:...`) may be stored under its tag only.
        for (const ref of new Set([name, name.replace(/@sha256:[0-9a-f]+$/i, '')])) {
          const raw = await inspect(ref, signal);
          if (raw !== undefined) return imageFactsFromInspect(raw);
        }
        return undefined;
      })();
      p = read;
      this.#images.set(name, read);
      read.catch(() => {
        if (this.#images.get(name) === read) this.#images.delete(name);
      });
    }
    return p.catch(() => undefined);
  }

  #reject(task: TaskView, name: string, problems: LabelProblem[]): void {
    const entries = problems.map((p) => ({ id: task.id, name, label: p.label, value: p.value, reason: p.reason, message: p.message }));
    const before = this.#rejected.get(task.id);
    this.#rejected.set(task.id, entries);
    this.#onRejected?.();
    if (before && before.map((e) => e.message).join('\n') === entries.map((e) => e.message).join('\n')) return;
    for (const e of entries) this.#log.warn({ task: task.id, container: name, label: e.label, value: e.value, reason: e.reason }, e.message);
  }
}

/** A task between states: starting up, or told to stop and not stopped yet. */
function inTransition(t: TaskView): boolean {
  const v = taskVerdict(t);
  return v === 'drain' || (v === 'wait' && (t.desired === 'running' || t.desired === 'ready'));
}
