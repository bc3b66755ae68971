// Configurations of the peer proxies for the deploy benchmark's seed scenario: both app ports
// (3000 and 4000, `network_mode: host` containers) behind each peer, set up the way the issue
// describes how people run them today. Each runs in the foreground from a temp dir; the system
// configs are never read.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface PeerCommand {
  cmd: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  /** What the report says about the configuration. */
  describe: string;
}

/** Caddy: `lb_policy first`, passive health (`fail_duration 5s`), retries for up to 8 s; no active health checks. */
export function caddyConfig(bin: string, dir: string, listenPort: number, ports: number[]): PeerCommand {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'Caddyfile');
  writeFileSync(
    file,
    `# Written by bench/deploy.ts
{
\tadmin off
\tauto_https off
}
http://:${listenPort} {
\tbind 127.0.0.1
\treverse_proxy ${ports.map((p) => `127.0.0.1:${p}`).join(' ')} {
\t\tlb_policy first
\t\tlb_try_duration 8s
\t\tfail_duration 5s
\t}
}
`,
  );
  return {
    cmd: bin,
    args: ['run', '--config', file, '--adapter', 'caddyfile'],
    env: { HOME: dir, XDG_DATA_HOME: join(dir, 'data'), XDG_CONFIG_HOME: join(dir, 'config') },
    describe: 'lb_policy first, fail_duration 5s, lb_try_duration 8s, no active health checks',
  };
}

/** nginx: both servers `max_fails=1 fail_timeout=5s`, default `proxy_next_upstream error timeout`. */
export function nginxConfig(bin: string, dir: string, listenPort: number, ports: number[]): PeerCommand {
  mkdirSync(join(dir, 'logs'), { recursive: true });
  const conf = join(dir, 'nginx.conf');
  writeFileSync(
    conf,
    `# Written by bench/deploy.ts
daemon off;
master_process on;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_max_body_size 8m;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  map $http_upgrade $connection_upgrade { default upgrade; '' close; }
  upstream app {
${ports.map((p) => `    server 127.0.0.1:${p} max_fails=1 fail_timeout=5s;`).join('\n')}
  }
  server {
    listen 127.0.0.1:${listenPort};
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Host $host;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_read_timeout 60s;
    }
  }
}
`,
  );
  return {
    cmd: bin,
    args: ['-e', join(dir, 'logs', 'error.log'), '-p', dir, '-c', conf],
    describe: 'both servers max_fails=1 fail_timeout=5s, proxy_next_upstream error timeout (default)',
  };
}

/** HAProxy: both servers, `option redispatch`, `retries 3` (no `check`: no health checks). */
export function haproxyConfig(bin: string, dir: string, listenPort: number, ports: number[]): PeerCommand {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'haproxy.cfg');
  writeFileSync(
    file,
    `# Written by bench/deploy.ts
global
  maxconn 4096
defaults
  mode http
  timeout connect 2s
  timeout client 60s
  timeout server 60s
  timeout tunnel 1h
  option redispatch
  retries 3
frontend bench
  bind 127.0.0.1:${listenPort}
  default_backend app
backend app
${ports.map((p, i) => `  server app${i} 127.0.0.1:${p}`).join('\n')}
`,
  );
  return {
    cmd: bin,
    args: ['-db', '-f', file],
    describe: 'both servers, option redispatch, retries 3, no health checks',
  };
}

// ---------------------------------------------------------------------------------------------
// Swarm cases: each peer runs as a stack service (image from bench/peers/build-images.sh) on the
// attachable overlay of the app's tasks, published in mode host, in front of a service with
// `endpoint_mode: dnsrr`: the service name resolves (Docker's DNS at 127.0.0.11) to one A record
// per running task, and the peer has to re-resolve it as tasks come and go. The files are written
// to `dir`, which the stack bind-mounts at /etc/bench (the images' CMD reads them from there).

export interface SwarmPeerConfig {
  /** The file the image's CMD reads from /etc/bench. */
  file: string;
  /** What the report says about the configuration. */
  describe: string;
}

/** The port each peer listens on inside its container. */
export const SWARM_PEER_PORT = 8080;

