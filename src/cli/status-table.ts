import type { ServiceStatus, StatusSnapshot } from '../control/status.ts';
import { textTable } from './text-table.ts';

/** `bluegreen status`: services, then upstreams, then whatever needs attention. */
export function formatStatus(s: StatusSnapshot, now = Date.now()): string {
  const out: string[] = [];
  if (s.services.length === 0) out.push('no services');
  else {
    out.push(
      textTable([
        ['SERVICE', 'ROUTE', 'ACTIVE', 'MODE', 'PAUSED', 'HELD', 'READY'],
        ...s.services.map((v) => [
          v.name,
          route(v),
          v.activeColor ?? '-',
          v.colors.length ? v.colorMode : '-',
          v.paused ? 'yes' : 'no',
          String(v.held),
          `${v.upstreams.filter((u) => u.state === 'ready').length}/${v.upstreams.length}`,
        ]),
      ]),
    );
    const ups = s.services.flatMap((v) =>
      v.upstreams.map((u) => [
        v.name,
        u.name,
        u.id.slice(0, 12),
        u.address,
        u.color ? (u.color === v.activeColor ? `${u.color}*` : u.color) : '-',
        u.state,
        String(u.inFlight),
        String(u.requests),
        String(u.failures),
        String(u.retries),
        u.drainDeadline ? `${Math.max(0, Math.ceil((Date.parse(u.drainDeadline) - now) / 1000))}s` : '-',
      ]),
    );
    if (ups.length) {
      out.push('');
      out.push(textTable([['SERVICE', 'UPSTREAM', 'ID', 'ADDRESS', 'COLOR', 'STATE', 'IN-FLIGHT', 'REQUESTS', 'FAILURES', 'RETRIES', 'DRAIN-DEADLINE'], ...ups]));
    }
  }
  const followed = discoveryLine(s.discovery?.status, now);
  if (followed) out.push('', followed);
  section(out, 'routing conflicts', s.routing.conflicts);
  section(out, 'rejected containers', s.discovery?.rejected ?? []);
  section(out, 'config errors', s.config?.errors ?? []);
  return `${out.join('\n')}\n`;
}

function route(v: ServiceStatus): string {
  if (v.isDefault) return '(default)';
  const hosts = v.route.hosts.length ? v.route.hosts.join(',') : '*';
  return `${hosts}${v.route.pathPrefix ?? ''}`;
}

function section(out: string[], title: string, items: readonly unknown[]): void {
  if (items.length === 0) return;
  out.push('', `${title}:`);
  for (const i of items) out.push(`  - ${typeof i === 'string' ? i : JSON.stringify(i)}`);
}

/** Which engine (and swarm node) discovery follows and when it last synced, from `discovery.status`. */
function discoveryLine(status: unknown, now: number): string | undefined {
  if (typeof status !== 'object' || status === null) return undefined;
  const d = status as { endpoint?: unknown; lastSyncAt?: unknown; engine?: { name?: unknown; nodeId?: unknown; role?: unknown }; swarmTasks?: { lastSyncAt?: unknown; services?: unknown } };
  const ago = (t: unknown) => (typeof t === 'number' ? `${Math.max(0, Math.round((now - t) / 1000))}s ago` : 'never');
  const e = d.engine;
  const engine = e && typeof e.name === 'string' ? ` engine ${e.name}${e.role !== 'none' && typeof e.nodeId === 'string' ? ` (swarm ${String(e.role)}, node ${e.nodeId.slice(0, 12)})` : ''}` : '';
  const tasks = d.swarmTasks ? `; ${String(d.swarmTasks.services)} swarm services, tasks listed ${ago(d.swarmTasks.lastSyncAt)}` : '';
  return `discovery: ${String(d.endpoint)}${engine}, synced ${ago(d.lastSyncAt)}${tasks}`;
}
