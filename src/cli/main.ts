import { parseArgs } from 'node:util';
import { serve } from './serve.ts';

const USAGE = `usage: bluegreen <command> [options]

commands:
  serve     run the proxy (see bluegreen serve --help)
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
      return serve(rest);
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
    if (code !== 0 || process.argv[2] !== 'serve') process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`bluegreen: ${(err as Error).message}\n`);
    process.exitCode = 1;
  },
);
