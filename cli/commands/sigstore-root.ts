// `trustgate sigstore root [--refresh] [--json] [store and sigstore flags]` prints which
// Sigstore trusted root is in force: where it came from (shipped, store, mirror), the TUF
// versions that vouched for it, its fingerprint and how the last refresh ended. `--refresh`
// refreshes from the configured TUF mirror first. Exit 0; 1 when a requested refresh did not
// succeed (the last good root stays in force); 2 for a usage or configuration error (a
// refresh without a mirror).
import { parseArgs } from 'node:util';
import { ErrorCode, isTrustgateError } from '../../shared/errors.js';
import { silentLogger, type Logger } from '../../shared/ports.js';
import { RefreshResult, type RefreshRecord } from '../../shared/trust/sigstore/trusted-root-state-store.js';
import type { SigstoreRootStatus } from '../../shared/trust/sigstore/refreshing-trusted-root-source.js';
import { ConfigError, ExitCode, UsageError } from '../cli-error.js';
import type { CliIo } from '../io.js';
import { openTrustState, TRUST_STATE_OPTIONS } from '../trust-state.js';

const OPTIONS = { ...TRUST_STATE_OPTIONS, refresh: { type: 'boolean' }, json: { type: 'boolean' } } as const;

export async function runSigstoreRoot(args: readonly string[], io: CliIo): Promise<ExitCode> {
  const { values, positionals } = parseArgs({ args: [...args], allowPositionals: true, options: OPTIONS });
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
  const { sigstoreRoot, store } = openTrustState(values, io.env, io.clock, stderrLogger(io));
  try {
    let refreshed: RefreshRecord | undefined;
    if (values.refresh === true) {
      try {
        refreshed = await sigstoreRoot.refresh();
      } catch (error) {
        if (isTrustgateError(error) && error.code === ErrorCode.CONFIG_INVALID) throw new ConfigError(error.message);
        throw error;
      }
    }
    const status = await sigstoreRoot.status();
    io.stdout(values.json === true ? `${JSON.stringify(toJson(status))}\n` : describe(status));
    const failed = refreshed !== undefined && (refreshed.result === RefreshResult.REJECTED || refreshed.result === RefreshResult.FAILED);
    return failed ? ExitCode.DENIED : ExitCode.ALLOWED;
  } finally {
    sigstoreRoot.close();
    store.close();
  }
}

// A refused refresh logs one warning line; the command shows it on stderr.
function stderrLogger(io: CliIo): Logger {
  const line = (level: string) => (message: string, fields?: Readonly<Record<string, unknown>>): void => io.stderr(`${level}: ${message}${fields === undefined ? '' : ` ${JSON.stringify(fields)}`}\n`);
  return { ...silentLogger, warn: line('warning'), error: line('error') };
}

function toJson(status: SigstoreRootStatus): Record<string, unknown> {
  const iso = (ms: number | undefined): string | undefined => (ms === undefined ? undefined : new Date(ms).toISOString());
  return {
    origin: status.origin,
    fingerprint: status.fingerprint,
    mirror: status.mirror ?? null,
    tuf: status.tuf ?? null,
    fetchedAt: iso(status.fetchedAt) ?? null,
    lastRefresh: status.lastRefresh === undefined ? null : { ...status.lastRefresh, at: iso(status.lastRefresh.at) },
    nextRefreshAt: iso(status.nextRefreshAt) ?? null,
  };
}

function describe(status: SigstoreRootStatus): string {
  const iso = (ms: number): string => new Date(ms).toISOString();
  const lines = [`sigstore trusted root: ${status.origin}`, `  fingerprint: ${status.fingerprint}`];
  lines.push(`  mirror: ${status.mirror ?? 'none (the shipped root only)'}`);
  if (status.tuf !== undefined) lines.push(`  tuf: root v${status.tuf.root}, timestamp v${status.tuf.timestamp}, snapshot v${status.tuf.snapshot}, targets v${status.tuf.targets}`);
  if (status.fetchedAt !== undefined) lines.push(`  verified: ${iso(status.fetchedAt)}`);
  const last = status.lastRefresh;
  if (last !== undefined) lines.push(`  last refresh: ${iso(last.at)} ${last.result}${last.code === undefined ? '' : ` ${last.code}`}${last.message === undefined ? '' : `: ${last.message}`}`);
  else if (status.mirror !== undefined) lines.push('  last refresh: never');
  if (status.nextRefreshAt !== undefined && status.nextRefreshAt > 0) lines.push(`  next refresh due: ${iso(status.nextRefreshAt)}`);
  return `${lines.join('\n')}\n`;
}
