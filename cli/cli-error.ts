// Exit codes of the CLI: 0 allowed / valid, 1 denied / invalid (whatever the reason, an
// unreachable trust server included), 2 usage or configuration error.
export const ExitCode = { ALLOWED: 0, DENIED: 1, USAGE: 2 } as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

// Configuration the command was pointed at cannot be used (an unreadable or invalid policy
// path). Exits 2 like a usage error, but lists the problems instead of the usage text.
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly problems: readonly string[];

  constructor(message: string, problems: readonly string[] = []) {
    super(message);
    this.problems = problems;
  }
}
