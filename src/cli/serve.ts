import { parseArgs } from 'node:util';
import { parseListenAddress } from '../dataplane/listener.ts';
import { createLogger } from '../log.ts';
import { Proxy } from '../proxy.ts';

const HELP = `usage: bluegreen serve [options]

  --listen HOST:PORT        client listener (env BLUEGREEN_LISTEN; default 0.0.0.0:8080)
  --upstream SERVICE=HOST:PORT
                            a static upstream, ready at once (repeatable); a service
                            without routes is the default service
  --log-level LEVEL         trace|debug|info|warn|error|silent (env BLUEGREEN_LOG_LEVEL; default info)
`;

/** `bluegreen serve`: runs the proxy until SIGTERM/SIGINT, then stops gracefully and exits 0. */
export async function serve(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      listen: { type: 'string' },
      upstream: { type: 'string', multiple: true },
      'log-level': { type: 'string' },
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
  const proxy = new Proxy({ logger: log, listen });
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
