import type { Clock } from '../shared/ports.js';

// What a command may touch of its process: output streams, environment and the clock, injected
// so commands run the same in tests and in a shell. The clock is the command's only one: its
// store, verifier, token cache and log all read it.
export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly clock: Clock;
}
