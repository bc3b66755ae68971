// Many requests held open at once: one GET per client socket (no agent, no keep-alive), each with
// its own sequence number in the path, so a test can hold thousands of requests in a proxy and
// check how and in which order they are answered.
import { request } from 'node:http';
import { readFileSync } from 'node:fs';

export interface HeldReply {
  seq: number;
  status: number;
  /** Client clock, ms since epoch. */
  start: number;
  end: number;
  body: string;
  error?: string;
}

/** Sends GET <url>/<prefix>/<seq> with the Host header on a fresh connection; never rejects. */
export function heldGet(base: string, host: string, prefix: string, seq: number, timeoutMs: number): Promise<HeldReply> {
  const start = Date.now();
  return new Promise((resolve) => {
    const done = (r: Omit<HeldReply, 'seq' | 'start' | 'end'>) => resolve({ seq, start, end: Date.now(), ...r });
    const req = request(`${base}/${prefix}/${seq}`, { agent: false, headers: { host, connection: 'close' }, signal: AbortSignal.timeout(timeoutMs) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => done({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      res.on('error', (err) => done({ status: 0, body: '', error: err.message }));
    });
    req.on('error', (err) => done({ status: 0, body: '', error: err.message }));
    req.end();
  });
}

/** The soft "Max open files" limit of a process (default: this one), from /proc/PID/limits. */
export function openFilesLimit(pid: number | 'self' = 'self'): number {
  const line = readFileSync(`/proc/${pid}/limits`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Max open files'));
  const soft = line?.split(/\s{2,}/)[1];
  return soft === 'unlimited' ? Infinity : Number(soft);
}

/** A field of /proc/PID/status in kB (VmHWM: peak resident set, VmRSS: resident set now). */
export function procStatusKb(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`/proc/${pid}/status has no ${field}`);
  return Number(m[1]);
}
