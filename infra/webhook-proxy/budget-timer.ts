// The admission time budget on the Node event loop. The timer is unref'd so a pending
// budget never keeps a shutting-down process alive.
import type { BudgetTimer } from '../../shared/admission/decide-admission.js';

export function startBudgetTimer(ms: number): BudgetTimer {
  let handle: NodeJS.Timeout | undefined;
  const expired = new Promise<void>((resolve) => {
    handle = setTimeout(resolve, ms);
    handle.unref();
  });
  return { expired, cancel: () => clearTimeout(handle) };
}
