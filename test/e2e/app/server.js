// HTTP + WebSocket test app for bluegreen's e2e tests. Plain JavaScript, no dependencies:
// runs in the bluegreen/testapp image (Node 24, no node_modules) and on the host
// (`node test/e2e/app/server.js`).
//
// Environment:
//   PORT=8080              port to listen on (HOST, when set, is the address; default all)
//   STARTUP_DELAY_MS=0     listen only after this delay
//   LATENCY_MS=0           added to every request except /health
//   ON_SIGTERM=graceful    graceful: stop accepting, finish in-flight requests, close idle
//                          keep-alive connections, keep open WebSockets working until their
//                          clients close them, then exit 0.
//                          exit: process.exit(0) at once, killing in-flight requests (php-fpm).
//   LINGER_MS=0            graceful only: for this long after SIGTERM, idle keep-alive connections
//                          stay open and requests arriving on them are served (with
//                          Connection: close), like an app's lame-duck period or a preStop
//                          sleep; then idle connections are closed. 0 closes them at once, which
//                          races with a request already on its way (the proxy learns of the stop
//                          from the same moment: Docker's kill event).
//   GRACE_MS=0             graceful only: when > 0, after this long close what is left
//                          (WebSockets get close 1001) and exit 0; 0 waits for docker's SIGKILL
//   NAME=testapp, VERSION=1 reported in responses
//   HEALTHY=true           false: /health answers 503 forever
//   HANG_PATH=             requests for this path (exact) are read but never answered: no
//                          response headers, ever (an upstream that hangs)
// SIGINT is handled like SIGTERM.
//
// Endpoints:
//   GET  /health           200 "ok" when ready (503 "unhealthy" with HEALTHY=false,
//                          503 "draining" after SIGTERM)
//   GET  /stats            {requests, inflight (not counting this one), websockets, draining}
//   GET  /, /anything      200 {name, version, hostname, pid, path, method}
//   POST|PUT|PATCH any     200 {name, version, hostname, pid, path, method, bytes, sha256}
//   GET  /ws               WebSocket echo (RFC 6455 by hand: text/binary, fragments, ping/pong,
//                          close echo)
//   Query on any request:  ?delay=ms    extra latency for this request
//                          ?status=NNN  answer with this status code
//                          ?destroy=1   destroy the socket (after the delay) instead of answering
import { createServer } from 'node:http';
import { Server as NetServer } from 'node:net';
import { createHash } from 'node:crypto';
import { hostname as osHostname } from 'node:os';

const env = process.env;
const PORT = Number(env.PORT ?? 8080);
const HOST = env.HOST || undefined;
const STARTUP_DELAY_MS = Number(env.STARTUP_DELAY_MS ?? 0);
const LATENCY_MS = Number(env.LATENCY_MS ?? 0);
const ON_SIGTERM = (env.ON_SIGTERM ?? 'graceful').toLowerCase();
const GRACE_MS = Number(env.GRACE_MS ?? 0);
const LINGER_MS = Number(env.LINGER_MS ?? 0);
const NAME = env.NAME ?? 'testapp';
const VERSION = env.VERSION ?? '1';
const HEALTHY = (env.HEALTHY ?? 'true').toLowerCase() !== 'false';
const HANG_PATH = env.HANG_PATH || undefined;
const HOSTNAME = osHostname();

if (ON_SIGTERM !== 'graceful' && ON_SIGTERM !== 'exit') {
  console.error(`ON_SIGTERM must be graceful or exit, not ${ON_SIGTERM}`);
  process.exit(2);
}

const log = (event, fields = {}) =>
  console.log(JSON.stringify({ t: new Date().toISOString(), name: NAME, version: VERSION, event, ...fields }));

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

let draining = false;
let requests = 0;
let inflight = 0;
const sockets = new Set(); // HTTP sockets (not yet upgraded)
const busy = new WeakSet(); // sockets with a request in flight
const websockets = new Set(); // upgraded sockets

function send(res, status, body, type = 'application/json') {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  const headers = { 'content-type': type, 'content-length': Buffer.byteLength(text) };
  if (draining) headers.connection = 'close';
  res.writeHead(status, headers);
  res.end(text);
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    let bytes = 0;
    req.on('data', (chunk) => {
      bytes += chunk.length;
      hash.update(chunk);
    });
    req.on('end', () => resolve({ bytes, sha256: hash.digest('hex') }));
    req.on('error', reject);
  });
}

