import type { TestContext } from 'node:test';

/**
 * Cleanup steps run last-registered first, after the test, each even when an earlier one failed
 * (node:test runs t.after hooks in registration order, which would leave the swarm first).
 */
export function cleanups(t: TestContext): (step: () => unknown) => void {
  const steps: (() => unknown)[] = [];
  t.after(async () => {
    for (const step of steps.reverse()) {
      try {
        await step();
      } catch (err) {
        console.error(`cleanup: ${(err as Error).message}`);
      }
    }
  });
  return (step) => steps.push(step);
}
