// Collects log lines and hands them to the writer once per turn of the event loop instead
// of once per line: under load a webhook writes a decision line per request, and on Linux
// a write to a pipe is a synchronous system call. Lines keep their order; flush() writes
// what is pending at once (on shutdown). Both are closures, so they may be handed on unbound.
export interface BatchedSink {
  readonly write: (line: string) => void;
  readonly flush: () => void;
}

export function createBatchedSink(writer: (text: string) => void, schedule: (run: () => void) => void = setImmediate): BatchedSink {
  let pending: string[] = [];
  let scheduled = false;
  const flush = (): void => {
    scheduled = false;
    if (pending.length === 0) return;
    const text = `${pending.join('\n')}\n`;
    pending = [];
    writer(text);
  };
  return {
    write(line) {
      pending.push(line);
      if (!scheduled) {
        scheduled = true;
        schedule(flush);
      }
    },
    flush,
  };
}
