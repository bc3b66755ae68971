import { parseArgs } from 'node:util';
import { tryParseDuration } from '../config/units.ts';
import type { WaitFail, WaitState } from '../control/wait-query.ts';
import { AdminApiError, AdminClient, AdminUnreachableError, DEFAULT_ADMIN_URL } from './admin-client.ts';
import { waitFor } from './wait-client.ts';

export const WAIT_EXIT = { ok: 0, apiError: 1, usage: 2, unreachable: 3, notReached: 4 } as const;

export const WAIT_USAGE = `usage: bluegreen wait CONTAINER [--state routed|ready|gone] [--timeout 30s] [--fail rejected,stopped]

Waits until the proxy routes to CONTAINER (a container id or unique id prefix, a container name,
or a swarm task id), through GET /api/wait. A container the proxy has not seen yet is waited for.
  --state routed    (default) a ready upstream in its service's rotation: requests go to it
  --state ready     a ready upstream, even if its color is not the active one (blue/green)
  --state gone      the proxy drained it and dropped it (or never knew it)
  --timeout D       give up after D (default 30s; longer than 10m is asked in several calls)
  --fail LIST       end at once instead of at the timeout when the container is rejected
                    (a bad bluegreen label) or stopped (drained or removed while waited for)
  --admin URL       admin API (env BLUEGREEN_ADMIN; default ${DEFAULT_ADMIN_URL})
  --token TOKEN     admin bearer token (env BLUEGREEN_ADMIN_TOKEN)
  --json            print the API's JSON answer
exit codes: 0 reached, 1 the API refused (CODE: message), 2 usage, 3 admin API unreachable,
4 not reached: timed out, or a --fail outcome (the reason is printed)
`;

class UsageError extends Error {}

const STATES: readonly string[] = ['routed', 'ready', 'gone'];

/** `bluegreen wait`: returns the exit code. */
export async function runWaitCommand(argv: string[]): Promise<number> {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      options: {
        state: { type: 'string' },
        timeout: { type: 'string' },
        fail: { type: 'string' },
        admin: { type: 'string' },
        token: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: true,
      strict: true,
    });
    if (values.help) {
      process.stdout.write(WAIT_USAGE);
      return WAIT_EXIT.ok;
    }
    if (positionals.length !== 1) throw new UsageError(`expected one CONTAINER, got ${positionals.length} arguments`);
    const state = values.state ?? 'routed';
    if (!STATES.includes(state)) throw new UsageError(`--state ${JSON.stringify(state)} is not one of ${STATES.join(', ')}`);
    const t = tryParseDuration(values.timeout ?? '30s');
    if (!t.ok) throw new UsageError(`--timeout ${JSON.stringify(values.timeout)} ${t.reason}`);
    const fail = (values.fail ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
    for (const f of fail) if (f !== 'rejected' && f !== 'stopped') throw new UsageError(`--fail ${JSON.stringify(f)} is not rejected or stopped`);
    let client: AdminClient;
    try {
      client = new AdminClient(values.admin ?? process.env.BLUEGREEN_ADMIN ?? DEFAULT_ADMIN_URL, values.token ?? process.env.BLUEGREEN_ADMIN_TOKEN);
    } catch (err) {
      throw new UsageError(`--admin: ${(err as Error).message}`);
    }
    const r = await waitFor(client, positionals[0]!, state as WaitState, t.value, { fail: fail as WaitFail[] });
    if (values.json) process.stdout.write(`${JSON.stringify(r.answer, null, 2)}\n`);
    if (r.ok) {
      if (!values.json) process.stdout.write(`${r.answer.message}\n`);
      return WAIT_EXIT.ok;
    }
    process.stderr.write(`bluegreen wait: ${r.answer.code ?? 'WAIT_TIMEOUT'}: ${r.answer.message}\n`);
    return WAIT_EXIT.notReached;
  } catch (err) {
    if (err instanceof AdminApiError) {
      process.stderr.write(`${err.code}: ${err.message}\n`);
      return WAIT_EXIT.apiError;
    }
    if (err instanceof AdminUnreachableError) {
      process.stderr.write(`bluegreen wait: ${err.message}\n`);
      return WAIT_EXIT.unreachable;
    }
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`bluegreen wait: ${(err as Error).message}\n${WAIT_USAGE}`);
      return WAIT_EXIT.usage;
    }
    throw err;
  }
}
