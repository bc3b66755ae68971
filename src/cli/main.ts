import { parseArgs } from 'node:util';
import { isControlCommand, runControlCommand } from './control-commands.ts';
import { runDeployCommand } from './deploy.ts';
import { serve } from './serve.ts';
import { socketFilter } from './socket-filter.ts';
import { runWaitCommand } from './wait-command.ts';

const USAGE = `usage: bluegreen <command> [options]

commands:
  serve                          run the proxy (see bluegreen serve --help)
  status                         services, upstreams and their state, as a table
  switch SERVICE COLOR           make COLOR the active color of a blue/green service
  pause SERVICE                  hold the service's requests until resume
  resume SERVICE                 release them
  drain UPSTREAM_ID [--timeout 5s]
                                 take an upstream out of rotation and remove it when idle
  color-mode SERVICE auto|manual whether the newest ready color takes over by itself
  wait CONTAINER [--state routed|ready|gone] [--timeout 30s]
                                 until the proxy routes to a container (or dropped it)
  deploy SERVICE [-f FILE] [--image IMAGE] [--rollback]
                                 blue/green release with docker compose (see bluegreen deploy --help)
  socket-filter                  read-only filter for the Docker socket (see bluegreen socket-filter --help)

The admin commands accept --admin URL (env BLUEGREEN_ADMIN, default http://127.0.0.1:9901),
--token TOKEN (env BLUEGREEN_ADMIN_TOKEN) and --json; see bluegreen COMMAND --help.
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (isControlCommand(command)) return runControlCommand(command, rest);
  switch (command) {
    case 'serve':
      return serve(rest);
    case 'deploy':
      return runDeployCommand(rest);
    case 'wait':
      return runWaitCommand(rest);
    case 'socket-filter':
      return socketFilter(rest);
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(USAGE);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`bluegreen: unknown command ${JSON.stringify(command)}\n${USAGE}`);
      return 2;
  }
}

void parseArgs; // parseArgs is used by each command module
main(process.argv.slice(2)).then(
  (code) => {
    if (code !== 0 || (process.argv[2] !== 'serve' && process.argv[2] !== 'socket-filter')) process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`bluegreen: ${(err as Error).message}\n`);
    process.exitCode = 1;
  },
);
