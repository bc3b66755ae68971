import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { DataPlane } from './dataplane/data-plane.ts';
import { Listener, type ListenAddress } from './dataplane/listener.ts';
import type { DataPlaneOptions } from './dataplane/options.ts';
import { Registry } from './registry/registry.ts';

export interface ProxyOptions {
  logger: Logger;
  listen: ListenAddress;
  dataPlane?: Partial<DataPlaneOptions>;
  defaultDrainTimeoutMs?: number;
}

/** The composition root: a registry, the data plane that reads it, and the listener in front. */
export class Proxy {
  readonly registry: Registry;
  readonly dataPlane: DataPlane;
  readonly listener: Listener;
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
  }

  async start(): Promise<AddressInfo> {
    this.address = await this.listener.listen(this.#opts.listen);
    return this.address;
  }

  /** Graceful stop: stop accepting, finish in-flight within the grace period, abort the rest. */
  stop(graceMs = this.dataPlane.options.shutdownGraceMs): Promise<void> {
    return this.listener.stop(graceMs);
  }
}