async function handle(req, res) {
  const url = new URL(req.url ?? '/', 'http://app.invalid');
  const path = url.pathname;
  if (path === '/health') {
    if (!HEALTHY) return send(res, 503, 'unhealthy\n', 'text/plain');
    if (draining) return send(res, 503, 'draining\n', 'text/plain');
    return send(res, 200, 'ok\n', 'text/plain');
  }
  if (path === '/stats') {
    return send(res, 200, { requests, inflight: inflight - 1, websockets: websockets.size, draining });
  }
  const hasBody = req.method === 'POST' || req.method === 'PUT' || req.method === 'PATCH';
  const body = hasBody ? await readBody(req) : undefined;
  if (path === HANG_PATH) return; // never answered; the connection stays until the client gives up
  const delay = LATENCY_MS + Number(url.searchParams.get('delay') ?? 0);
  if (delay > 0) await sleep(delay);
  if (url.searchParams.get('destroy')) {
    req.socket.destroy();
    return;
  }
  const status = Number(url.searchParams.get('status') ?? 200) || 200;
  const info = { name: NAME, version: VERSION, hostname: HOSTNAME, pid: process.pid, path, method: req.method };
  send(res, status, body ? { ...info, ...body } : info);
}

const server = createServer({ keepAliveTimeout: 5000 }, (req, res) => {
  requests++;
  inflight++;
  busy.add(req.socket);
  let done = false;
  const finish = () => {
    if (done) return;
    done = true;
    inflight--;
    busy.delete(req.socket);
    if (draining) maybeExit();
  };
  res.on('close', finish);
  handle(req, res).catch((err) => {
    log('error', { message: String(err?.message ?? err) });
    if (!res.headersSent) send(res, 500, { error: String(err?.message ?? err) });
    else res.destroy();
  });
});

server.on('connection', (socket) => {
  sockets.add(socket);
  socket.on('close', () => {
    sockets.delete(socket);
    if (draining) maybeExit();
  });
});

// ---------------------------------------------------------------------------------------------
// WebSocket (RFC 6455), server side.

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const MAX_MESSAGE = 64 * 1024 * 1024;

function wsFrame(opcode, payload, fin = true) {
  const len = payload.length;
  let header;
  if (len < 126) {
    header = Buffer.alloc(2);
    header[1] = len;
  } else if (len < 65536) {
    header = Buffer.alloc(4);
    header[1] = 126;
    header.writeUInt16BE(len, 2);
  } else {
    header = Buffer.alloc(10);
    header[1] = 127;
    header.writeBigUInt64BE(BigInt(len), 2);
  }
  header[0] = (fin ? 0x80 : 0) | opcode;
  return Buffer.concat([header, payload]);
}

function closePayload(code, reason = '') {
  const r = Buffer.from(reason);
  const b = Buffer.alloc(2 + r.length);
  b.writeUInt16BE(code, 0);
  r.copy(b, 2);
  return b;
}

function rejectUpgrade(socket, status, text) {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
}

server.on('upgrade', (req, socket, head) => {
  const url = new URL(req.url ?? '/', 'http://app.invalid');
  const key = req.headers['sec-websocket-key'];
  if (url.pathname !== '/ws') return rejectUpgrade(socket, 404, 'Not Found');
  if (draining) return rejectUpgrade(socket, 503, 'Service Unavailable');
  if (String(req.headers.upgrade).toLowerCase() !== 'websocket' || typeof key !== 'string' || req.headers['sec-websocket-version'] !== '13') {
    return rejectUpgrade(socket, 400, 'Bad Request');
  }
  requests++;
  sockets.delete(socket);
  websockets.add(socket);
  const accept = createHash('sha1').update(key + WS_GUID).digest('base64');
  socket.write(
    'HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n' +
      `sec-websocket-accept: ${accept}\r\n\r\n`,
  );
  socket.setNoDelay(true);
  socket.setTimeout(0);
  let buf = head && head.length ? Buffer.from(head) : Buffer.alloc(0);
  let fragments = []; // payloads of a fragmented message
  let fragmentOpcode = 0;
  let fragmentBytes = 0;
  let closing = false;

  const fail = (code, reason) => {
    if (!closing) {
      closing = true;
      socket.end(wsFrame(0x8, closePayload(code, reason)));
    } else socket.destroy();
  };

  const onFrame = (fin, opcode, payload) => {
    if (opcode >= 0x8) {
      // Control frames: never fragmented, payload <= 125.
      if (!fin || payload.length > 125) return fail(1002, 'bad control frame');
      if (opcode === 0x8) {
        // Echo the close frame (same code and reason), then close the TCP connection.
        if (!closing) {
          closing = true;
          socket.end(wsFrame(0x8, payload));
        } else socket.end();
        return;
      }
      if (opcode === 0x9) return void socket.write(wsFrame(0xa, payload));
      if (opcode === 0xa) return; // pong
      return fail(1002, 'unknown opcode');
    }
    if (opcode === 0x0) {
      if (!fragmentOpcode) return fail(1002, 'unexpected continuation');
    } else if (opcode === 0x1 || opcode === 0x2) {
      if (fragmentOpcode) return fail(1002, 'expected continuation');
      fragmentOpcode = opcode;
    } else return fail(1002, 'unknown opcode');
    fragments.push(payload);
    fragmentBytes += payload.length;
    if (fragmentBytes > MAX_MESSAGE) return fail(1009, 'message too big');
    if (!fin) return;
    const message = fragments.length === 1 ? fragments[0] : Buffer.concat(fragments);
    const type = fragmentOpcode;
    fragments = [];
    fragmentOpcode = 0;
    fragmentBytes = 0;
    if (type === 0x1 && !isUtf8(message)) return fail(1007, 'invalid utf-8');
    if (!closing) socket.write(wsFrame(type, message));
  };

  const parse = () => {
    while (buf.length >= 2) {
      const fin = (buf[0] & 0x80) !== 0;
      if (buf[0] & 0x70) return fail(1002, 'reserved bits set');
      const opcode = buf[0] & 0x0f;
      const masked = (buf[1] & 0x80) !== 0;
      if (!masked) return fail(1002, 'client frames must be masked');
      let len = buf[1] & 0x7f;
      let offset = 2;
      if (len === 126) {
        if (buf.length < 4) return;
        len = buf.readUInt16BE(2);
        offset = 4;
      } else if (len === 127) {
        if (buf.length < 10) return;
        const big = buf.readBigUInt64BE(2);
        if (big > BigInt(MAX_MESSAGE)) return fail(1009, 'frame too big');
        len = Number(big);
        offset = 10;
      }
      if (buf.length < offset + 4 + len) return;
      const mask = buf.subarray(offset, offset + 4);
      const payload = Buffer.from(buf.subarray(offset + 4, offset + 4 + len));
      for (let i = 0; i < payload.length; i++) payload[i] ^= mask[i & 3];
      buf = buf.subarray(offset + 4 + len);
      onFrame(fin, opcode, payload);
      if (socket.destroyed) return;
    }
  };

  socket.on('data', (chunk) => {
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    parse();
  });
  socket.on('error', () => {});
  socket.on('close', () => {
    websockets.delete(socket);
    if (draining) maybeExit();
  });
  socket.on('end', () => socket.end());
  if (buf.length) parse();
});

