import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { DEFAULT_DATAPLANE_OPTIONS } from '../../src/dataplane/options.ts';
import { BluegreenError } from '../../src/errors.ts';
import { toDataPlaneOptions, toProxyOptions } from '../../src/config/apply.ts';
import {
  CONFIG_FLAGS,
  ConfigError,
  configFlagsHelp,
  loadSettings,
  resolveSettings,
  type LoadedSettings,
} from '../../src/config/load.ts';
import {
  SETTINGS,
  SETTING_KEYS,
  STATIC_UPSTREAM_KEYS,
  defaultSettings,
  envName,
  settingsMarkdownTable,
} from '../../src/config/schema.ts';

const FILE = '/etc/bluegreen/bluegreen.yml';

function resolve(text: string | undefined, env: Record<string, string> = {}, flags: Record<string, unknown> = {}): LoadedSettings {
  return resolveSettings({ file: FILE, explicit: false, text, env, flags });
}

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    assert.ok(err instanceof BluegreenError);
    assert.equal(err.code, 'BAD_CONFIG');
    return err.message.split('\n');
  }
  assert.fail('expected a ConfigError');
}

test('defaults: every data plane default, and the documented defaults', () => {
  const s = defaultSettings();
  assert.deepEqual(toDataPlaneOptions(s), { ...DEFAULT_DATAPLANE_OPTIONS });
  assert.deepEqual(s.listen, { host: '0.0.0.0', port: 8080 });
  assert.deepEqual(s.admin, { listen: { host: '127.0.0.1', port: 9901 } });
  assert.equal(s.defaultDrainTimeout, 10_000);
  assert.equal(s.logLevel, 'info');
  assert.equal(s.accessLog, false);
  assert.deepEqual(s.docker, { enabled: true });
  assert.deepEqual(s.staticUpstreams, []);
  assert.deepEqual(s.tls, { listen: { host: '0.0.0.0', port: 8443 }, redirectHttp: false });
  assert.equal(s.hostAddress, '127.0.0.1');
  const proxy = toProxyOptions(s);
  assert.equal(proxy.defaultDrainTimeoutMs, 10_000);
  assert.deepEqual(proxy.docker, { hostAddress: '127.0.0.1' });
  assert.equal(toProxyOptions(resolve('docker: { enabled: false }').settings).docker, undefined);
  const remote = toProxyOptions(resolve('docker: { host: "tcp://127.0.0.1:2375" }\nhostAddress: 10.0.0.1').settings).docker;
  assert.equal(remote?.hostAddress, '10.0.0.1');
  assert.equal((remote?.client as { endpoint?: string } | undefined)?.endpoint, 'tcp://127.0.0.1:2375');
  // Each documented default, written in a file, gives the same settings as no file.
  const yaml: Record<string, unknown> = {};
  for (const key of SETTING_KEYS) {
    const d = SETTINGS[key].default;
    if (d === undefined) continue;
    const parts = key.split('.');
    let cur = yaml;
    for (const p of parts.slice(0, -1)) cur = (cur[p] ??= {}) as Record<string, unknown>;
    cur[parts.at(-1)!] = d;
  }
  assert.deepEqual(resolve(stringify(yaml)).settings, s);
});

