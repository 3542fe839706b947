// A pause on a timer that a stopping process can end early.

// Resolves after `ms`, or at once when `signal` is (or becomes) aborted: a process that is
// stopping neither waits out the pause nor leaves its timer to run after it stopped.
export function pauseFor(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted === true) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
