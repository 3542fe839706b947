// `trustgate migrate sign --policies PATH --cosign-key KEYFILE [--format bundle|classic]
// [--dry-run] [IMAGE...|--from-file F]`: carries Notary-verified digests over to cosign
// signatures made with the team's key (shared/migrate/carry-over.ts).
// Push credentials: `--registry-username` with the password in TRUSTGATE_REGISTRY_PASSWORD
// (never a flag, so it does not show in process listings); token realms on another host than
// the registry's need TRUSTGATE_REGISTRY_REALM_HOSTS. An encrypted PKCS#8 key's passphrase
// is read from COSIGN_PASSWORD, as cosign reads it.
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { decodeRealmHosts } from '../../infra/trust-server/token-provider-from-env.js';
import { isTrustgateError } from '../../shared/errors.js';
import { createNodeFetch } from '../../shared/http/node-fetch.js';
import { carryOver, createKeyedQueue, type CarryOverResult, type SignatureFormat } from '../../shared/migrate/carry-over.js';
import { mapLimited } from '../../shared/migrate/migration-status.js';
import { createRegistryWriter } from '../../shared/migrate/registry-writer.js';
import { loadSigningKey, type SigningKey } from '../../shared/migrate/signing-key.js';
import { silentLogger } from '../../shared/ports.js';
import { createTokenAuth } from '../../shared/registry/token-auth.js';
import { ConfigError, ExitCode, UsageError } from '../cli-error.js';
import type { CliIo } from '../io.js';
import { loadPolicySet } from '../policy-set.js';
import { openTrustState, TRUST_STATE_OPTIONS } from '../trust-state.js';
import { MIGRATE_CONCURRENCY, readImageInputs } from './migrate.js';

export async function runMigrateSign(args: readonly string[], io: CliIo): Promise<ExitCode> {
  const { values, positionals } = parseArgs({
    args: [...args],
    allowPositionals: true,
    options: {
      policies: { type: 'string' },
      'cosign-key': { type: 'string' },
      format: { type: 'string', default: 'bundle' },
      'dry-run': { type: 'boolean', default: false },
      namespace: { type: 'string', multiple: true },
      'from-file': { type: 'string' },
      'registry-username': { type: 'string' },
      json: { type: 'boolean', default: false },
      ...TRUST_STATE_OPTIONS,
    },
  });
  if (values.policies === undefined) throw new UsageError('--policies PATH is required');
  if (values['cosign-key'] === undefined) throw new UsageError('--cosign-key KEYFILE (the carry-over private key) is required');
  if (values.format !== 'bundle' && values.format !== 'classic') throw new UsageError(`--format expects bundle or classic, got ${JSON.stringify(values.format)}`);
  const format: SignatureFormat = values.format;
  const username = values['registry-username'];
  const password = io.env['TRUSTGATE_REGISTRY_PASSWORD'] || undefined;
  if (username !== undefined && password === undefined) throw new UsageError('--registry-username needs the password in TRUSTGATE_REGISTRY_PASSWORD');
  const credentials = username === undefined || password === undefined ? undefined : { username, password };
  const inputs = await readImageInputs(positionals, values['from-file'], values.namespace ?? []);
  const key = await readSigningKey(values['cosign-key'], io.env['COSIGN_PASSWORD']);
  const set = await loadPolicySet(values.policies);
  const fetch = createNodeFetch();
  let realmHosts: string[];
  try {
    realmHosts = decodeRealmHosts(io.env['TRUSTGATE_REGISTRY_REALM_HOSTS'] ?? '');
  } catch (error) {
    if (isTrustgateError(error)) throw new ConfigError(error.message.replace('TRUSTGATE_TRUST_REALM_HOSTS', 'TRUSTGATE_REGISTRY_REALM_HOSTS'));
    throw error;
  }
  const tokens = createTokenAuth({ fetch, timeoutMs: 10_000, now: () => io.clock.now().getTime(), realmHosts, ...(credentials === undefined ? {} : { credentials }) });
  const registry = createRegistryWriter({ fetch, tokens, ...(credentials === undefined ? {} : { credentials }) });
  const state = openTrustState(values, io.env, io.clock, silentLogger);
  try {
    await state.checkStore();
    const deps = { notary: state.refreshingNotary, cosign: state.cosign, simple: state.simple, registry, clock: io.clock, policies: set, key, format, dryRun: values['dry-run'], exclusive: createKeyedQueue() };
    const results = await mapLimited(inputs, MIGRATE_CONCURRENCY, (input) => carryOver(deps, input));
    for (const result of results) io.stdout(values.json ? `${JSON.stringify(result)}\n` : formatResult(result));
    const count = (outcome: CarryOverResult['outcome']): number => results.filter((result) => result.outcome === outcome).length;
    const summary = `${results.length} images: ${count('signed')} signed, ${count('would-sign')} would be signed, ${count('skipped')} already signed, ${count('refused')} refused (not carried over), ${count('failed')} failed`;
    (values.json ? io.stderr : io.stdout)(`${summary}\n`);
    return count('refused') + count('failed') > 0 ? ExitCode.DENIED : ExitCode.ALLOWED;
  } finally {
    state.sigstoreRoot.close();
    state.store.close();
  }
}

async function readSigningKey(file: string, passphrase: string | undefined): Promise<SigningKey> {
  let pem: string;
  try {
    pem = await readFile(file, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read key file ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  try {
    return loadSigningKey(pem, `key file ${file}`, passphrase);
  } catch (error) {
    if (isTrustgateError(error)) throw new ConfigError(`[${error.code}] ${error.message}`);
    throw error;
  }
}

function formatResult(result: CarryOverResult): string {
  const signers = result.notarySigners === undefined ? '' : ` (Notary signers: ${result.notarySigners.join(', ')}; verified ${result.verifiedAt ?? ''})`;
  const reasons = (result.reasons ?? []).map((reason, index) => `  [${result.codes?.[index] ?? ''}] ${reason}\n`).join('');
  switch (result.outcome) {
    case 'signed':
      return `signed: ${result.image} -> ${result.digest ?? ''} as ${result.format}${signers}\n`;
    case 'would-sign':
      return `would sign: ${result.image} -> ${result.digest ?? ''} as ${result.format}${signers}\n`;
    case 'skipped':
      return `skipped: ${result.image} -> ${result.digest ?? ''} already carries a ${result.format} signature by this key\n`;
    case 'refused':
      return `refused: ${result.image} (namespace ${result.namespace}): not carried over, nothing signed\n${reasons}`;
    case 'failed':
      return `failed: ${result.image} -> ${result.digest ?? ''}${signers}\n${reasons}`;
  }
}
