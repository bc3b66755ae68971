import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { DataPlane } from './dataplane/data-plane.ts';
import { Listener, type ListenAddress } from './dataplane/listener.ts';
import type { DataPlaneOptions } from './dataplane/options.ts';
import { DockerodeClient, type DockerApi } from './discovery/docker-client.ts';
import { DockerDiscovery } from './discovery/docker-discovery.ts';
import { Registry } from './registry/registry.ts';

export interface DockerOptions {
  /** The engine (default: DOCKER_HOST, else /var/run/docker.sock). */
  client?: DockerApi;
  /** Where containers in network mode host are reached (default 127.0.0.1). */
  hostAddress?: string;
  /** How long a discovered service stays after its last container left (default: the hold timeout). */
  retentionMs?: number;
}

export interface ProxyOptions {
  logger: Logger;
  listen: ListenAddress;
  dataPlane?: Partial<DataPlaneOptions>;
  defaultDrainTimeoutMs?: number;
  /** Docker discovery; absent: static upstreams only. */
  docker?: DockerOptions;
}

/** The composition root: a registry, the data plane that reads it, discovery feeding it, the listener in front. */
export class Proxy {
  readonly registry: Registry;
  readonly dataPlane: DataPlane;
  readonly listener: Listener;
  readonly discovery: DockerDiscovery | undefined;
  readonly #opts: ProxyOptions;
  address: AddressInfo | undefined;

  constructor(opts: ProxyOptions) {
    this.#opts = opts;
    this.registry = new Registry({
      logger: opts.logger,
      holdQueueSize: opts.dataPlane?.holdQueueSize,
      defaultDrainTimeoutMs: opts.defaultDrainTimeoutMs,
    });
    this.dataPlane = new DataPlane(this.registry, opts.logger, opts.dataPlane);
    this.listener = new Listener(this.dataPlane, opts.logger);
    if (opts.docker) {
      this.discovery = new DockerDiscovery({
        client: opts.docker.client ?? new DockerodeClient(),
        registry: this.registry,
        logger: opts.logger.child({ component: 'discovery' }),
        hostAddress: opts.docker.hostAddress ?? '127.0.0.1',
        retentionMs: opts.docker.retentionMs ?? this.dataPlane.options.holdTimeoutMs,
        defaultGraceMs: opts.defaultDrainTimeoutMs,
      });
      // Requests that arrive before the first sync are held, not answered 404.
      this.dataPlane.waitForSync(this.discovery.firstSync);
    }
  }

  async start(): Promise<AddressInfo> {
    this.discovery?.start();
    this.address = await this.listener.listen(this.#opts.listen);
    return this.address;
  }

  /** Graceful stop: stop discovery and accepting, finish in-flight within the grace period, abort the rest. */
  async stop(graceMs = this.dataPlane.options.shutdownGraceMs): Promise<void> {
    await this.discovery?.stop();
    await this.listener.stop(graceMs);
  }
}
