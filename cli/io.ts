// What a command may touch of its process: output streams and environment, injected so
// commands run the same in tests and in a shell.
export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly env: Readonly<Record<string, string | undefined>>;
}
