import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';

/** The sysctl that moves connections queued on a closing SO_REUSEPORT listener to another one. */
export const TCP_MIGRATE_REQ = '/proc/sys/net/ipv4/tcp_migrate_req';

/**
 * Reads net.ipv4.tcp_migrate_req of the proxy's network namespace and logs what it means for an
 * upgrade: with 0, connections still in this listener's accept queue when it stops are reset
 * (the new instance beside it never sees them). The proxy only reads it: writing would change a
 * host-wide setting when the proxy runs in the host's network namespace; the README says where to
 * set it. Returns the value, or undefined where the kernel has no such setting.
 */
export async function checkTcpMigrateReq(log: Logger, path = TCP_MIGRATE_REQ): Promise<number | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    log.debug({ err: (err as Error).message }, 'net.ipv4.tcp_migrate_req is not readable here (not Linux, or a kernel before 5.14)');
    return undefined;
  }
  const value = Number(text.trim());
  if (value === 1) log.info({ tcp_migrate_req: 1 }, 'net.ipv4.tcp_migrate_req=1: connections queued on this listener when it stops move to a new instance on the same address');
  else
    log.warn(
      { tcp_migrate_req: value },
      'net.ipv4.tcp_migrate_req=0: connections still queued on this listener when it stops are reset, not moved to a new ' +
        'instance on the same address; for upgrades without a failed request set it to 1 in this network namespace ' +
        '(compose/stack: sysctls: net.ipv4.tcp_migrate_req: 1; on the host: sysctl -w net.ipv4.tcp_migrate_req=1)',
    );
  return value;
}
