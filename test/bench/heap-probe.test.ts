// The soak's leak check (bench/heap-probe.ts) on a real Node process with its inspector on loopback:
// garbage does not count, what the process keeps does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { HeapProbe, inspectorUrl } from '../../bench/heap-probe.ts';

const MiB = 1024 * 1024;

test('heap after a full GC: 20 MiB of garbage do not count, 20 MiB kept do', { timeout: 30_000 }, async (t) => {
  // The process makes garbage or keeps arrays when told so on stdin.
  const script = `
    const kept = [];
    process.stdin.on('data', (d) => {
      const mb = 20;
      for (let i = 0; i < mb * 16; i++) {
        const a = new Array(8192).fill(i); // ~64 KiB each
        if (String(d).trim() === 'keep') kept.push(a);
      }
      process.stdout.write('done\\n');
    });`;
  const child = spawn(process.execPath, ['--inspect=127.0.0.1:0', '-e', script], { stdio: ['pipe', 'pipe', 'pipe'] });
  t.after(() => child.kill('SIGKILL'));
  let stderr = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
      const u = inspectorUrl(stderr);
      if (u) resolve(u);
    });
    child.once('exit', () => reject(new Error(`exited before its inspector listened: ${stderr}`)));
  });
  const probe = await HeapProbe.connect(url);
  t.after(() => probe.close());
  const step = (what: string) =>
    new Promise<void>((resolve) => {
      child.stdout.once('data', () => resolve());
      child.stdin.write(`${what}\n`);
    });
  const before = await probe.usedAfterGc();
  await step('garbage');
  const afterGarbage = await probe.usedAfterGc();
  await step('keep');
  const afterKeep = await probe.usedAfterGc();
  assert.ok(afterGarbage - before < 2 * MiB, `garbage counted: ${((afterGarbage - before) / MiB).toFixed(1)} MiB`);
  assert.ok(afterKeep - afterGarbage > 15 * MiB, `kept arrays not counted: ${((afterKeep - afterGarbage) / MiB).toFixed(1)} MiB`);
});

test('inspectorUrl takes the last "Debugger listening" line (the proxy re-executes itself)', () => {
  const text = 'Debugger listening on ws://127.0.0.1:1111/a\nFor help, see: https://nodejs.org/en/docs/inspector\nDebugger listening on ws://127.0.0.1:2222/b\n';
  assert.equal(inspectorUrl(text), 'ws://127.0.0.1:2222/b');
  assert.equal(inspectorUrl('nothing here'), undefined);
});
