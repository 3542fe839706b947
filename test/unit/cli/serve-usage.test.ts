import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, UsageError } from '../../../cli/cli-error.js';
import { runServe } from '../../../cli/commands/serve.js';
import { systemClock } from '../../../infra/clock/system-clock.js';

const io = { stdout: () => undefined, stderr: () => undefined, env: {}, clock: systemClock };

describe('runServe', () => {
  describe('when the command line cannot be used', () => {
    it.each([
      ['neither --policies nor --policies-from-cluster', []],
      ['a port that is no number', ['--policies', 'p', '--port', 'https']],
      ['a port out of range', ['--policies', 'p', '--port', '70000']],
      ['a budget above the webhook timeout', ['--policies', 'p', '--budget-ms', '30000']],
      ['a budget of zero', ['--policies', 'p', '--budget-ms', '0']],
      ['a certificate without its key', ['--policies', 'p', '--tls-cert', 'cert.pem']],
      ['a stray argument', ['--policies', 'p', 'extra']],
      ['both --policies and --policies-from-cluster', ['--policies', 'p', '--policies-from-cluster']],
      ['--kubeconfig without --policies-from-cluster', ['--policies', 'p', '--kubeconfig', 'k']],
      ['--policies-max-stale without --policies-from-cluster', ['--policies', 'p', '--policies-max-stale', '5m']],
      ['--policies-interval with --policies-from-cluster', ['--policies-from-cluster', '--policies-interval', '5']],
      ['a max staleness that is no duration', ['--policies-from-cluster', '--policies-max-stale', 'soon']],
      ['--policy-secrets-max without --policies-from-cluster', ['--policies', 'p', '--policy-secrets-max', '10']],
      ['--policy-secrets-max-bytes without --policies-from-cluster', ['--policies', 'p', '--policy-secrets-max-bytes', '65536']],
      ['a Secret bound of zero', ['--policies-from-cluster', '--policy-secrets-max', '0']],
      ['a Secret bytes bound that is no integer', ['--policies-from-cluster', '--policy-secrets-max-bytes', '64MiB']],
    ])('rejects %s with a usage error (exit 2)', async (_label, args) => {
      await expect(runServe(args, io)).rejects.toBeInstanceOf(UsageError);
    });
  });

  describe('when --client-ca holds no usable certificate', () => {
    it.each([
      ['a missing file', undefined],
      ['a file without a certificate', 'not a certificate\n'],
      ['a certificate that does not parse', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'],
    ])('refuses to start with %s (ConfigError), rather than let nobody or anybody in', async (_label, content) => {
      const dir = mkdtempSync(join(tmpdir(), 'trustgate-client-ca-'));
      const file = join(dir, 'ca.pem');
      if (content !== undefined) writeFileSync(file, content);
      writeFileSync(join(dir, 'policies.yaml'), 'apiVersion: portieris.cloud.ibm.com/v1\nkind: ClusterImagePolicy\nmetadata: {name: all}\nspec:\n  repositories:\n    - name: "*"\n      policy: {}\n');
      try {
        await expect(runServe(['--policies', join(dir, 'policies.yaml'), '--state-dir', dir, '--client-ca', file], io)).rejects.toBeInstanceOf(ConfigError);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe('when --policies-from-cluster cannot reach any API server', () => {
    it('refuses to start outside a cluster without --kubeconfig (ConfigError)', async () => {
      await expect(runServe(['--policies-from-cluster'], io)).rejects.toBeInstanceOf(ConfigError);
    });

    it.each([
      ['a plain-http server', { server: 'http://127.0.0.1:8080' }],
      ['insecure-skip-tls-verify', { server: 'https://127.0.0.1:6443', 'insecure-skip-tls-verify': true }],
    ])('refuses a kubeconfig with %s (ConfigError)', async (_label, cluster) => {
      const dir = mkdtempSync(join(tmpdir(), 'trustgate-kubeconfig-'));
      const file = join(dir, 'kubeconfig');
      writeFileSync(file, JSON.stringify({ apiVersion: 'v1', kind: 'Config', clusters: [{ name: 'c', cluster }], users: [{ name: 'u', user: { token: 't' } }], contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }], 'current-context': 'x' }));
      try {
        await expect(runServe(['--policies-from-cluster', '--kubeconfig', file], io)).rejects.toBeInstanceOf(ConfigError);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
