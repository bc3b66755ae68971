import { parseArgs } from 'node:util';
import { tryParseDuration } from '../config/units.ts';
import { AdminApiError, AdminClient, AdminUnreachableError, DEFAULT_ADMIN_URL } from './admin-client.ts';
import { ComposeRunner, DEFAULT_COMPOSE_FILES, detectCompose, resolveComposeFiles } from './deploy-compose.ts';
import { DEPLOY_EXIT, runDeploy, type DeployRequest } from './deploy-run.ts';

export const DEPLOY_USAGE = `usage: bluegreen deploy SERVICE [options]
       bluegreen deploy SERVICE --rollback [--admin URL] [--token TOKEN]

A blue/green release of SERVICE with docker compose, steered through the proxy's admin API:
  1. read the proxy's status: the active color; the idle color is the other of blue and green
  2. set the service's color switching to manual (the switch is the deploy's decision)
  3. compose up -d --no-deps --force-recreate SERVICE-<idle>   (with --image, see below)
  4. wait until the proxy has every container of it ready   (GET /api/wait; --timeout)
  5. switch the service to the idle color
  6. drain the old color's upstreams through the proxy and wait until they are gone (GET /api/wait)
  7. compose stop SERVICE-<old>
If step 3 or 4 fails, nothing switches: the new color is stopped again, the color mode restored,
and deploy exits 4 saying why (the upstream's state, a rejected label, the container's state).

Compose convention: one compose service per color, labelled bluegreen.service=SERVICE and
bluegreen.color=blue|green (found by these labels in \`compose config\`; named SERVICE-blue and
SERVICE-green by convention). Both read the image from one variable that --image sets for the
new color, named after the compose service without its color: web-green -> WEB_IMAGE.
  services:
    web-blue:
      image: \${WEB_IMAGE:-my-app:1}
      labels: { bluegreen.service: web, bluegreen.color: blue, bluegreen.port: "8080" }
      healthcheck: { test: ["CMD", "/app/healthcheck"], interval: 2s }
    web-green:  (the same, with bluegreen.color: green)

options:
  -f, --file FILE          compose file, repeatable (default: COMPOSE_FILE, else the first of
                           ${DEFAULT_COMPOSE_FILES.join(', ')} in the current directory)
  -p, --project-name NAME  compose project name
  --image IMAGE            image of the new color, passed as the image variable
  --image-var NAME         the variable --image sets (default: from the compose service name)
  --timeout DURATION       how long the new color may take to become ready (default 60s)
  --drain-timeout DURATION drain deadline of the old color's upstreams (default: their own)
  --keep-old               switch, but leave the old color running (idle, warm) for --rollback
  --rollback               switch back to the other color while it still runs; no compose command
  --admin URL              admin API (env BLUEGREEN_ADMIN; default ${DEFAULT_ADMIN_URL})
  --token TOKEN            admin bearer token (env BLUEGREEN_ADMIN_TOKEN)
Compose: \`docker compose\` when it works, else \`docker-compose\` (or BLUEGREEN_COMPOSE="CMD ...").
exit codes:
  0  deployed (or rolled back)
  1  the admin API refused a request before anything changed (printed as CODE: message)
  2  usage
  3  the admin API cannot be reached (before anything changed, or at the switch: then it is
     unknown whether the switch happened, and the new color is left running)
  4  deploy failed, nothing switched: what the deploy started was stopped again
  5  switched (the new color serves), but draining or stopping the old color failed
See docs/deploy.md.
`;

class UsageError extends Error {}

/** `bluegreen deploy`: returns the exit code. */
export async function runDeployCommand(argv: string[]): Promise<number> {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      options: {
        file: { type: 'string', short: 'f', multiple: true },
        'project-name': { type: 'string', short: 'p' },
        image: { type: 'string' },
        'image-var': { type: 'string' },
        timeout: { type: 'string' },
        'drain-timeout': { type: 'string' },
        'keep-old': { type: 'boolean' },
        rollback: { type: 'boolean' },
        admin: { type: 'string' },
        token: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: true,
      strict: true,
    });
    if (values.help) {
      process.stdout.write(DEPLOY_USAGE);
      return DEPLOY_EXIT.ok;
    }
    if (positionals.length !== 1) throw new UsageError(`expected one SERVICE, got ${positionals.length} arguments`);
    const rollback = values.rollback === true;
    if (rollback) {
      for (const o of ['image', 'image-var', 'keep-old'] as const) if (values[o] !== undefined) throw new UsageError(`--${o} does not go with --rollback`);
    }
    if (values['image-var'] !== undefined && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(values['image-var'])) throw new UsageError(`--image-var ${JSON.stringify(values['image-var'])} is not a variable name`);
    const req: DeployRequest = {
      service: positionals[0]!,
      rollback,
      keepOld: values['keep-old'] === true,
      image: values.image,
      imageVar: values['image-var'],
      timeoutMs: duration('--timeout', values.timeout ?? '60s'),
      drainTimeout: values['drain-timeout'],
    };
    if (req.drainTimeout !== undefined) duration('--drain-timeout', req.drainTimeout);
    const files = rollback ? [] : resolveComposeFiles(values.file ?? [], process.cwd(), process.env);
    if (files === undefined) throw new UsageError(`no compose file: pass -f FILE (looked for ${DEFAULT_COMPOSE_FILES.join(', ')} in ${process.cwd()})`);
    let admin: AdminClient;
    try {
      admin = new AdminClient(values.admin ?? process.env.BLUEGREEN_ADMIN ?? DEFAULT_ADMIN_URL, values.token ?? process.env.BLUEGREEN_ADMIN_TOKEN);
    } catch (err) {
      throw new UsageError(`--admin: ${(err as Error).message}`);
    }
    return await withInterrupt((signal, release) =>
      runDeploy(req, {
        admin,
        compose: async () => new ComposeRunner(await detectCompose(process.env), files, values['project-name'], process.env),
        out: (t) => process.stdout.write(t),
        err: (t) => process.stderr.write(t),
        signal,
        onSwitched: release,
      }),
    );
  } catch (err) {
    if (err instanceof AdminApiError) {
      process.stderr.write(`${err.code}: ${err.message}\n`);
      return DEPLOY_EXIT.apiError;
    }
    if (err instanceof AdminUnreachableError) {
      process.stderr.write(`bluegreen deploy: ${err.message}\n`);
      return DEPLOY_EXIT.unreachable;
    }
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`bluegreen deploy: ${(err as Error).message}\n${DEPLOY_USAGE}`);
      return DEPLOY_EXIT.usage;
    }
    throw err;
  }
}

function duration(flag: string, text: string): number {
  const d = tryParseDuration(text);
  if (!d.ok) throw new UsageError(`${flag} ${JSON.stringify(text)} ${d.reason}`);
  return d.value;
}

/**
 * Until `release` is called (at the switch), SIGINT and SIGTERM abandon the deploy instead of
 * killing it, so that what it started is stopped again; afterwards they act as usual.
 */
async function withInterrupt<T>(fn: (signal: AbortSignal, release: () => void) => Promise<T>): Promise<T> {
  const ac = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    process.stderr.write(`bluegreen deploy: ${sig}: abandoning the deploy (nothing switched yet)\n`);
    ac.abort();
    release();
  };
  const release = () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await fn(ac.signal, release);
  } finally {
    release();
  }
}
