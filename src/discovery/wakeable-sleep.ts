/**
 * A pause between retries or polls that can be cut short: `wake()` ends the current `sleep()` at
 * once (stop, a reconnect hint, a change worth listing now); with nobody sleeping it does nothing.
 */
export class WakeableSleep {
  #wake: (() => void) | undefined;

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#wake = done;
    });
  }

  wake(): void {
    this.#wake?.();
  }
}
