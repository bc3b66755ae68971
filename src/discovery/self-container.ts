// Which container the proxy itself runs in, read from what the kernel shows the process. Pure: the
// Docker client reads the files and inspects the candidate; these functions only read text.

const ID = /[0-9a-f]{64}/;

/**
 * From /proc/self/mountinfo: Docker bind-mounts /etc/hostname (and resolv.conf, hosts) from
 * `.../containers/<id>/hostname`. Only mounts *at* those paths count: on the host itself,
 * mountinfo lists other containers' `.../containers/<id>/mounts/shm`, which must not match.
 */
export function containerIdFromMountinfo(text: string): string | undefined {
  for (const line of text.split('\n')) {
    const fields = line.split(' ');
    // id parent major:minor root mount-point options ... - fstype source super-options
    const root = fields[3] ?? '';
    const mountPoint = fields[4] ?? '';
    if (mountPoint !== '/etc/hostname' && mountPoint !== '/etc/resolv.conf' && mountPoint !== '/etc/hosts') continue;
    const m = /\/containers\/([0-9a-f]{64})\/(?:hostname|resolv\.conf|hosts)$/.exec(root);
    if (m) return m[1];
  }
  return undefined;
}

/** From /proc/self/cgroup (cgroup v1, or v2 with the host's cgroup namespace): `/docker/<id>` or `docker-<id>.scope`. */
export function containerIdFromCgroup(text: string): string | undefined {
  for (const line of text.split('\n')) {
    const path = line.slice(line.indexOf(':', line.indexOf(':') + 1) + 1);
    const m = /(?:\/docker\/|\/docker-|\/libpod-)([0-9a-f]{64})(?:\.scope)?(?:\/|$)/.exec(path);
    if (m && ID.test(m[1]!)) return m[1];
  }
  return undefined;
}

/**
 * A hostname looks like Docker's default container hostname (the first 12 hex digits of the id);
 * only then is it worth an inspect, and the inspected id must start with it.
 */
export function hostnameLooksLikeContainerId(hostname: string): boolean {
  return /^[0-9a-f]{12}$/.test(hostname);
}
