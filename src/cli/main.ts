import { parseArgs } from 'node:util';
import { isControlCommand, runControlCommand } from './control-commands.ts';

// Each command's module is loaded when that command runs: `serve` does not carry `deploy`'s
// compose and YAML code, nor the others'.

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
      return (await import('./serve.ts')).serve(rest);
    case 'deploy':
      return (await import('./deploy.ts')).runDeployCommand(rest);
    case 'wait':
      return (await import('./wait-command.ts')).runWaitCommand(rest);
    case 'socket-filter':
      return (await import('./socket-filter.ts')).socketFilter(rest);
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
