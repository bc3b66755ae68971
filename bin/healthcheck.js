#!/usr/bin/env node
// The image's HEALTHCHECK: asks the admin listener (BLUEGREEN_ADMIN_LISTEN, default 127.0.0.1:9901) for
// /healthz. Exits 0 when the proxy answers 200, 1 otherwise.
import { request } from 'node:http';

const admin = process.env.BLUEGREEN_ADMIN_LISTEN || '127.0.0.1:9901';
const [host, port] = admin.startsWith('[') ? [admin.slice(1, admin.indexOf(']')), admin.split(']:')[1]] : admin.split(':');
const target = !host || host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
const req = request({ host: target, port: Number(port), path: '/healthz', timeout: 1500 }, (res) => {
  res.resume();
  process.exit(res.statusCode === 200 ? 0 : 1);
});
req.on('timeout', () => req.destroy(new Error('timeout')));
req.on('error', (err) => {
  console.error(`healthcheck: ${err.message}`);
  process.exit(1);
});
req.end();
