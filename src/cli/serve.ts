import { isIP } from 'node:net';
import { parseArgs } from 'node:util';
import { parseListenAddress } from '../dataplane/listener.ts';
import { createLogger } from '../log.ts';
import { Proxy } from '../proxy.ts';

const HELP = `usage: bluegreen serve [options]

  --listen HOST:PORT        client listener (env BLUEGREEN_LISTEN; default 0.0.0.0:8080)
  --upstream SERVICE=HOST:PORT
                            a static upstream, ready at once (repeatable); a service
                            without routes is the default service
  --host-address IP         where containers in network mode host are reached (default 127.0.0.1)
  --no-docker               no Docker discovery: static upstreams only
  --log-level LEVEL         trace|debug|info|warn|error|silent (env BLUEGREEN_LOG_LEVEL; default info)

Docker discovery is on by default: the engine at DOCKER_HOST, else /var/run/docker.sock. When it
cannot be reached, the proxy serves its static upstreams and keeps retrying.
`;

/** `bluegreen serve`: runs the proxy until SIGTERM/SIGINT, then stops gracefully and exits 0. */
export async function serve(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      listen: { type: 'string' },
      upstream: { type: 'string', multiple: true },
      'log-level': { type: 'string' },
      'host-address': { type: 'string' },
      'no-docker': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const log = createLogger((values['log-level'] ?? process.env.BLUEGREEN_LOG_LEVEL ?? 'info') as 'info');
  const listen = parseListenAddress(values.listen ?? process.env.BLUEGREEN_LISTEN ?? '0.0.0.0:8080');
  const hostAddress = values['host-address'] ?? '127.0.0.1';
  if (!isIP(hostAddress)) throw new Error(`--host-address ${JSON.stringify(hostAddress)} is not an IP address`);
  const proxy = new Proxy({ logger: log, listen, docker: values['no-docker'] ? undefined : { hostAddress } });
  for (const spec of values.upstream ?? []) {
    const m = /^([^=]+)=(.+):(\d+)$/.exec(spec);
    if (!m) throw new Error(`--upstream ${JSON.stringify(spec)} is not SERVICE=HOST:PORT`);
    proxy.registry.addUpstream({
      id: `static:${m[1]}:${m[2]}:${m[3]}`,
      name: `${m[2]}:${m[3]}`,
      service: m[1]!,
      host: m[2]!,
      port: Number(m[3]),
      state: 'ready',
    });
  }
  await proxy.start();
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    proxy.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  return 0;
}