/**
 * Caddy 2.6: dynamic A upstreams re-resolved every second through Docker's DNS, `lb_policy first`,
 * retries for up to 8 s, passive health (`fail_duration 5s`).
 */
export function caddySwarmConfig(dir: string, service: string, appPort: number): SwarmPeerConfig {
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'Caddyfile'),
    `# Written by bench/deploy.ts (swarm case)
{
\tadmin off
\tauto_https off
}
http://:${SWARM_PEER_PORT} {
\treverse_proxy {
\t\tdynamic a ${service} ${appPort} {
\t\t\tresolvers 127.0.0.11:53
\t\t\trefresh 1s
\t\t}
\t\tlb_policy first
\t\tlb_try_duration 8s
\t\tfail_duration 5s
\t}
}
`,
  );
  return { file: 'Caddyfile', describe: `dynamic a ${service} ${appPort} (resolvers 127.0.0.11:53, refresh 1s), lb_policy first, lb_try_duration 8s, fail_duration 5s` };
}

/**
 * nginx 1.22 (open source: no `resolve` on upstream servers): `resolver 127.0.0.11 valid=1s` and a
 * variable in proxy_pass, so the name is resolved again once its answer is older than 1 s; the
 * addresses of one answer form an implicit round-robin upstream (max_fails=1 fail_timeout=10s,
 * nginx's defaults); `proxy_next_upstream error timeout` (the default) with up to 3 tries, and a
 * 2 s connect timeout (like HAProxy's `timeout connect 2s`; nginx's default is 60 s).
 */
export function nginxSwarmConfig(dir: string, service: string, appPort: number): SwarmPeerConfig {
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'nginx.conf'),
    `# Written by bench/deploy.ts (swarm case)
daemon off;
master_process on;
worker_processes 1;
pid /run/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  client_max_body_size 8m;
  client_body_temp_path /var/lib/nginx/body;
  proxy_temp_path /var/lib/nginx/proxy;
  fastcgi_temp_path /var/lib/nginx/fastcgi;
  uwsgi_temp_path /var/lib/nginx/uwsgi;
  scgi_temp_path /var/lib/nginx/scgi;
  resolver 127.0.0.11 valid=1s ipv6=off;
  map $http_upgrade $connection_upgrade { default upgrade; '' close; }
  server {
    listen ${SWARM_PEER_PORT};
    location / {
      set $app ${service};
      proxy_pass http://$app:${appPort};
      proxy_next_upstream error timeout;
      proxy_next_upstream_tries 3;
      proxy_connect_timeout 2s;
      proxy_http_version 1.1;
      proxy_set_header Host $host;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_read_timeout 60s;
    }
  }
}
`,
  );
  return {
    file: 'nginx.conf',
    describe: `resolver 127.0.0.11 valid=1s, set $app ${service}; proxy_pass http://$app:${appPort}, proxy_next_upstream error timeout, proxy_next_upstream_tries 3, proxy_connect_timeout 2s`,
  };
}

/**
 * HAProxy 2.6: `server-template` slots filled from Docker's DNS (`hold valid 1s`), active health
 * checks `GET /health` every second, `option redispatch`, `retries 3`.
 */
export function haproxySwarmConfig(dir: string, service: string, appPort: number): SwarmPeerConfig {
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'haproxy.cfg'),
    `# Written by bench/deploy.ts (swarm case)
global
  maxconn 4096
resolvers docker
  nameserver dns 127.0.0.11:53
  resolve_retries 3
  timeout resolve 1s
  timeout retry 1s
  hold valid 1s
  accepted_payload_size 8192
defaults
  mode http
  timeout connect 2s
  timeout client 60s
  timeout server 60s
  timeout tunnel 1h
  option redispatch
  retries 3
frontend bench
  bind :${SWARM_PEER_PORT}
  default_backend app
backend app
  option httpchk GET /health
  default-server inter 1s
  server-template app 6 ${service}:${appPort} check resolvers docker init-addr none resolve-prefer ipv4
`,
  );
  return {
    file: 'haproxy.cfg',
    describe: `server-template app 6 ${service}:${appPort} check resolvers docker (127.0.0.11, hold valid 1s) init-addr none, option httpchk GET /health inter 1s, option redispatch, retries 3`,
  };
}
