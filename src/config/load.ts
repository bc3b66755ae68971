import { editDistance } from '../edit-distance.ts';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { createRequire } from 'node:module';
import type * as Yaml from 'yaml';
import type * as z from 'zod';
import { BluegreenError } from '../errors.ts';
import {
  SETTINGS,
  SETTING_KEYS,
  STATIC_UPSTREAM_KEYS,
  envName,
  settingsFieldsSchema,
  settingsSchema,
  show,
  type SettingDoc,
  type SettingKey,
  type Settings,
} from './schema.ts';

// Settings from four layers, highest first: command-line flags, BLUEGREEN_* environment variables,
// the YAML file, defaults. Layers merge key by key (a list is one key: a higher layer replaces it
// whole). Every problem names where the value came from (the file, the variable or the flag), the
// key path and the reason; all problems are reported at once, as one ConfigError (BAD_CONFIG).

export const DEFAULT_CONFIG_PATH = '/etc/bluegreen/bluegreen.yml';
export const CONFIG_ENV = 'BLUEGREEN_CONFIG';

/** One thing wrong with the configuration. `message` is `<source>: <key>: <reason>`. */
export interface ConfigProblem {
  /** The file path, `environment BLUEGREEN_…` or `flag --…`. */
  source: string;
  /** Key path like `admin.listen` or `staticUpstreams[1].address`; '' for the file as a whole. */
  key: string;
  reason: string;
  message: string;
}