test('a full file: durations in ms, sizes in bytes, addresses, lists', () => {
  const { settings: s } = resolve(`
listen: "[::]:80"
admin: { listen: "0.0.0.0:9901", token: s3cret }
holdTimeout: 1m30s
holdQueueSize: 50
retryBufferSize: 64KiB
failDuration: 500ms
connectTimeout: 1s
headersTimeout: 2m
idleTimeout: 45s
clientKeepAlive: 0
shutdownGrace: 10s
defaultDrainTimeout: 1h
defaultService: Web
logLevel: DEBUG
accessLog: true
trustedProxies: [10.0.0.0/8, 192.168.1.10, "fd00::/8"]
hostAddress: 172.17.0.1
docker: { enabled: false, host: "tcp://docker:2375" }
staticUpstreams:
  - api=10.0.0.5:8080
  - { service: web, address: "web.internal:80", hosts: [Example.com, "*.example.com"], path: /app/, color: Blue }
tls: { dir: /etc/bluegreen/tls, redirectHttp: true, listen: ":443" }
`);
  assert.deepEqual(s.listen, { host: '::', port: 80 });
  assert.deepEqual(s.admin, { listen: { host: '0.0.0.0', port: 9901 }, token: 's3cret' });
  assert.equal(s.holdTimeout, 90_000);
  assert.equal(s.holdQueueSize, 50);
  assert.equal(s.retryBufferSize, 65_536);
  assert.equal(s.failDuration, 500);
  assert.equal(s.headersTimeout, 120_000);
  assert.equal(s.idleTimeout, 45_000);
  assert.equal(s.clientKeepAlive, 0);
  assert.equal(s.defaultDrainTimeout, 3_600_000);
  assert.equal(s.defaultService, 'web');
  assert.equal(s.logLevel, 'debug');
  assert.equal(s.accessLog, true);
  assert.deepEqual(s.trustedProxies, ['10.0.0.0/8', '192.168.1.10', 'fd00::/8']);
  assert.equal(s.hostAddress, '172.17.0.1');
  assert.deepEqual(s.docker, { enabled: false, host: 'tcp://docker:2375' });
  assert.deepEqual(s.staticUpstreams, [
    { service: 'api', host: '10.0.0.5', port: 8080, hosts: [] },
    { service: 'web', host: 'web.internal', port: 80, hosts: ['example.com', '*.example.com'], path: '/app', color: 'blue' },
  ]);
  assert.deepEqual(s.tls, { dir: '/etc/bluegreen/tls', redirectHttp: true, listen: { host: '0.0.0.0', port: 443 } });
  assert.equal(toDataPlaneOptions(s).bodyTimeoutMs, 45_000);
});

test('precedence: flag > env > file > default, key by key', () => {
  // [file, env, flag] → expected holdTimeout in ms
  const table: [string | undefined, string | undefined, string | undefined, number][] = [
    [undefined, undefined, undefined, 30_000],
    ['1s', undefined, undefined, 1_000],
    [undefined, '2s', undefined, 2_000],
    [undefined, undefined, '3s', 3_000],
    ['1s', '2s', undefined, 2_000],
    ['1s', undefined, '3s', 3_000],
    [undefined, '2s', '3s', 3_000],
    ['1s', '2s', '3s', 3_000],
  ];
  for (const [file, env, flag, want] of table) {
    const r = resolve(
      file === undefined ? undefined : `holdTimeout: ${file}\nfailDuration: 7s\n`,
      env === undefined ? {} : { BLUEGREEN_HOLD_TIMEOUT: env },
      flag === undefined ? {} : { 'hold-timeout': flag },
    );
    assert.equal(r.settings.holdTimeout, want, `file=${file} env=${env} flag=${flag}`);
    // Other keys of the file stay when one key is overridden.
    assert.equal(r.settings.failDuration, file === undefined ? 2_000 : 7_000);
    assert.equal(r.sources.get('holdTimeout'), flag ? 'flag --hold-timeout' : env ? 'environment BLUEGREEN_HOLD_TIMEOUT' : undefined);
  }

  // Nested keys merge: env sets admin.token, the file's admin.listen stays.
  const nested = resolve('admin:\n  listen: 0.0.0.0:9901\n', { BLUEGREEN_ADMIN_TOKEN: 'from-env' });
  assert.deepEqual(nested.settings.admin, { listen: { host: '0.0.0.0', port: 9901 }, token: 'from-env' });
  assert.equal(resolve('admin: { token: f }', { BLUEGREEN_ADMIN_TOKEN: 'e' }, { 'admin-token': 'g' }).settings.admin.token, 'g');
  assert.deepEqual(resolve(undefined, { BLUEGREEN_ADMIN_LISTEN: '127.0.0.2:1' }, { admin: '[::1]:2' }).settings.admin.listen, { host: '::1', port: 2 });

  // Lists from env are comma-separated and replace the file's list whole; flags are repeatable.
  const lists = resolve('trustedProxies: [1.1.1.1]\nstaticUpstreams: [a=h:1]', {
    BLUEGREEN_TRUSTED_PROXIES: ' 10.0.0.0/8, ,fd00::/8 ',
    BLUEGREEN_STATIC_UPSTREAMS: 'b=h:2,c=h:3',
  });
  assert.deepEqual(lists.settings.trustedProxies, ['10.0.0.0/8', 'fd00::/8']);
  assert.deepEqual(lists.settings.staticUpstreams.map((u) => u.service), ['b', 'c']);
  const flagged = resolve(undefined, { BLUEGREEN_STATIC_UPSTREAMS: 'b=h:2' }, { upstream: ['x=h:1', 'y=h:2,z=h:3'], 'trusted-proxy': ['1.2.3.4'] });
  assert.deepEqual(flagged.settings.staticUpstreams.map((u) => u.service), ['x', 'y', 'z']);
  assert.deepEqual(flagged.settings.trustedProxies, ['1.2.3.4']);

  // Booleans and integers from text.
  assert.equal(resolve('docker: { enabled: true }', { BLUEGREEN_DOCKER_ENABLED: 'no' }).settings.docker.enabled, false);
  assert.equal(resolve(undefined, { BLUEGREEN_DOCKER_ENABLED: 'true' }, { 'no-docker': true }).settings.docker.enabled, false);
  assert.equal(resolve(undefined, {}, { 'no-docker': false }).settings.docker.enabled, true);
  assert.equal(resolve(undefined, { BLUEGREEN_ACCESS_LOG: 'ON' }).settings.accessLog, true);
  assert.equal(resolve(undefined, { BLUEGREEN_HOLD_QUEUE_SIZE: '77' }).settings.holdQueueSize, 77);
  assert.equal(resolve(undefined, { BLUEGREEN_LOG_LEVEL: 'warn' }, { 'log-level': 'error' }).settings.logLevel, 'error');
  // An empty variable is unset.
  assert.equal(resolve('holdTimeout: 1s', { BLUEGREEN_HOLD_TIMEOUT: '' }).settings.holdTimeout, 1_000);
});

