// The benchmark's upstream: a minimal Node HTTP/1.1 server answering every request with the
// same small fixed body. Run as its own process by bench/throughput.ts:
//
//   node bench/upstream-server.ts [--host 127.0.0.1] [--port 0] [--body-bytes 100]
//
// Prints one JSON line {"port":N} on stdout once listening. Exits on SIGTERM/SIGINT, and when
// the parent that spawned it with an IPC channel goes away (so a killed bench leaves no orphan).
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '0' },
    'body-bytes': { type: 'string', default: '100' },
  },
  strict: true,
});

const bodyBytes = Number(values['body-bytes']);
if (!Number.isInteger(bodyBytes) || bodyBytes < 0) throw new Error('--body-bytes must be a non-negative integer');
const body = Buffer.alloc(bodyBytes, 'x');
const headers = {
  'content-type': 'text/plain',
  'content-length': String(body.length),
};

const server = createServer((req, res) => {
  // Drain any request body so the connection stays reusable, then answer.
  req.resume();
  res.writeHead(200, headers);
  res.end(body);
});
// Load generators and proxies keep their connections for the whole run: never time them out.
server.keepAliveTimeout = 60_000;
server.headersTimeout = 61_000;
server.requestTimeout = 0;

server.listen({ host: values.host, port: Number(values.port) }, () => {
  const { port } = server.address() as AddressInfo;
  process.stdout.write(`${JSON.stringify({ port })}\n`);
});

const stop = (): void => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.on('disconnect', stop);
