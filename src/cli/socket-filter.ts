import { parseArgs } from 'node:util';
import { parseListenAddress } from '../dataplane/listener.ts';
import { createLogger } from '../log.ts';
import { SocketFilter } from '../socket-filter/socket-filter.ts';

const HELP = `usage: bluegreen socket-filter [--listen HOST:PORT] [--socket PATH]

A read-only filter for the Docker socket: relays only the API calls bluegreen makes (GET list,
inspect, events, info, swarm services/tasks/nodes) and refuses everything else with 403. Run it
with the socket mounted and point the proxy at it: DOCKER_HOST=tcp://socket-filter:2375.

  --listen HOST:PORT   default 0.0.0.0:2375
  --socket PATH        default /var/run/docker.sock
`;

export async function socketFilter(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { listen: { type: 'string' }, socket: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const log = createLogger('info');
  const filter = new SocketFilter(values.socket ?? '/var/run/docker.sock', log);
  await filter.listen(parseListenAddress(values.listen ?? '0.0.0.0:2375'));
  const stop = () => void filter.close().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  return 0;
}