test('env names are BLUEGREEN_ + SCREAMING_SNAKE of the key path', () => {
  assert.equal(envName('holdTimeout'), 'BLUEGREEN_HOLD_TIMEOUT');
  assert.equal(envName('admin.token'), 'BLUEGREEN_ADMIN_TOKEN');
  assert.equal(envName('listen'), 'BLUEGREEN_LISTEN');
  assert.equal(envName('tls.redirectHttp'), 'BLUEGREEN_TLS_REDIRECT_HTTP');
  assert.equal(envName('docker.enabled'), 'BLUEGREEN_DOCKER_ENABLED');
  // Every key can be set from env (a value that differs from the default is picked up).
  const samples: Record<string, string> = {
    listen: '1.2.3.4:1', 'admin.listen': '127.0.0.1:2', 'admin.token': 't', holdTimeout: '1s', holdQueueSize: '3',
    retryBufferSize: '1KiB', failDuration: '1s', connectTimeout: '1s', headersTimeout: '1s', idleTimeout: '1s',
    upstreamKeepAlive: '1s', connectionsPerUpstream: '9', expectContinueTimeout: '2s', clientKeepAlive: '1s', shutdownGrace: '1s', shutdownIdleClose: '1s',
    defaultDrainTimeout: '1s', defaultService: 'x', logLevel: 'warn', accessLog: 'true', trustedProxies: '10.0.0.1',
    hostAddress: '10.1.1.1', 'docker.enabled': 'false', 'docker.host': 'unix:///d.sock', staticUpstreams: 'a=b:1',
    'tls.dir': '/t', 'tls.listen': ':1', 'tls.redirectHttp': 'true',
    'limits.maxConnections': '9', 'limits.maxHeaderSize': '4KiB', 'limits.maxHeaderCount': '9', 'limits.maxUrlLength': '1KiB',
    'limits.headerTimeout': '1s', 'limits.bodyIdleTimeout': '1s',
  };
  assert.deepEqual(Object.keys(samples).sort(), [...SETTING_KEYS].sort());
  const defaults = defaultSettings();
  for (const key of SETTING_KEYS) {
    const env = { [envName(key)]: samples[key]! };
    if (key === 'tls.redirectHttp') env.BLUEGREEN_TLS_DIR = '/t';
    const r = resolve(undefined, env);
    assert.equal(r.sources.get(key), `environment ${envName(key)}`);
    assert.notDeepEqual(pick(r.settings, key), pick(defaults, key), key);
  }
});

