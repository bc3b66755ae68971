import { parseArgs } from 'node:util';
import { tryParseDuration } from '../config/units.ts';
import type { ServiceStatus, StatusSnapshot, UpstreamStatus } from '../control/status.ts';
import { AdminApiError, AdminClient, AdminUnreachableError, DEFAULT_ADMIN_URL } from './admin-client.ts';
import { formatStatus } from './status-table.ts';

/** Exit codes of the commands that call the admin API. */
export const EXIT = { ok: 0, apiError: 1, usage: 2, unreachable: 3 } as const;

export const CONTROL_COMMANDS = ['status', 'switch', 'pause', 'resume', 'drain', 'color-mode'] as const;
export type ControlCommand = (typeof CONTROL_COMMANDS)[number];

/** Positional arguments each command takes. */
const ARITY: Record<ControlCommand, number> = { status: 0, switch: 2, pause: 1, resume: 1, drain: 1, 'color-mode': 2 };

const ARGS: Record<ControlCommand, string> = {
  status: '',
  switch: 'SERVICE COLOR',
  pause: 'SERVICE',
  resume: 'SERVICE',
  drain: 'UPSTREAM_ID [--timeout 5s]',
  'color-mode': 'SERVICE auto|manual',
};

const COMMON = `  --admin URL     admin API (env BLUEGREEN_ADMIN; default ${DEFAULT_ADMIN_URL})
  --token TOKEN   admin bearer token (env BLUEGREEN_ADMIN_TOKEN)
  --json          print the API's JSON answer
exit codes: 0 ok, 1 the API refused (printed as CODE: message), 2 usage, 3 admin API unreachable
`;

export function isControlCommand(c: string | undefined): c is ControlCommand {
  return (CONTROL_COMMANDS as readonly (string | undefined)[]).includes(c);
}

class UsageError extends Error {}

/** Runs `bluegreen status|switch|pause|resume|drain|color-mode`; returns the exit code. */
export async function runControlCommand(command: ControlCommand, argv: string[]): Promise<number> {
  const usage = `usage: bluegreen ${command} ${ARGS[command]}${ARGS[command] ? ' ' : ''}[--admin URL] [--token TOKEN] [--json]\n${COMMON}`;
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      options: {
        admin: { type: 'string' },
        token: { type: 'string' },
        json: { type: 'boolean' },
        timeout: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: true,
      strict: true,
    });
    if (values.help) {
      process.stdout.write(usage);
      return EXIT.ok;
    }
    if (values.timeout !== undefined && command !== 'drain') throw new UsageError('--timeout is only for drain');
    let client: AdminClient;
    try {
      client = new AdminClient(values.admin ?? process.env.BLUEGREEN_ADMIN ?? DEFAULT_ADMIN_URL, values.token ?? process.env.BLUEGREEN_ADMIN_TOKEN);
    } catch (err) {
      throw new UsageError(`--admin: ${(err as Error).message}`);
    }
    const result = await call(client, command, positionals, values.timeout);
    process.stdout.write(values.json ? `${JSON.stringify(result, null, 2)}\n` : describe(command, result));
    return EXIT.ok;
  } catch (err) {
    if (err instanceof AdminApiError) {
      process.stderr.write(`${err.code}: ${err.message}\n`);
      return EXIT.apiError;
    }
    if (err instanceof AdminUnreachableError) {
      process.stderr.write(`bluegreen: ${err.message}\n`);
      return EXIT.unreachable;
    }
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`bluegreen ${command}: ${(err as Error).message}\n${usage}`);
      return EXIT.usage;
    }
    throw err;
  }
}

function call(client: AdminClient, command: ControlCommand, args: string[], timeout: string | undefined): Promise<unknown> {
  const want = ARITY[command];
  if (args.length !== want) throw new UsageError(`expected ${want || 'no'} argument${want === 1 ? '' : 's'}, got ${args.length}`);
  const svc = (action: string) => `/api/services/${encodeURIComponent(args[0]!)}/${action}`;
  switch (command) {
    case 'status':
      return client.get<StatusSnapshot>('/api/status');
    case 'switch':
      return client.post<ServiceStatus>(svc('switch'), { color: args[1] });
    case 'pause':
    case 'resume':
      return client.post<ServiceStatus>(svc(command));
    case 'color-mode':
      if (args[1] !== 'auto' && args[1] !== 'manual') throw new UsageError(`mode must be auto or manual, not ${JSON.stringify(args[1])}`);
      return client.post<ServiceStatus>(svc('color-mode'), { mode: args[1] });
    case 'drain': {
      if (timeout !== undefined) {
        const t = tryParseDuration(timeout);
        if (!t.ok) throw new UsageError(`--timeout ${JSON.stringify(timeout)} ${t.reason}`);
      }
      return client.post<UpstreamStatus>(`/api/upstreams/${encodeURIComponent(args[0]!)}/drain`, timeout === undefined ? {} : { timeout });
    }
  }
}

function describe(command: ControlCommand, result: unknown): string {
  if (command === 'status') return formatStatus(result as StatusSnapshot);
  if (command === 'drain') {
    const u = result as UpstreamStatus;
    const what =
      u.state === 'gone'
        ? 'drained and removed (nothing was in flight)'
        : `draining: ${u.inFlight} in flight${u.drainDeadline ? `, aborted at ${u.drainDeadline} if still running` : ''}`;
    return `${u.service}/${u.name} (${u.id}): ${what}\n`;
  }
  const s = result as ServiceStatus;
  if (command === 'switch') return `${s.name}: active color is now ${s.activeColor} (switching: ${s.colorMode})\n`;
  if (command === 'color-mode') return `${s.name}: color switching is ${s.colorMode}; active color ${s.activeColor ?? 'none'}\n`;
  return `${s.name}: ${s.paused ? `paused, ${s.held} requests held` : 'resumed'}\n`;
}
