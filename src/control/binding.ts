import { isIP } from 'node:net';
import { BluegreenError } from '../errors.ts';

/** True for names and addresses that only this machine can reach: localhost, 127.0.0.0/8, ::1. */
export function isLoopbackHost(host: string): boolean {
  let h = host.trim().toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (h.startsWith('::ffff:') && isIP(h.slice(7)) === 4) h = h.slice(7);
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1' || h === '0:0:0:0:0:0:0:1';
  return false;
}

/**
 * The admin API steers traffic, so it may listen beyond loopback only behind a bearer token.
 * Throws BAD_CONFIG (the proxy refuses to start) when `host` is not loopback and no token is set.
 */
export function assertAdminBindingAllowed(host: string, token: string | undefined): void {
  if (token) return;
  if (isLoopbackHost(host)) return;
  throw new BluegreenError(
    'BAD_CONFIG',
    `the admin API would listen on ${host || 'every address'} without a token: set --admin-token ` +
      `(or BLUEGREEN_ADMIN_TOKEN), or listen on 127.0.0.1`,
  );
}
