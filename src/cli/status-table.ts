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