/** Invalid configuration. `message` has one problem per line. */
export class ConfigError extends BluegreenError {
  readonly problems: readonly ConfigProblem[];
  constructor(problems: readonly ConfigProblem[]) {
    super('BAD_CONFIG', problems.map((p) => p.message).join('\n'));
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

type FlagSpec<D> = D extends { kind: 'bool' }
  ? { type: 'boolean' }
  : D extends { kind: 'list' }
    ? { type: 'string'; multiple: true }
    : { type: 'string' };
export type ConfigFlagOptions = { config: { type: 'string' } } & {
  [K in SettingKey as (typeof SETTINGS)[K]['flag']]: FlagSpec<(typeof SETTINGS)[K]>;
};

/** `node:util` parseArgs options for `--config` and every setting's flag; merge into serve's options. */
export const CONFIG_FLAGS: ConfigFlagOptions = Object.fromEntries([
  ['config', { type: 'string' }],
  ...SETTING_KEYS.map((key) => {
    const d: SettingDoc = SETTINGS[key];
    return [d.flag, d.kind === 'bool' ? { type: 'boolean' } : d.kind === 'list' ? { type: 'string', multiple: true } : { type: 'string' }];
  }),
]) as ConfigFlagOptions;

/** Help lines for CONFIG_FLAGS, one setting each, with env name and default. */
export function configFlagsHelp(): string {
  const line = (flag: string, doc: string) => `  ${flag.padEnd(34)}${flag.length > 33 ? `\n  ${''.padEnd(34)}` : ''}${doc}`;
  const lines = [line('--config FILE', `YAML settings file, optional (env ${CONFIG_ENV}; default ${DEFAULT_CONFIG_PATH})`)];
  for (const key of SETTING_KEYS) {
    const d: SettingDoc = SETTINGS[key];
    const def = d.default === undefined || (Array.isArray(d.default) && d.default.length === 0) ? '' : `; default ${String(d.default)}`;
    const env = d.flag === 'no-docker' ? `${envName(key)}=false` : envName(key);
    const repeat = d.kind === 'list' ? ', repeatable or comma-separated' : '';
    lines.push(line(`--${d.flag}${d.arg ? ` ${d.arg}` : ''}`, `${d.doc} (${key}; env ${env}${def}${repeat})`));
  }
  return `${lines.join('\n')}\n`;
}

export interface LoadOptions {
  /** parseArgs values for CONFIG_FLAGS (other entries are ignored). */
  flags?: Readonly<Record<string, unknown>>;
  /** Environment; default process.env. */
  env?: Readonly<Record<string, string | undefined>>;
  /** The file used when neither --config nor BLUEGREEN_CONFIG names one (tests). */
  defaultPath?: string;
}

export interface LoadedSettings {
  settings: Settings;
  /** Absolute path of the settings file, whether or not it exists. */
  file: string;
  /** Named by --config or BLUEGREEN_CONFIG (then it must exist). */
  explicit: boolean;
  /** The file's text; undefined when there is no file. */
  text: string | undefined;
  /** Where each key set by a flag or env came from; keys not listed come from the file or the default. */
  sources: ReadonlyMap<string, string>;
  /** Non-fatal: BLUEGREEN_* variables that look like a misspelled setting. */
  warnings: string[];
  loadedAt: number;
}

export interface ConfigFileRef {
  file: string;
  explicit: boolean;
  /** What named the file: `flag --config`, `environment BLUEGREEN_CONFIG` or `default`. */
  namedBy: string;
}

/** Which file: --config, else BLUEGREEN_CONFIG, else the default path. */
export function configFile(opts: LoadOptions = {}): ConfigFileRef {
  const env = opts.env ?? process.env;
  const flag = opts.flags?.config;
  if (typeof flag === 'string' && flag !== '') return { file: resolve(flag), explicit: true, namedBy: 'flag --config' };
  const fromEnv = env[CONFIG_ENV];
  if (fromEnv) return { file: resolve(fromEnv), explicit: true, namedBy: `environment ${CONFIG_ENV}` };
  return { file: resolve(opts.defaultPath ?? DEFAULT_CONFIG_PATH), explicit: false, namedBy: 'default' };
}

/** The file's text, or undefined when a default-path file does not exist. */
export async function readConfigText(ref: ConfigFileRef): Promise<string | undefined> {
  try {
    return await readFile(ref.file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if ((code === 'ENOENT' || code === 'ENOTDIR') && !ref.explicit) return undefined;
    const reason =
      code === 'ENOENT' || code === 'ENOTDIR'
        ? `no such file (named by ${ref.namedBy})`
        : code === 'EISDIR'
          ? 'is a directory, not a file'
          : `cannot be read (${code ?? (err as Error).message})`;
    throw new ConfigError([{ source: ref.file, key: '', reason, message: `${ref.file}: ${reason}` }]);
  }
}

/** Reads the file (if any) and resolves the settings. Throws ConfigError (BAD_CONFIG). */
export async function loadSettings(opts: LoadOptions = {}): Promise<LoadedSettings> {
  const ref = configFile(opts);
  const text = await readConfigText(ref);
  return resolveSettings({ ...ref, text, flags: opts.flags, env: opts.env ?? process.env });
}

export interface ResolveInput {
  file: string;
  explicit: boolean;
  text: string | undefined;
  flags?: Readonly<Record<string, unknown>> | undefined;
  env?: Readonly<Record<string, string | undefined>> | undefined;
}

/** Merges the layers and validates; pure (no I/O). Throws ConfigError (BAD_CONFIG). */
export function resolveSettings(input: ResolveInput): LoadedSettings {
  const problems = new Problems();
  const sources = new Map<string, string>();
  const fileLabel = input.file;

  let fileObj: Record<string, unknown> = {};
  if (input.text !== undefined) {
    const parsed = parseYaml(input.text, fileLabel, problems);
    if (parsed !== undefined) {
      fileObj = parsed;
      const r = settingsFieldsSchema.safeParse(fileObj, { reportInput: true });
      if (!r.success) for (const iss of r.error.issues) problems.addIssue(iss, () => fileLabel);
    }
  }

  const envObj: Record<string, unknown> = {};
  const env = input.env ?? {};
  const warnings: string[] = [];
  for (const key of SETTING_KEYS) {
    const name = envName(key);
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    setPath(envObj, key, fromText(SETTINGS[key].kind, raw));
    sources.set(key, `environment ${name}`);
  }
  warnings.push(...unknownEnvWarnings(env));

  const flagObj: Record<string, unknown> = {};
  const flags = input.flags ?? {};
  for (const key of SETTING_KEYS) {
    const d: SettingDoc = SETTINGS[key];
    const raw = flags[d.flag];
    if (raw === undefined) continue;
    let value: unknown;
    if (d.kind === 'bool') {
      if (raw !== true) continue;
      value = d.flag !== 'no-docker';
    } else if (d.kind === 'list') {
      value = (Array.isArray(raw) ? raw : [raw]).flatMap((v) => splitList(String(v)));
    } else {
      value = fromText(d.kind, String(raw));
    }
    setPath(flagObj, key, value);
    sources.set(key, `flag --${d.flag}`);
  }

  const merged = deepMerge(deepMerge(structuredClone(fileObj), envObj), flagObj);
  const attribute = (path: readonly PropertyKey[]): string => {
    for (let i = path.length; i >= 0; i--) {
      const key = path.slice(0, i).filter((p): p is string => typeof p === 'string').join('.');
      const src = sources.get(key);
      if (src) return src;
    }
    return input.text !== undefined ? fileLabel : 'settings';
  };
  let settings: Settings | undefined;
  const r = settingsSchema.safeParse(merged, { reportInput: true });
  if (r.success) settings = r.data;
  else for (const iss of r.error.issues) problems.addIssue(iss, attribute);
  if (problems.size > 0 || !settings) throw new ConfigError(problems.list);
  return { settings, file: input.file, explicit: input.explicit, text: input.text, sources, warnings, loadedAt: Date.now() };
}

/**
 * The YAML parser (~9 MB of RSS once loaded) is loaded with the first settings file it parses: a
 * proxy configured by flags and environment alone never loads it.
 */
let yaml: typeof Yaml | undefined;
const loadYaml = (): typeof Yaml => (yaml ??= createRequire(import.meta.url)('yaml') as typeof Yaml);

function parseYaml(text: string, file: string, problems: Problems): Record<string, unknown> | undefined {
  const doc = loadYaml().parseDocument(text, { prettyErrors: true, uniqueKeys: true, strict: true, stringKeys: true });
  if (doc.errors.length > 0) {
    for (const e of doc.errors) {
      const at = e.linePos?.[0];
      const where = at ? `line ${at.line}, column ${at.col}: ` : '';
      const reason = `${where}YAML syntax error: ${e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:$/, '')}`;
      problems.add({ source: file, key: '', reason, message: `${file}: ${reason}` });
    }
    return undefined;
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    const reason = `cannot be read as YAML: ${err instanceof Error ? err.message : String(err)}`;
    problems.add({ source: file, key: '', reason, message: `${file}: ${reason}` });
    return undefined;
  }
  if (value === null || value === undefined) return {}; // empty file, or comments only
  if (!isPlainObject(value)) {
    const reason = `the file must be a mapping of settings (key: value), not ${show(value)}`;
    problems.add({ source: file, key: '', reason, message: `${file}: ${reason}` });
    return undefined;
  }
  return value;
}

class Problems {
  readonly list: ConfigProblem[] = [];
  readonly #seen = new Set<string>();

  get size(): number {
    return this.list.length;
  }

  add(p: ConfigProblem): void {
    if (this.#seen.has(p.message)) return;
    this.#seen.add(p.message);
    this.list.push(p);
  }

  addIssue(iss: z.core.$ZodIssue, sourceOf: (path: readonly PropertyKey[]) => string): void {
    if (iss.code === 'unrecognized_keys') {
      for (const k of iss.keys) {
        const path = [...iss.path, k];
        this.#push(sourceOf(path), path, unknownKeyReason(iss.path, k));
      }
      return;
    }
    let reason: string;
    if (iss.code === 'invalid_type') {
      const expected = iss.expected === 'object' ? 'a mapping' : iss.expected === 'array' ? 'a list' : iss.expected;
      reason = iss.input === undefined ? 'is required' : `expected ${expected}, got ${show(iss.input)}`;
    } else {
      reason = iss.message;
    }
    this.#push(sourceOf(iss.path), iss.path, reason);
  }

  #push(source: string, path: readonly PropertyKey[], reason: string): void {
    const key = formatPath(path);
    this.add({ source, key, reason, message: `${source}: ${key || '(top level)'}: ${reason}` });
  }
}

/** `['staticUpstreams', 1, 'address']` → `staticUpstreams[1].address`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out === '' ? String(p) : `.${String(p)}`;
  }
  return out;
}

const norm = (s: string) => s.toLowerCase().replace(/[-_.\s]/g, '');

function unknownKeyReason(parent: readonly PropertyKey[], key: string): string {
  const parentKey = parent.filter((p): p is string => typeof p === 'string').join('.');
  const inUpstream = parentKey === 'staticUpstreams';
  const siblings: readonly string[] = inUpstream
    ? STATIC_UPSTREAM_KEYS
    : [...new Set(SETTING_KEYS.filter((k) => parentOf(k) === parentKey).map((k) => k.slice(parentKey ? parentKey.length + 1 : 0).split('.')[0]!))];
  const what = inUpstream ? 'is not a key of a static upstream' : parentKey ? `is not a key of ${parentKey}` : 'is not a setting';
  let near = closest(key, siblings);
  if (near === undefined && !inUpstream) {
    // A key at the wrong level or in env spelling: `token` → admin.token, `HOLD_TIMEOUT` → holdTimeout.
    const full = SETTING_KEYS.find((k) => norm(k) === norm(key) || norm(k.split('.').pop()!) === norm(key));
    if (full) near = full;
  }
  if (near !== undefined) return `${what} (did you mean ${near}?)`;
  return parentKey ? `${what} (known: ${siblings.join(', ')})` : what;
}

function parentOf(key: string): string {
  const i = key.lastIndexOf('.');
  return i < 0 ? '' : key.slice(0, i);
}

/** The candidate that `key` most likely misspells, if any is close enough. */
export function closest(key: string, candidates: readonly string[]): string | undefined {
  const k = norm(key);
  const same = candidates.find((c) => norm(c) === k);
  if (same) return same;
  let best: string | undefined;
  let bestDist = k.length <= 4 ? 2 : 3;
  for (const c of candidates) {
    const d = editDistance(k, norm(c));
    if (d < bestDist) {
      best = c;
      bestDist = d;
    }
  }
  return best;
}


const ENV_NAMES = new Map(SETTING_KEYS.map((k) => [envName(k), k]));

function unknownEnvWarnings(env: Readonly<Record<string, string | undefined>>): string[] {
  const out: string[] = [];
  const known = [...ENV_NAMES.keys(), CONFIG_ENV];
  for (const name of Object.keys(env)) {
    if (!name.startsWith('BLUEGREEN_') || known.includes(name)) continue;
    const near = closest(name.slice('BLUEGREEN_'.length), known.map((n) => n.slice('BLUEGREEN_'.length)));
    if (near) out.push(`environment ${name} is not a setting (did you mean BLUEGREEN_${near}?); ignored`);
  }
  return out;
}

/** Env and flag text to the YAML-level value: ints and booleans converted when they clearly are. */
function fromText(kind: SettingDoc['kind'], raw: string): unknown {
  const s = raw.trim();
  switch (kind) {
    case 'int':
      return /^\d{1,15}$/.test(s) ? Number(s) : raw;
    case 'bool': {
      const l = s.toLowerCase();
      if (['true', '1', 'yes', 'on'].includes(l)) return true;
      if (['false', '0', 'no', 'off'].includes(l)) return false;
      return raw;
    }
    case 'list':
      return splitList(raw);
    default:
      return raw;
  }
}

function splitList(raw: string): string[] {
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

function setPath(obj: Record<string, unknown>, key: string, value: unknown): void {
  const parts = key.split('.');
  let cur = obj;
  for (const p of parts.slice(0, -1)) {
    if (!isPlainObject(cur[p])) cur[p] = {};
    cur = cur[p] as Record<string, unknown>;
  }
  cur[parts[parts.length - 1]!] = value;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** `over` into `base`, key by key; anything but a plain object replaces. */
function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  for (const [k, v] of Object.entries(over)) {
    const b = base[k];
    if (isPlainObject(v) && isPlainObject(b)) deepMerge(b, v);
    else Object.defineProperty(base, k, { value: v, enumerable: true, writable: true, configurable: true });
  }
  return base;
}
