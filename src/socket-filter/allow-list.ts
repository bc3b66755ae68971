// The Docker Engine API calls bluegreen makes, and nothing else: read-only, for the socket filter
// that stands between the proxy and the Docker socket (compose/socket-proxy.yml).

const READ_ONLY_PATHS: readonly RegExp[] = [
  /^\/_ping$/,
  /^\/version$/,
  /^\/info$/,
  /^\/events$/,
  /^\/containers\/json$/,
  /^\/containers\/[A-Za-z0-9][A-Za-z0-9_.-]*\/json$/,
  /^\/networks$/,
  /^\/networks\/[A-Za-z0-9][A-Za-z0-9_.-]*$/,
  /^\/services$/,
  /^\/services\/[A-Za-z0-9][A-Za-z0-9_.-]*$/,
  /^\/tasks$/,
  // Image inspect (a swarm task's image on the manager: its exposed port and healthcheck); not the list.
  /^\/images\/[A-Za-z0-9][A-Za-z0-9_.\/:@-]*\/json$/,
  /^\/nodes$/,
];

/** Why a request is refused, or undefined when it is allowed. */
export function refusal(method: string | undefined, rawUrl: string | undefined): string | undefined {
  if (method !== 'GET' && method !== 'HEAD') return `method ${method ?? '?'} is not allowed (read-only)`;
  const url = rawUrl ?? '/';
  const q = url.indexOf('?');
  let path = q < 0 ? url : url.slice(0, q);
  if (path.includes('..') || path.includes('//') || path.includes('%')) return `path ${JSON.stringify(path)} is not allowed`;
  path = path.replace(/^\/v1\.\d{1,2}(?=\/)/, ''); // versioned paths: /v1.41/containers/json
  return READ_ONLY_PATHS.some((re) => re.test(path)) ? undefined : `${path} is not an endpoint bluegreen uses`;
}
