// `trustgate migrate report|sign`: moving off Notary v1.
// `report` says, per image, which signatures verify under the policy that governs it and
// which images would start being denied once Notary v1 is turned off; it reads, never writes.
// `sign` carries Notary-verified digests over to cosign signatures (migrate-sign.ts).
import { readFile, stat } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { ErrorCode, TrustgateError } from '../../shared/errors.js';
import { decodeImageFile, imagesInNamespaces, type ImageInput } from '../../shared/migrate/image-inputs.js';
import { describeMigrationStatus, mapLimited, summarise, type KindStatus, type MigrationStatus, type MigrationSummary } from '../../shared/migrate/migration-status.js';
import type { Fetch } from '../../shared/ports.js';
import { silentLogger } from '../../shared/ports.js';
import { ExitCode, UsageError } from '../cli-error.js';
import type { CliIo } from '../io.js';
import { loadPolicySet } from '../policy-set.js';
import { openTrustState, TRUST_STATE_OPTIONS } from '../trust-state.js';
import { describeSource } from './describe-policy.js';

export const DEFAULT_NAMESPACE = 'default';
// Images verified at once: a report over a whole cluster should not stampede its registries.
export const MIGRATE_CONCURRENCY = 4;
// Largest --from-file read (a `kubectl get -o json` of a big cluster is a few MiB).
const MAX_INPUT_FILE_BYTES = 64 * 1024 * 1024;

export async function runMigrate(args: readonly string[], io: CliIo): Promise<ExitCode> {
  const [subcommand, ...rest] = args;
  if (subcommand === 'report') return await runMigrateReport(rest, io);
  if (subcommand === 'sign') return await (await import('./migrate-sign.js')).runMigrateSign(rest, io);
  throw new UsageError(subcommand === undefined ? 'missing migrate subcommand: report or sign' : `unknown migrate subcommand ${JSON.stringify(subcommand)}`);
}

// The images a migrate command looks at: positionals and --from-file, each in every
// --namespace (default `default`); workloads from a dump in their own namespace.
export async function readImageInputs(positionals: readonly string[], fromFile: string | undefined, namespaces: readonly string[]): Promise<ImageInput[]> {
  const inputs = imagesInNamespaces(positionals, namespaces.length > 0 ? namespaces : [DEFAULT_NAMESPACE]);
  if (fromFile !== undefined) {
    let text: string;
    try {
      if ((await stat(fromFile)).size > MAX_INPUT_FILE_BYTES) throw new UsageError(`${fromFile} is larger than ${MAX_INPUT_FILE_BYTES} bytes`);
      text = await readFile(fromFile, 'utf8');
    } catch (error) {
      if (error instanceof UsageError) throw error;
      throw new UsageError(`cannot read ${fromFile}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
    try {
      inputs.push(...decodeImageFile(text, namespaces, DEFAULT_NAMESPACE));
    } catch (error) {
      if (error instanceof TrustgateError) throw new UsageError(`${fromFile}: ${error.message}`);
      throw error;
    }
  }
  if (inputs.length === 0) throw new UsageError('no images: name them, or pass --from-file');
  return inputs;
}

// A Fetch that makes no request: offline runs answer from the trust cache alone.
export const OFFLINE_FETCH: Fetch = (request) =>
  Promise.reject(new TrustgateError(ErrorCode.TRUST_SERVER_UNAVAILABLE, `offline: ${new URL(request.url).host} was not asked`));

// Offline, the cache is used as long as the flags allow, by default as long as possible.
const OFFLINE_WINDOW = '24h';

async function runMigrateReport(args: readonly string[], io: CliIo): Promise<ExitCode> {
  const { values, positionals } = parseArgs({
    args: [...args],
    allowPositionals: true,
    options: {
      policies: { type: 'string' },
      namespace: { type: 'string', multiple: true },
      'from-file': { type: 'string' },
      json: { type: 'boolean', default: false },
      offline: { type: 'boolean', default: false },
      ...TRUST_STATE_OPTIONS,
    },
  });
  if (values.policies === undefined) throw new UsageError('--policies PATH is required');
  const inputs = await readImageInputs(positionals, values['from-file'], values.namespace ?? []);
  const set = await loadPolicySet(values.policies);
  const flags = values.offline ? { ...values, freshness: values.freshness ?? OFFLINE_WINDOW, 'max-stale': values['max-stale'] ?? OFFLINE_WINDOW } : values;
  const state = openTrustState(flags, io.env, io.clock, silentLogger, undefined, values.offline ? OFFLINE_FETCH : undefined);
  try {
    await state.checkStore();
    const deps = { notary: state.notary, cosign: state.cosign, simple: state.simple, clock: io.clock, policies: set };
    const statuses = await mapLimited(inputs, MIGRATE_CONCURRENCY, (input) => describeMigrationStatus(deps, input));
    const summary = summarise(statuses);
    if (values.json) {
      for (const status of statuses) io.stdout(`${JSON.stringify(status)}\n`);
      io.stderr(`${formatSummary(summary)}\n`);
    } else {
      io.stdout(formatTable(statuses));
      io.stdout(`${formatSummary(summary)}\n`);
    }
    return summary.breaksWithoutNotary > 0 ? ExitCode.DENIED : ExitCode.ALLOWED;
  } finally {
    state.sigstoreRoot.close();
    state.store.close();
  }
}

export function formatSummary(summary: MigrationSummary): string {
  return (
    `${summary.images} images: ${summary.both} signed with both, ${summary.notaryOnly} with Notary only, ${summary.cosignOnly} with cosign only, ` +
    `${summary.neither} with neither; ${summary.deniedNow} denied now; ${summary.breaksWithoutNotary} would be denied without Notary v1`
  );
}

// One row per image, columns padded to their widest cell.
function formatTable(statuses: readonly MigrationStatus[]): string {
  const header = ['IMAGE', 'NAMESPACE', 'NOTARY', 'COSIGN', 'NOW', 'WITHOUT NOTARY', 'POLICY'];
  const rows = statuses.map((status) => [
    status.image,
    status.namespace,
    describeKind(status.notary),
    describeKind(status.cosign),
    status.allowedNow ? 'allowed' : 'denied',
    status.breaksWithoutNotary ? 'DENIED (breaks)' : status.allowedWithoutNotary ? 'allowed' : 'denied',
    status.policy === null ? 'none' : describeSource(status.policy),
  ]);
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)));
  const line = (cells: readonly string[]): string => `${cells.map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column] ?? 0))).join('  ')}\n`;
  return [header, ...rows].map(line).join('');
}

function describeKind(status: KindStatus): string {
  if (status.state === 'signed') return `signed (${(status.signers ?? []).join(', ')})`;
  if (status.state === 'not-required') return '-';
  return `${status.state} [${(status.codes ?? []).join(', ')}]`;
}
