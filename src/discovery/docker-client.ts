import { watch, type FSWatcher } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, dirname } from 'node:path';
import type { Readable } from 'node:stream';
import { createRequire } from 'node:module';
import type Docker from 'dockerode';
import { containerIdFromCgroup, containerIdFromMountinfo, hostnameLooksLikeContainerId } from './self-container.ts';

/**
 * dockerode (with its gRPC and SSH dependencies: ~30 MB of RSS) is loaded when the first client is
 * made, so a proxy run with `--no-docker` never loads it.
 */
const loadDockerode = (): typeof Docker => createRequire(import.meta.url)('dockerode') as typeof Docker;

// The only file that talks to the Docker Engine. It returns the API's JSON as it comes (`unknown`);
// mapping and decisions live elsewhere. Engine API 1.41 calls and fields only, and no pinned API
// version: the daemon answers unversioned paths with its own version.

/** What discovery needs from Docker; tests give a fake of exactly this. */
export interface DockerApi {
  /** Where the engine is, for log lines. */
  readonly endpoint: string;
  /** `GET /containers/json?filters={"status":["running"]}`: the raw list. */
  listContainers(signal: AbortSignal): Promise<unknown>;
  /** `GET /containers/{id}/json`: the raw inspect result, or undefined when there is no such container. */
  inspectContainer(id: string, signal: AbortSignal): Promise<unknown>;
  /** `GET /events?since=…&filters={"type":["container","network","service","node"]}`: the raw byte stream. */
  events(opts: { since?: string | undefined; signal: AbortSignal }): Promise<Readable>;
  /** The container the proxy runs in (raw inspect), or undefined when it runs on a host. */
  inspectSelf(signal: AbortSignal): Promise<unknown>;
  /**
   * Calls `onChange` when the engine's endpoint may have come back (its unix socket was created
   * again), so a reconnect need not wait for its backoff. A hint only: the socket may not accept
   * connections yet. Returns a function that stops watching.
   */
  watchEndpoint(onChange: () => void): () => void;
  /**
   * Swarm, optional (without them discovery reads container labels only). `GET /info`: the raw
   * result (discovery reads `Swarm.ControlAvailable`).
   */
  info?(signal: AbortSignal): Promise<unknown>;
  /** `GET /services/{id}`: the raw inspect result, or undefined when there is no such service. Managers only. */
  inspectService?(id: string, signal: AbortSignal): Promise<unknown>;
  /** `GET /tasks/{id}`: the raw inspect result, or undefined when there is no such task. Managers only. */
  inspectTask?(id: string, signal: AbortSignal): Promise<unknown>;
  /** `GET /services`: the raw list. Managers only. With listTasks, a manager's tasks are followed through the tasks API. */
  listServices?(signal: AbortSignal): Promise<unknown>;
  /** `GET /tasks?filters={"service":[ids]}`: the raw list. Managers only. */
  listTasks?(serviceIds: readonly string[], signal: AbortSignal): Promise<unknown>;
  /** `GET /images/{name}/json`: the raw inspect result, or undefined when the engine does not have the image. */
  inspectImage?(name: string, signal: AbortSignal): Promise<unknown>;
}

/** An error from the engine with an HTTP status (dockerode sets `statusCode`). */
function statusOf(err: unknown): number | undefined {
  const s = (err as { statusCode?: unknown } | null)?.statusCode;
  return typeof s === 'number' ? s : undefined;
}

/** Each call that is not a stream gives up after this long. */
const CALL_TIMEOUT_MS = 10_000;

export class DockerodeClient implements DockerApi {
  readonly endpoint: string;
  readonly #docker: Docker;
  readonly #socketPath: string | undefined;

  /** `dockerHost`: like DOCKER_HOST (`unix:///path`, `tcp://host:port`); default: DOCKER_HOST, else /var/run/docker.sock. */
  constructor(dockerHost: string | undefined = process.env.DOCKER_HOST) {
    if (!dockerHost || dockerHost.startsWith('unix://')) {
      this.#socketPath = dockerHost ? dockerHost.slice('unix://'.length) || '/var/run/docker.sock' : '/var/run/docker.sock';
      this.#docker = new (loadDockerode())({ socketPath: this.#socketPath });
      this.endpoint = `unix://${this.#socketPath}`;
    } else {
      // tcp://, ssh://, https: dockerode's modem reads DOCKER_HOST, DOCKER_TLS_VERIFY and DOCKER_CERT_PATH.
      const saved = process.env.DOCKER_HOST;
      process.env.DOCKER_HOST = dockerHost;
      try {
        this.#docker = new (loadDockerode())();
      } finally {
        if (saved === undefined) delete process.env.DOCKER_HOST;
        else process.env.DOCKER_HOST = saved;
      }
      this.#socketPath = undefined;
      this.endpoint = dockerHost;
    }
  }