function pick(obj: unknown, key: string): unknown {
  return key.split('.').reduce<unknown>((o, p) => (o as Record<string, unknown> | undefined)?.[p], obj);
}

test('every error names the file, the key path and the reason', () => {
  const cases: [string, string][] = [
    ['holdTimeout: 30x', `${FILE}: holdTimeout: "30x" is not a duration: it has unknown unit "x" (use ms, s, m, h)`],
    ['holdTimeout: 30', `${FILE}: holdTimeout: 30 is not a duration: it needs a unit (ms, s, m, h)`],
    ['holdTimeout:', `${FILE}: holdTimeout: has no value (remove the key to get the default)`],
    ['connectTimeout: 0s', `${FILE}: connectTimeout: "0s" must be more than 0`],
    ['retryBufferSize: 1M', `${FILE}: retryBufferSize: "1M" is not a size: it has ambiguous unit "M" (write MiB for 1024-based or MB for 1000-based)`],
    ['retryBufferSize: -1', `${FILE}: retryBufferSize: -1 is not a size: it is not a whole number of bytes ≥ 0`],
    ['holdQueueSize: 0', `${FILE}: holdQueueSize: 0 is not a whole number from 1 to 10000000`],
    ['holdQueueSize: "10"', `${FILE}: holdQueueSize: "10" is not a whole number from 1 to 10000000`],
    ['accessLog: yes', `${FILE}: accessLog: "yes" is not true or false`],
    ['logLevel: loud', `${FILE}: logLevel: "loud" is not a log level (trace, debug, info, warn, error, fatal, silent)`],
    ['listen: 8080', `${FILE}: listen: 8080 is not HOST:PORT (quote it in YAML)`],
    ['listen: localhost', `${FILE}: listen: "localhost" has no port (write HOST:PORT, e.g. 0.0.0.0:8080)`],
    ['listen: "::1:80"', `${FILE}: listen: "::1:80" is an IPv6 address without brackets (write [::1]:8080)`],
    ['listen: "h:70000"', `${FILE}: listen: "h:70000" has port 70000, above 65535`],
    ['admin: { listen: "bad host:1" }', `${FILE}: admin.listen: "bad host:1" has "bad host", which is not an IP address or hostname`],
    ['admin: x', `${FILE}: admin: expected a mapping, got "x"`],
    ['admin: { tokn: x }', `${FILE}: admin.tokn: is not a key of admin (did you mean token?)`],
    ['admin: { listen: "0.0.0.0:9901" }', `${FILE}: admin.listen: "0.0.0.0:9901" is not a loopback address, so admin.token (BLUEGREEN_ADMIN_TOKEN, --admin-token) is required`],
    ['admin: { token: "a b" }', `${FILE}: admin.token: contains whitespace, control or non-ASCII characters`],
    ['holdTimout: 5s', `${FILE}: holdTimout: is not a setting (did you mean holdTimeout?)`],
    ['hold_timeout: 5s', `${FILE}: hold_timeout: is not a setting (did you mean holdTimeout?)`],
    ['token: abc', `${FILE}: token: is not a setting (did you mean admin.token?)`],
    ['frobnicate: 1', `${FILE}: frobnicate: is not a setting`],
    ['docker: { enable: false }', `${FILE}: docker.enable: is not a key of docker (did you mean enabled?)`],
    ['docker: { host: /var/run/docker.sock }', `${FILE}: docker.host: "/var/run/docker.sock" is not a Docker host URL (unix:///var/run/docker.sock, tcp://HOST:PORT, https://HOST:PORT, ssh://HOST)`],
    ['trustedProxies: 10.0.0.0/8', `${FILE}: trustedProxies: expected a list, got "10.0.0.0/8"`],
    ['trustedProxies: [10.0.0.0/8, 300.1.1.1]', `${FILE}: trustedProxies[1]: "300.1.1.1" is not an address or CIDR (examples: 10.0.0.0/8, 192.168.1.10, fd00::/8)`],
    ['hostAddress: docker.internal', `${FILE}: hostAddress: "docker.internal" is not an IP address`],
    ['staticUpstreams: [api]', `${FILE}: staticUpstreams[0]: "api" is not SERVICE=HOST:PORT (or a mapping with service and address)`],
    ['staticUpstreams: [{ service: api }]', `${FILE}: staticUpstreams[0].address: is required`],
    ['staticUpstreams: [{ service: api, address: "h:0" }]', `${FILE}: staticUpstreams[0].address: "h:0" has port 0`],
    ['staticUpstreams: [{ service: "-x", address: "h:1" }]', `${FILE}: staticUpstreams[0].service: "-x" is not a service name (letters, digits, '_', '.' and '-', up to 63, starting with a letter or digit)`],
    ['staticUpstreams: [{ service: a, address: "h:1", hosts: ["a.com:80"] }]', `${FILE}: staticUpstreams[0].hosts[0]: "a.com:80" has a port; hosts match without the port`],
    ['staticUpstreams: [{ service: a, address: "h:1", path: app }]', `${FILE}: staticUpstreams[0].path: "app" does not start with '/'`],
    ['staticUpstreams: [{ service: a, address: "h:1", color: "blue green" }]', `${FILE}: staticUpstreams[0].color: "blue green" is not a color name (letters, digits, '_' and '-', up to 32, starting with a letter or digit)`],
    ['staticUpstreams: [a=h:1, A=h:1]', `${FILE}: staticUpstreams[1]: repeats staticUpstreams[0] (a at h:1)`],
    ['staticUpstreams: [{ service: a, address: "h:1", hosts: [x.com] }, { service: a, address: "h:2", path: /y }]', `${FILE}: staticUpstreams[1]: gives service a another route than staticUpstreams[0] (a service has one route: give hosts and path once, or the same everywhere)`],
    ['tls: { redirectHttp: true }', `${FILE}: tls.redirectHttp: is true but tls.dir is not set (no HTTPS listener to redirect to)`],
    ['tls: { dir: "" }', `${FILE}: tls.dir: is empty`],
    ['- a\n- b', `${FILE}: the file must be a mapping of settings (key: value), not a list`],
    ['just text', `${FILE}: the file must be a mapping of settings (key: value), not "just text"`],
    ['a: 1\na: 2', `${FILE}: line 2, column 1: YAML syntax error: Map keys must be unique`],
    ['listen: [\n', `${FILE}: line 2, column 1: YAML syntax error: Flow sequence in block collection must be sufficiently indented and end with a ]`],
  ];
  for (const [yaml, want] of cases) assert.deepEqual(problemsOf(() => resolve(yaml)), [want], yaml);

  // All problems at once, one per line.
  assert.deepEqual(problemsOf(() => resolve('staticUpstreams: [{ service: api, adress: "h:1" }]')), [
    `${FILE}: staticUpstreams[0].address: is required`,
    `${FILE}: staticUpstreams[0].adress: is not a key of a static upstream (did you mean address?)`,
  ]);
  assert.deepEqual(problemsOf(() => resolve('holdTimeout: x\nfailDuration: y\n')), [
    `${FILE}: holdTimeout: "x" is not a duration: it has "x" where a number was expected (example: 1m30s)`,
    `${FILE}: failDuration: "y" is not a duration: it has "y" where a number was expected (example: 1m30s)`,
  ]);

  // Env and flag problems name the variable or flag.
  assert.deepEqual(problemsOf(() => resolve(undefined, { BLUEGREEN_HOLD_TIMEOUT: '30x' })), [
    'environment BLUEGREEN_HOLD_TIMEOUT: holdTimeout: "30x" is not a duration: it has unknown unit "x" (use ms, s, m, h)',
  ]);
  assert.deepEqual(problemsOf(() => resolve(undefined, { BLUEGREEN_HOLD_QUEUE_SIZE: 'many' })), [
    'environment BLUEGREEN_HOLD_QUEUE_SIZE: holdQueueSize: "many" is not a whole number from 1 to 10000000',
  ]);
  assert.deepEqual(problemsOf(() => resolve(undefined, { BLUEGREEN_TRUSTED_PROXIES: '10.0.0.0/8,1.2.3.4/33' })), [
    'environment BLUEGREEN_TRUSTED_PROXIES: trustedProxies[1]: "1.2.3.4/33" has prefix length "33", not 0 to 32',
  ]);
  assert.deepEqual(problemsOf(() => resolve(undefined, {}, { upstream: ['api=h'] })), [
    'flag --upstream: staticUpstreams[0].address: "h" has no port (write HOST:PORT, e.g. 10.0.0.5:8080)',
  ]);
  assert.deepEqual(problemsOf(() => resolve(undefined, {}, { admin: '0.0.0.0:9901' })), [
    'flag --admin: admin.listen: "0.0.0.0:9901" is not a loopback address, so admin.token (BLUEGREEN_ADMIN_TOKEN, --admin-token) is required',
  ]);
  // A bad file value is reported even when env overrides it, and the env value is checked too.
  assert.deepEqual(problemsOf(() => resolve('holdTimeout: 30x', { BLUEGREEN_HOLD_TIMEOUT: '5s', BLUEGREEN_FAIL_DURATION: 'soon' })), [
    `${FILE}: holdTimeout: "30x" is not a duration: it has unknown unit "x" (use ms, s, m, h)`,
    'environment BLUEGREEN_FAIL_DURATION: failDuration: "soon" is not a duration: it has "soon" where a number was expected (example: 1m30s)',
  ]);
  // The token rule is satisfied by a token from any layer.
  assert.equal(resolve('admin: { listen: "0.0.0.0:9901" }', { BLUEGREEN_ADMIN_TOKEN: 't' }).settings.admin.token, 't');
  assert.equal(resolve('admin: { listen: "localhost:9901" }').settings.admin.token, undefined);
});

