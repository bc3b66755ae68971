import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { Logger } from 'pino';
import { applyStaticUpstreams, toDataPlaneOptions, toProxyOptions } from '../config/apply.ts';
import { ConfigWatcher } from '../config/config-watcher.ts';
import { CONFIG_FLAGS, configFlagsHelp, loadSettings } from '../config/load.ts';
import type { Settings } from '../config/schema.ts';
import { AdminServer } from '../control/admin-server.ts';
import type { ConfigStatusProvider, DiscoveryProvider } from '../control/providers.ts';
import { isBluegreenError } from '../errors.ts';
import { createLogger } from '../log.ts';
import { Proxy, type ProxyOptions } from '../proxy.ts';
import { checkTcpMigrateReq } from './upgrade-sysctl.ts';

const HELP = `usage: bluegreen serve [options]

Runs the proxy. Every setting can come from a flag, an environment variable (BLUEGREEN_*) or the
YAML settings file, in that order of precedence; the file is watched and valid changes apply live.
Docker discovery is on by default: the engine at DOCKER_HOST, else /var/run/docker.sock. When it
cannot be reached, the proxy serves its static upstreams and keeps retrying. With tls.dir set, an
HTTPS listener serves the certificates in that directory, reloaded when they change.

`;

/** `bluegreen serve`: runs the proxy until SIGTERM/SIGINT, then stops gracefully and exits 0. */
export async function serve(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { ...CONFIG_FLAGS, help: { type: 'boolean', short: 'h' } },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(HELP + configFlagsHelp());
    return 0;
  }
  let loaded;
  try {
    loaded = await loadSettings({ flags: values });
  } catch (err) {
    if (isBluegreenError(err, 'BAD_CONFIG')) {
      process.stderr.write(`bluegreen: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const settings = loaded.settings;
  const log = createLogger(settings.logLevel);
  for (const w of loaded.warnings) log.warn(w);
  await checkTcpMigrateReq(log);

  const proxy = new Proxy({ logger: log, ...toProxyOptions(settings), ...tlsOptions(settings) });
  applyStaticUpstreams(proxy.registry, settings.staticUpstreams, []);

  const watcher = new ConfigWatcher({ logger: log.child({ component: 'config' }), initial: loaded, load: { flags: values } });
  watcher.on('change', (next, prev, diff) => applySettings(proxy, log, next, prev, diff.restart));

  const admin = new AdminServer({
    registry: proxy.registry,
    dataPlane: proxy.dataPlane,
    logger: log.child({ component: 'admin' }),
    token: settings.admin.token,
    discovery: discoveryProvider(proxy),
    configStatus: configProvider(watcher),
  });

  try {
    await proxy.start();
    await admin.listen(settings.admin.listen);
    await watcher.start();
  } catch (err) {
    log.error({ err: (err as Error).message }, 'could not start');
    await Promise.allSettled([watcher.close(), admin.close(), proxy.stop(0)]);
    process.stderr.write(`bluegreen: ${(err as Error).message}\n`);
    return 1;
  }

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    // proxy.stop() closes the listeners before its first await; the config watcher closes alongside.
    Promise.all([proxy.stop(), watcher.close().catch((err: unknown) => log.warn({ err }, 'config watcher close failed'))])
      .then(() => admin.close())
      .then(
        () => process.exit(0),
        (err: unknown) => {
          log.error({ err }, 'error while stopping');
          process.exit(1);
        },
      );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => void watcher.reload());
  return 0;
}

/** A valid settings change, applied live; keys that need a restart are logged, not applied. */
function applySettings(proxy: Proxy, log: Logger, next: Settings, prev: Settings, restart: readonly string[]): void {
  proxy.dataPlane.updateOptions(toDataPlaneOptions(next));
  proxy.listener.server.keepAliveTimeout = next.clientKeepAlive;
  if (proxy.tlsListener) proxy.tlsListener.server.keepAliveTimeout = next.clientKeepAlive;
  log.level = next.logLevel;
  applyStaticUpstreams(proxy.registry, next.staticUpstreams, prev.staticUpstreams);
  if (restart.length) log.warn({ keys: restart }, 'these settings changed but apply only after a restart');
}

/** The HTTPS listener when tls.dir is set: certificates from that directory, watched. */
function tlsOptions(s: Settings): Pick<ProxyOptions, 'tls'> {
  if (s.tls.dir === undefined) return {};
  return { tls: { dir: resolve(s.tls.dir), listen: { ...s.tls.listen }, redirectHttp: s.tls.redirectHttp } };
}

function discoveryProvider(proxy: Proxy): DiscoveryProvider | undefined {
  const d = proxy.discovery;
  if (!d) return undefined;
  return {
    status: () => d.state,
    get rejected() {
      return d.rejected;
    },
    onRejectedChange: (listener) => d.onRejectedChange(listener),
  };
}

function configProvider(watcher: ConfigWatcher): ConfigStatusProvider {
  return {
    status: () => {
      const s = watcher.status();
      return { ...s, reloadFailures: s.failures };
    },
    get errors() {
      return watcher.errors;
    },
  };
}
