// Exit codes of the CLI: 0 allowed / valid, 1 denied / invalid (whatever the reason, an
// unreachable trust server included), 2 usage or configuration error.
export const ExitCode = { ALLOWED: 0, DENIED: 1, USAGE: 2 } as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export class UsageError extends Error {
  override readonly name = 'UsageError';
}