  async listContainers(signal: AbortSignal): Promise<unknown> {
    return this.#docker.listContainers({
      all: false,
      filters: { status: ['running'] },
      abortSignal: AbortSignal.any([signal, AbortSignal.timeout(CALL_TIMEOUT_MS)]),
    } as Docker.ContainerListOptions);
  }

  async inspectContainer(id: string, signal: AbortSignal): Promise<unknown> {
    try {
      return await this.#docker.getContainer(id).inspect({ abortSignal: AbortSignal.any([signal, AbortSignal.timeout(CALL_TIMEOUT_MS)]) });
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw err;
    }
  }

  async events(opts: { since?: string | undefined; signal: AbortSignal }): Promise<Readable> {
    const query: Record<string, unknown> = { filters: { type: ['container', 'network', 'service', 'node'] }, abortSignal: opts.signal };
    if (opts.since !== undefined) query['since'] = opts.since;
    const stream = (await this.#docker.getEvents(query as Docker.GetEventsOptions)) as unknown as Readable;
    if (opts.signal.aborted) stream.destroy();
    else opts.signal.addEventListener('abort', () => stream.destroy(), { once: true });
    return stream;
  }

  async info(signal: AbortSignal): Promise<unknown> {
    // (@types/dockerode declares no options for info(); dockerode passes abortSignal through.)
    const info = this.#docker.info.bind(this.#docker) as unknown as (opts: { abortSignal: AbortSignal }) => Promise<unknown>;
    return info({ abortSignal: AbortSignal.any([signal, AbortSignal.timeout(CALL_TIMEOUT_MS)]) });
  }

  async inspectService(id: string, signal: AbortSignal): Promise<unknown> {
    try {
      return await this.#docker.getService(id).inspect({ abortSignal: AbortSignal.any([signal, AbortSignal.timeout(CALL_TIMEOUT_MS)]) });
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw err;
    }
  }

  async inspectTask(id: string, signal: AbortSignal): Promise<unknown> {
    try {
      return await this.#docker.getTask(id).inspect({ abortSignal: AbortSignal.any([signal, AbortSignal.timeout(CALL_TIMEOUT_MS)]) });
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw err;
    }
  }

  async listServices(signal: AbortSignal): Promise<unknown> {
    return this.#docker.listServices({ abortSignal: AbortSignal.any([signal, AbortSignal.timeout(CALL_TIMEOUT_MS)]) } as Docker.ServiceListOptions);
  }

  async listTasks(serviceIds: readonly string[], signal: AbortSignal): Promise<unknown> {
    return this.#docker.listTasks({
      filters: { service: [...serviceIds] },
      abortSignal: AbortSignal.any([signal, AbortSignal.timeout(CALL_TIMEOUT_MS)]),
    } as object);
  }

  async inspectImage(name: string, signal: AbortSignal): Promise<unknown> {
    try {
      // (dockerode's image inspect takes no abort signal: the wait is bounded here instead.)
      const bound = AbortSignal.any([signal, AbortSignal.timeout(CALL_TIMEOUT_MS)]);
      return await Promise.race([
        this.#docker.getImage(name).inspect(),
        new Promise<never>((_, reject) => bound.addEventListener('abort', () => reject(bound.reason as Error), { once: true })),
      ]);
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw err;
    }
  }

  async inspectSelf(signal: AbortSignal): Promise<unknown> {
    const candidates: string[] = [];
    const mountinfo = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
    const cgroup = await readFile('/proc/self/cgroup', 'utf8').catch(() => '');
    for (const id of [containerIdFromMountinfo(mountinfo), containerIdFromCgroup(cgroup)]) {
      if (id && !candidates.includes(id)) candidates.push(id);
    }
    const host = hostname();
    const byHostname = hostnameLooksLikeContainerId(host);
    if (byHostname) candidates.push(host);
    for (const id of candidates) {
      const raw = await this.inspectContainer(id, signal);
      if (raw === undefined) continue;
      const fullId = (raw as { Id?: unknown }).Id;
      // A hostname is only a hint: the container found must be the one whose id it abbreviates.
      if (id === host && byHostname && !(typeof fullId === 'string' && fullId.startsWith(host))) continue;
      return raw;
    }
    return undefined;
  }

  watchEndpoint(onChange: () => void): () => void {
    if (!this.#socketPath) return () => {};
    const dir = dirname(this.#socketPath);
    const name = basename(this.#socketPath);
    let watcher: FSWatcher | undefined;
    try {
      watcher = watch(dir, { persistent: false }, (_event, file) => {
        if (file !== null && file !== name) return;
        // Created again (not removed): worth a try now.
        stat(this.#socketPath!).then(
          (st) => st.isSocket() && onChange(),
          () => {},
        );
      });
      watcher.on('error', () => watcher?.close());
    } catch {
      return () => {}; // no such directory or no inotify: the backoff alone decides
    }
    return () => watcher?.close();
  }
}
