import type { Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { DataPlane } from './dataplane/data-plane.ts';
import { Listener, type ListenAddress } from './dataplane/listener.ts';
import type { DataPlaneOptions } from './dataplane/options.ts';
import { DockerodeClient, type DockerApi } from './discovery/docker-client.ts';
import { DockerDiscovery } from './discovery/docker-discovery.ts';
import { Registry } from './registry/registry.ts';
import { CertificateStore } from './tls/certificate-store.ts';
import { CertificateWatcher } from './tls/certificate-watcher.ts';
import { httpsRedirect } from './tls/redirect.ts';

export interface DockerOptions {
  /** The engine (default: DOCKER_HOST, else /var/run/docker.sock). */
  client?: DockerApi;
  /** Where containers in network mode host are reached (default 127.0.0.1). */
  hostAddress?: string;
  /** How long a discovered service stays after its last container left (default: the hold timeout). */
  retentionMs?: number;
}

export interface TlsListenerOptions {
  /** Directory of PEM certificate/key pairs, watched for changes. */
  dir: string;
  listen: ListenAddress;
  /** The plain-HTTP listener answers 308 to https:// instead of proxying. */
  redirectHttp?: boolean;
  /** Quiet period after a file event before certificates reload (default 200 ms). */
  debounceMs?: number;
}

export interface ProxyOptions {
  logger: Logger;
  listen: ListenAddress;
  dataPlane?: Partial<DataPlaneOptions>;
  defaultDrainTimeoutMs?: number;
  /** Docker discovery; absent: static upstreams only. */
  docker?: DockerOptions;
  /** TLS termination on a second listener; absent: plain HTTP only. */
  tls?: TlsListenerOptions;
}

/** The composition root: a registry, the data plane that reads it, discovery feeding it, the listener in front. */
export class Proxy {
  readonly registry: Registry;
  readonly dataPlane: DataPlane;
  readonly listener: Listener;
  readonly discovery: DockerDiscovery | undefined;
  /** The HTTPS listener and its certificates, when tls is set. */
  readonly tlsListener: Listener | undefined;
  readonly certificates: CertificateStore | undefined;
  readonly #certWatcher: CertificateWatcher | undefined;
  readonly #opts: ProxyOptions;
  address: AddressInfo | undefined;
  tlsAddress: AddressInfo | undefined;

  constructor(opts: ProxyOptions) {
    this.#opts = opts;
    this.registry = new Registry({
      logger: opts.logger,
      holdQueueSize: opts.dataPlane?.holdQueueSize,
      defaultDrainTimeoutMs: opts.defaultDrainTimeoutMs,
    });
    this.dataPlane = new DataPlane(this.registry, opts.logger, opts.dataPlane);
    if (opts.tls) {
      const tls = opts.tls;
      const log = opts.logger.child({ component: 'tls' });
      const store = new CertificateStore({ dir: tls.dir, logger: log });
      this.certificates = store;
      this.#certWatcher = new CertificateWatcher({ store, logger: log, debounceMs: tls.debounceMs });
      const tlsListener = new Listener(this.dataPlane, opts.logger, { tls: { SNICallback: store.SNICallback } });
      this.tlsListener = tlsListener;
      // Clients that send no SNI get the default certificate from the server's own context.
      store.on('change', () => {
        const d = store.defaultCertificate;
        (tlsListener.server as HttpsServer).setSecureContext(d ? { cert: d.cert, key: d.key } : {});
      });
    }
    const redirect = opts.tls?.redirectHttp ? httpsRedirect(() => this.tlsAddress?.port ?? opts.tls!.listen.port) : undefined;
    this.listener = new Listener(this.dataPlane, opts.logger, redirect ? { handlers: redirect } : {});
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
    if (this.tlsListener && this.#opts.tls) {
      await this.#certWatcher!.start();
      this.tlsAddress = await this.tlsListener.listen(this.#opts.tls.listen);
    }
    this.address = await this.listener.listen(this.#opts.listen);
    return this.address;
  }

  /**
   * Graceful stop: stop accepting at once (synchronously, before the first await: during an upgrade
   * the new instance takes every new connection from here on), finish in-flight requests within the
   * grace period, abort the rest, then stop discovery. Discovery keeps following Docker while the
   * old instance drains, so an upstream stopped meanwhile still leaves its rotation at once.
   */
  async stop(graceMs = this.dataPlane.options.shutdownGraceMs): Promise<void> {
    await Promise.all([this.listener.stop(graceMs), this.tlsListener?.stop(graceMs)]);
    await Promise.all([this.discovery?.stop(), this.#certWatcher?.close()]);
  }
}
