import { Counter, Gauge, type Registry as PromRegistry } from 'prom-client';
import { booleanField, numberField, safeStatus, type ConfigStatusProvider, type DiscoveryProvider } from './providers.ts';

/**
 * Metrics read from the optional discovery and config providers at scrape time. Their counts
 * live in the providers; a counter here is reset and set to the provider's value on each scrape.
 */
export function registerProviderMetrics(
  registers: PromRegistry[],
  discovery: DiscoveryProvider | undefined,
  config: ConfigStatusProvider | undefined,
): void {
  if (discovery) {
    countFrom(registers, 'bluegreen_discovery_events_total', 'Docker events handled by discovery.', () => numberField(safeStatus(discovery), 'events'));
    countFrom(registers, 'bluegreen_discovery_reconnects_total', 'Times discovery reconnected to the Docker Engine.', () =>
      numberField(safeStatus(discovery), 'reconnects'),
    );
    gaugeFrom(registers, 'bluegreen_discovery_connected', '1 while discovery is connected to the Docker Engine.', () => {
      const c = booleanField(safeStatus(discovery), 'connected');
      return c === undefined ? undefined : c ? 1 : 0;
    });
    gaugeFrom(registers, 'bluegreen_discovery_rejected_containers', 'Containers discovery refused (bad labels and the like).', () => discovery.rejected.length);
  }
  if (config) {
    countFrom(registers, 'bluegreen_config_reloads_total', 'Config file changes applied live.', () => numberField(safeStatus(config), 'reloads'));
    countFrom(registers, 'bluegreen_config_reload_failures_total', 'Config file changes rejected (the last good config kept serving).', () =>
      numberField(safeStatus(config), 'reloadFailures'),
    );
    gaugeFrom(registers, 'bluegreen_config_errors', 'Problems in the current config file (0 when it is valid).', () => config.errors.length);
  }
}

function countFrom(registers: PromRegistry[], name: string, help: string, read: () => number | undefined): void {
  const c: Counter = new Counter({
    name,
    help,
    registers,
    collect() {
      c.reset();
      const v = read();
      if (v !== undefined && v > 0) c.inc(v);
    },
  });
}

function gaugeFrom(registers: PromRegistry[], name: string, help: string, read: () => number | undefined): void {
  const g: Gauge = new Gauge({
    name,
    help,
    registers,
    collect() {
      g.set(read() ?? 0);
    },
  });
}