test('a misspelled BLUEGREEN_ variable is a warning, not an error', () => {
  const r = resolve(undefined, { BLUEGREEN_HOLD_TIMOUT: '5s', BLUEGREEN_TERM_DELAY: '5', BLUEGREEN_CONFIG: '/x' });
  assert.deepEqual(r.warnings, ['environment BLUEGREEN_HOLD_TIMOUT is not a setting (did you mean BLUEGREEN_HOLD_TIMEOUT?); ignored']);
  assert.equal(r.settings.holdTimeout, 30_000);
});

test('the file: optional at the default path, required when named; --config > BLUEGREEN_CONFIG', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'bluegreen-config-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const missing = join(dir, 'missing.yml');
  const a = join(dir, 'a.yml');
  const b = join(dir, 'b.yml');
  await writeFile(a, 'holdTimeout: 1s\n');
  await writeFile(b, 'holdTimeout: 2s\n');

  const absent = await loadSettings({ env: {}, defaultPath: missing });
  assert.equal(absent.text, undefined);
  assert.equal(absent.explicit, false);
  assert.equal(absent.file, missing);
  assert.deepEqual(absent.settings, defaultSettings());

  assert.equal((await loadSettings({ env: {}, defaultPath: a })).settings.holdTimeout, 1_000);
  assert.equal((await loadSettings({ env: { BLUEGREEN_CONFIG: b }, defaultPath: a })).settings.holdTimeout, 2_000);
  const both = await loadSettings({ env: { BLUEGREEN_CONFIG: b }, flags: { config: a } });
  assert.equal(both.settings.holdTimeout, 1_000);
  assert.equal(both.explicit, true);

  await assert.rejects(loadSettings({ env: {}, flags: { config: missing } }), (err: unknown) => {
    assert.ok(err instanceof ConfigError && err.code === 'BAD_CONFIG');
    assert.equal(err.message, `${missing}: no such file (named by flag --config)`);
    return true;
  });
  await assert.rejects(loadSettings({ env: { BLUEGREEN_CONFIG: missing } }), {
    message: `${missing}: no such file (named by environment BLUEGREEN_CONFIG)`,
  });
  await assert.rejects(loadSettings({ env: {}, defaultPath: dir }), { message: `${dir}: is a directory, not a file` });
  await writeFile(a, 'holdTimeout: 30x\n');
  await assert.rejects(loadSettings({ env: {}, flags: { config: a } }), {
    name: 'ConfigError',
    message: `${a}: holdTimeout: "30x" is not a duration: it has unknown unit "x" (use ms, s, m, h)`,
  });
  await writeFile(a, '# only a comment\n');
  assert.deepEqual((await loadSettings({ env: {}, flags: { config: a } })).settings, defaultSettings());
});

