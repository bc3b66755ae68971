import { COLORS, type Color } from './deploy-plan.ts';

// Which compose services hold the blue and the green color of a bluegreen service, read from the
// output of `compose config` (pure; the YAML is parsed by the caller). The convention:
//   - a compose service per color, labelled bluegreen.service=SERVICE and bluegreen.color=COLOR;
//   - by default named SERVICE-blue and SERVICE-green (any names work when the labels say so);
//   - the image of both comes from one variable, e.g. image: ${WEB_IMAGE:-my-app:1}, named after
//     the compose service without its color suffix (web-green -> WEB_IMAGE).

export type ColorServices = Record<Color, string>;

type Obj = Record<string, unknown>;

function obj(v: unknown): Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : {};
}

/** Compose labels as a map: the config output writes a map, a file may write `- key=value`. */
export function composeLabels(v: unknown): Record<string, string> {
  if (Array.isArray(v)) {
    const out: Record<string, string> = {};
    for (const item of v) {
      if (typeof item !== 'string') continue;
      const eq = item.indexOf('=');
      if (eq > 0) out[item.slice(0, eq)] = item.slice(eq + 1);
    }
    return out;
  }
  return Object.fromEntries(Object.entries(obj(v)).map(([k, x]) => [k, x === null || x === undefined ? '' : String(x)]));
}

/**
 * The compose service of each color. `config` is the parsed `compose config` output, or undefined
 * when it could not be read (then the names SERVICE-blue and SERVICE-green are used unchecked).
 */
export function composeServicesFor(config: unknown, service: string): { ok: true; services: ColorServices } | { ok: false; reason: string } {
  const conventional: ColorServices = { blue: `${service}-blue`, green: `${service}-green` };
  if (config === undefined) return { ok: true, services: conventional };
  const defined = obj(obj(config)['services']);
  const found: Partial<Record<Color, string[]>> = {};
  for (const [name, def] of Object.entries(defined)) {
    const labels = composeLabels(obj(def)['labels']);
    const color = labels['bluegreen.color'];
    if (labels['bluegreen.service'] !== service || !(COLORS as readonly string[]).includes(color ?? '')) continue;
    (found[color as Color] ??= []).push(name);
  }
  const out: Partial<ColorServices> = {};
  const problems: string[] = [];
  for (const color of COLORS) {
    const list = found[color] ?? [];
    if (list.length === 1) out[color] = list[0];
    else if (list.length > 1) problems.push(`several compose services are labelled bluegreen.service=${service}, bluegreen.color=${color}: ${list.join(', ')}`);
    else problems.push(missing(defined, service, color));
  }
  if (problems.length) return { ok: false, reason: problems.join('; ') };
  return { ok: true, services: out as ColorServices };
}

function missing(defined: Obj, service: string, color: Color): string {
  const name = `${service}-${color}`;
  const want = `bluegreen.service=${service} and bluegreen.color=${color}`;
  if (!(name in defined)) return `no compose service for ${service} ${color}: expected one labelled ${want} (named ${name} by convention)`;
  const labels = composeLabels(obj(defined[name])['labels']);
  const has = ['bluegreen.service', 'bluegreen.color'].map((k) => `${k}=${labels[k] ?? '(unset)'}`).join(', ');
  return `compose service ${name} is not labelled ${want} (it has ${has})`;
}

/** `web-green` -> `WEB_IMAGE`, `my.app_blue` -> `MY_APP_IMAGE`, `api` -> `API_IMAGE`. */
export function imageEnvVar(composeService: string): string {
  const base = composeService.replace(/[-_.](blue|green)$/i, '') || composeService;
  return `${base.toUpperCase().replace(/[^A-Z0-9]+/g, '_').replace(/^_+|_+$/g, '')}_IMAGE`;
}

/** The image compose resolves for a service, from the parsed `compose config`; undefined when unknown. */
export function composeImage(config: unknown, composeService: string): string | undefined {
  const image = obj(obj(obj(config)['services'])[composeService])['image'];
  return typeof image === 'string' ? image : undefined;
}
