// A WebSocket that the upstream closes (close frame, then FIN: an app going away, e.g. at the end of
// its grace period) must release the proxy's client connection once the client has answered with its
// own close frame and FIN. http-proxy-3 stops reading the client socket when the upstream socket
// closes (its pipe is undone), so the client's close frame was left unread, 'end' never came, and the
// proxy kept the connection's fd open forever: one fd leaked per such WebSocket (found by the soak).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { createHash } from 'node:crypto';
import { addUpstream, sleep, startProxy } from '../support/servers.ts';

/** An upstream that accepts the upgrade, then at once sends a 1001 close frame and ends its side. */
async function closingUpstream(): Promise<{ port: number; close: () => Promise<void> }> {
  const server: Server = createServer((_req, res) => res.end('http'));
  const sockets = new Set<Socket>();
  server.on('upgrade', (req, socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    const accept = createHash('sha1').update(`${String(req.headers['sec-websocket-key'])}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: ${accept}\r\n\r\n`);
    setTimeout(() => socket.end(Buffer.from([0x88, 0x02, 0x03, 0xe9])), 50); // close 1001, then FIN
    socket.resume();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }),
  };
}

/** A raw client: upgrade, wait for the close frame, answer with a masked close frame, then FIN. */
function wsClientAnsweringClose(port: number): Promise<{ sawClose: boolean }> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    let answered = false;
    s.on('error', reject);
    s.on('connect', () => {
      s.write('GET /ws HTTP/1.1\r\nhost: ws.test\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
    });
    s.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      const headEnd = buf.indexOf('\r\n\r\n');
      if (answered || headEnd < 0) return;
      const frame = buf.subarray(headEnd + 4);
      if (frame.length >= 2 && frame[0] === 0x88) {
        answered = true;
        // Masked close frame 1001 (mask 0), then our FIN.
        s.end(Buffer.from([0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe9]));
      }
    });
    s.on('close', () => resolve({ sawClose: answered }));
  });
}

function connections(proxy: Awaited<ReturnType<typeof startProxy>>['proxy']): Promise<number> {
  return new Promise((resolve, reject) => proxy.listener.server.getConnections((err, n) => (err ? reject(err) : resolve(n))));
}

test('a WebSocket closed by its upstream releases the client connection after the client answers', async (t) => {
  const { proxy, port } = await startProxy();
  t.after(() => proxy.stop(100));
  const up = await closingUpstream();
  t.after(() => up.close());
  const upstream = addUpstream(proxy, 'ws', up.port);
  proxy.registry.defineService('ws', { hosts: ['ws.test'] });

  for (let i = 0; i < 3; i++) {
    const r = await wsClientAnsweringClose(port);
    assert.equal(r.sawClose, true, 'the upstream close frame reached the client');
  }
  // Each connection ends on both sides: the proxy must close its socket (and free its fd).
  const end = Date.now() + 3000;
  let open = await connections(proxy);
  while (open > 0 && Date.now() < end) {
    await sleep(50);
    open = await connections(proxy);
  }
  assert.equal(open, 0, 'client connections still open in the proxy after both sides closed');
  assert.equal(upstream.webSockets, 0);
});
