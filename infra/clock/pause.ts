// A pause on a timer that a stopping process can end early.
import { setMaxListeners } from 'node:events';

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

// The controller of a process's stop signal, which any number of pauses may wait on at once.
// Each pause adds a listener while it runs (removed when it ends); Node warns on stderr from
// the 11th listener on one signal (MaxListenersExceededWarning), which concurrent requests
// would reach, so the limit is lifted for this signal.
export function createStopController(): AbortController {
  const controller = new AbortController();
  setMaxListeners(0, controller.signal);
  return controller;
}