function isUtf8(b) {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(b);
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Shutdown.

function closeIdle() {
  for (const s of sockets) {
    if (busy.has(s) || s.writableEnded) continue;
    s.end(); // FIN after anything still buffered; destroy if the peer never closes its side
    setTimeout(() => s.destroy(), 1000).unref();
  }
}

let exiting = false;
let flushTimer;
function exitNow(reason) {
  if (exiting) return;
  exiting = true;
  log('exit', { reason, requests, inflight, websockets: websockets.size });
  process.exit(0);
}

// Graceful only: exits once no request is in flight, no WebSocket is open and every HTTP
// connection has closed (so no response bytes are still buffered in the process).
let lingering = false;
function maybeExit() {
  if (exiting || lingering) return;
  closeIdle();
  if (inflight > 0 || websockets.size > 0) return;
  if (sockets.size === 0) return exitNow('drained');
  flushTimer ??= setTimeout(() => exitNow('drained'), 1500);
}

function onSignal(signal) {
  if (ON_SIGTERM === 'exit') return exitNow(signal);
  if (draining) return;
  draining = true;
  log('draining', { signal, inflight, websockets: websockets.size, lingerMs: LINGER_MS });
  // Stop accepting. http's close() also closes idle keep-alive connections at once; while
  // lingering only the listener closes (net's close), idle connections stay for LINGER_MS.
  if (LINGER_MS > 0) NetServer.prototype.close.call(server);
  else server.close();
  if (GRACE_MS > 0) {
    setTimeout(() => {
      log('grace expired', { inflight, websockets: websockets.size });
      for (const ws of websockets) ws.end(wsFrame(0x8, closePayload(1001, 'going away')));
      setTimeout(() => exitNow('grace expired'), 200).unref();
    }, GRACE_MS).unref();
  }
  const closeNow = () => {
    lingering = false;
    maybeExit();
    // Keep-alive connections that turn idle after their last response are closed in maybeExit
    // (called from each response's close); this sweep catches anything else.
    setInterval(closeIdle, 250).unref();
  };
  if (LINGER_MS > 0) {
    lingering = true;
    setTimeout(closeNow, LINGER_MS);
  } else closeNow();
}

process.on('SIGTERM', () => onSignal('SIGTERM'));
process.on('SIGINT', () => onSignal('SIGINT'));

server.on('clientError', (err, socket) => {
  if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n');
  else socket.destroy();
});

setTimeout(() => {
  if (draining) return;
  server.listen(PORT, HOST, () => {
    const addr = server.address();
    log('listening', { port: typeof addr === 'object' && addr ? addr.port : PORT, pid: process.pid, onSigterm: ON_SIGTERM });
  });
}, STARTUP_DELAY_MS);
