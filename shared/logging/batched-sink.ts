// Collects log lines and hands them to the writer in batches instead of once per line:
// under load a webhook writes a decision line per request, and on Linux a write to a file
// or a pipe is a synchronous system call. A batch is written when its first line is
// `maxDelayMs` old or when it holds `maxBytes`, whichever comes first; lines keep their
// order. flush() writes what is pending at once: the owner calls it on shutdown and on
// process exit, so a batch is not lost when the process ends. Both are closures, so they
// may be handed on unbound.
export interface BatchedSink {
  readonly write: (line: string) => void;
  readonly flush: () => void;
}

export interface BatchedSinkOptions {
  // Longest a line waits for its batch (default 10 ms).
  readonly maxDelayMs?: number;
  // A batch this large (UTF-16 code units) is written at once (default 64 Ki).
  readonly maxBytes?: number;
  // Runs `run` after `delayMs`; the default is an unref'd timer, which never keeps a
  // process alive.
  readonly schedule?: (run: () => void, delayMs: number) => void;
}

export const DEFAULT_BATCH_DELAY_MS = 10;
export const DEFAULT_BATCH_BYTES = 64 * 1024;

export function createBatchedSink(writer: (text: string) => void, options: BatchedSinkOptions = {}): BatchedSink {
  const maxDelayMs = options.maxDelayMs ?? DEFAULT_BATCH_DELAY_MS;
  const maxBytes = options.maxBytes ?? DEFAULT_BATCH_BYTES;
  const schedule = options.schedule ?? ((run, delayMs) => setTimeout(run, delayMs).unref());
  let pending = '';
  // The batch the pending timer was set for: after a batch is flushed early, its timer
  // must not cut the next batch's wait short.
  let batch = 0;
  let scheduled = false;
  const flush = (): void => {
    if (pending === '') return;
    const text = pending;
    pending = '';
    batch += 1;
    scheduled = false;
    writer(text);
  };
  return {
    write(line) {
      pending += `${line}\n`;
      if (pending.length >= maxBytes) {
        flush();
        return;
      }
      if (!scheduled) {
        scheduled = true;
        const mine = batch;
        schedule(() => {
          if (batch === mine) flush();
        }, maxDelayMs);
      }
    },
    flush,
  };
}
