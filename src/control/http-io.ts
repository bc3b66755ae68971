import type { IncomingMessage, ServerResponse } from 'node:http';
import { BluegreenError, httpStatusOf, isBluegreenError } from '../errors.ts';

/** Largest request body the admin API reads. */
const MAX_BODY_BYTES = 16 * 1024;

export function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  res.end(body);
}

/** Answers `{code, message}` with the status `httpStatusOf` gives the code. */
export function sendApiError(res: ServerResponse, err: unknown): void {
  const e = isBluegreenError(err) ? err : new BluegreenError('BAD_REQUEST', (err as Error)?.message ?? String(err));
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (e.code === 'UNAUTHORIZED') res.setHeader('www-authenticate', 'Bearer realm="bluegreen"');
  sendJson(res, httpStatusOf(e.code), { code: e.code, message: e.message });
}

/** Reads a JSON object body; an empty body is `{}`. Throws BAD_REQUEST on anything else. */
export async function readJsonBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new BluegreenError('BAD_REQUEST', `request body is larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (text === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new BluegreenError('BAD_REQUEST', 'request body is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new BluegreenError('BAD_REQUEST', 'request body must be a JSON object');
  }
  return value as Record<string, unknown>;
}