test('CONFIG_FLAGS parse with node:util parseArgs and feed loadSettings', () => {
  const { values } = parseArgs({
    args: ['--listen', ':9000', '--upstream', 'api=127.0.0.1:3000', '--upstream', 'web=127.0.0.1:3001', '--no-docker', '--access-log', '--hold-timeout', '5s', '--admin-token', 'tok', '--admin', '0.0.0.0:9901'],
    options: { ...CONFIG_FLAGS, help: { type: 'boolean', short: 'h' } },
    strict: true,
  });
  const s = resolve(undefined, {}, values).settings;
  assert.deepEqual(s.listen, { host: '0.0.0.0', port: 9000 });
  assert.deepEqual(s.staticUpstreams.map((u) => `${u.service}=${u.host}:${u.port}`), ['api=127.0.0.1:3000', 'web=127.0.0.1:3001']);
  assert.equal(s.docker.enabled, false);
  assert.equal(s.accessLog, true);
  assert.equal(s.holdTimeout, 5_000);
  assert.deepEqual(s.admin, { listen: { host: '0.0.0.0', port: 9901 }, token: 'tok' });
  const help = configFlagsHelp();
  for (const key of SETTING_KEYS) {
    assert.match(help, new RegExp(`--${SETTINGS[key].flag}\\b`));
    assert.ok(help.includes(envName(key)), key);
  }
  const table = settingsMarkdownTable();
  for (const key of SETTING_KEYS) assert.ok(table.includes(`| \`${key}\` | \`${envName(key)}\``), key);
  assert.equal(table.split('\n').length, SETTING_KEYS.length + 2);
});

