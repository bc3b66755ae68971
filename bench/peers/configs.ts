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
