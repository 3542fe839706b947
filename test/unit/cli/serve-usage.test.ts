import { describe, expect, it } from 'vitest';
import { UsageError } from '../../../cli/cli-error.js';
import { runServe } from '../../../cli/commands/serve.js';
import { systemClock } from '../../../infra/clock/system-clock.js';

const io = { stdout: () => undefined, stderr: () => undefined, env: {}, clock: systemClock };

describe('runServe', () => {
  describe('when the command line cannot be used', () => {
    it.each([
      ['no --policies', []],
      ['a port that is no number', ['--policies', 'p', '--port', 'https']],
      ['a port out of range', ['--policies', 'p', '--port', '70000']],
      ['a budget above the webhook timeout', ['--policies', 'p', '--budget-ms', '30000']],
      ['a budget of zero', ['--policies', 'p', '--budget-ms', '0']],
      ['a certificate without its key', ['--policies', 'p', '--tls-cert', 'cert.pem']],
      ['a stray argument', ['--policies', 'p', 'extra']],
    ])('rejects %s with a usage error (exit 2)', async (_label, args) => {
      await expect(runServe(args, io)).rejects.toBeInstanceOf(UsageError);
    });
  });
});