const KNOWN_VALUES = fc.oneof(
  fc.constantFrom('30s', '1MiB', '0', 'x', '', '127.0.0.1:80', 'a=b:1', '10.0.0.0/8', 'info', 'unix:///x', '[::1]:1', '*.a.com', '/p'),
  fc.integer({ min: -5, max: 70_000 }),
  fc.boolean(),
  fc.constant(null),
  fc.double(),
);
const KEY_NAMES = fc.constantFrom(
  ...new Set([...SETTING_KEYS.flatMap((k) => k.split('.')), ...STATIC_UPSTREAM_KEYS, '__proto__', 'constructor', 'toString']),
);
/** Objects shaped like settings: known keys at every level, with values of every kind. */
const SETTINGS_LIKE = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small' }, KNOWN_VALUES, fc.array(tie('value'), { maxLength: 3 }), tie('object')),
  object: fc.dictionary(fc.oneof(KEY_NAMES, fc.string()), tie('value'), { maxKeys: 6 }),
})).object;

test('property: any YAML document either loads or fails with BluegreenError BAD_CONFIG', () => {
  const check = (text: string, env: Record<string, string> = {}) => {
    try {
      resolve(text, env);
    } catch (err) {
      if (!(err instanceof BluegreenError) || err.code !== 'BAD_CONFIG') throw err;
      assert.ok(err.message.length > 0);
      for (const line of err.message.split('\n')) assert.match(line, /^(\/etc\/bluegreen\/bluegreen\.yml|environment BLUEGREEN_\w+): /);
    }
  };
  fc.assert(
    fc.property(SETTINGS_LIKE, fc.anything(), (obj, any) => {
      check(stringify(obj));
      check(stringify({ staticUpstreams: [obj], admin: obj, docker: obj, tls: obj }));
      check(stringify(any ?? null));
    }),
    { numRuns: 400 },
  );
  fc.assert(fc.property(fc.string({ maxLength: 200 }), (text) => check(text)), { numRuns: 300 });
  fc.assert(
    fc.property(fc.dictionary(fc.constantFrom(...SETTING_KEYS.map(envName)), fc.string({ maxLength: 30 })), (env) => check('', env)),
    { numRuns: 300 },
  );
});
