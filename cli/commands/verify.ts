// `trustgate verify IMAGE [--trust-server URL] [--signer NAME=PEMFILE]... [--root-key-id ID]... [--json]`
// `trustgate verify IMAGE --cosign-key PEMFILE... [--json]`: cosign signatures made with one of
// the keys (Notary too when a Notary flag is also given).
// `trustgate verify IMAGE --certificate-identity ID --certificate-oidc-issuer URL [--trusted-root FILE]
// [--json]`: a keyless cosign signature (Fulcio certificate, Rekor entry) naming that identity,
// as cosign's flags of the same names (`--certificate-identity-regexp`,
// `--certificate-oidc-issuer-regexp` take patterns matching the whole value), checked against
// the trusted root in FILE (a private Sigstore deployment's) instead of the one in force.
// `trustgate verify IMAGE --policies PATH [--namespace NS] [--json]`: the policy that applies
// to the image in the namespace (and every enforced ClusterImagePolicy) decides the requirement.
// fs.promises rather than node:fs/promises: its modules load on first use (a key file read),
// not when every verify starts.
import { promises as fsp } from 'node:fs';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import { isTrustgateError } from '../../shared/errors.js';
import type { PolicySet } from '../../shared/policy/model.js';
import { describeSource } from './describe-policy.js';
import { silentLogger } from '../../shared/ports.js';
import { decodeVerifyImageRequest, type VerifyImageRequest } from '../../shared/verify/verify-image-request.js';
import { verifyImage, type VerifyImageResponse } from '../../shared/verify/verify-image.js';
import type { RegistryCredentials } from '../../shared/registry/credential-keyring.js';
import { DEFAULT_SERVICE_ACCOUNT, pullSecretsFromPolicySet, toRegistryCredentials } from '../../shared/registry/workload-pull-secrets.js';
import type { TrustedRootJson } from '../../shared/trust/sigstore/trusted-root-source.js';
import { isKeyAuthority } from '../../shared/trust/verifier.js';
import { ExitCode, UsageError } from '../cli-error.js';
import type { CliIo } from '../io.js';
import { readTrustedRootFile } from '../trusted-root-file.js';
import { openTrustState, TRUST_STATE_OPTIONS } from '../trust-state.js';

const DEFAULT_NAMESPACE = 'default';

export async function runVerify(args: readonly string[], io: CliIo): Promise<ExitCode> {
  const { values, positionals } = parseArgs({
    args: [...args],
    allowPositionals: true,
    options: {
      'trust-server': { type: 'string' },
      signer: { type: 'string', multiple: true },
      'root-key-id': { type: 'string', multiple: true },
      'cosign-key': { type: 'string', multiple: true },
      'certificate-identity': { type: 'string' },
      'certificate-identity-regexp': { type: 'string' },
      'certificate-oidc-issuer': { type: 'string' },
      'certificate-oidc-issuer-regexp': { type: 'string' },
      'trusted-root': { type: 'string' },
      ...TRUST_STATE_OPTIONS,
      policies: { type: 'string' },
      namespace: { type: 'string' },
      'image-pull-secret': { type: 'string', multiple: true },
      'service-account': { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'missing IMAGE' : 'expected exactly one IMAGE');
  let request: VerifyImageRequest;
  // Read and decoded before anything is verified, so a bad policy path is a configuration error.
  let policies: (() => Promise<PolicySet>) | undefined;
  let credentials: RegistryCredentials | undefined;
  if (values.policies !== undefined) {
    const given = {
      '--trust-server': values['trust-server'],
      '--signer': values.signer,
      '--root-key-id': values['root-key-id'],
      '--cosign-key': values['cosign-key'],
      '--certificate-identity': values['certificate-identity'] ?? values['certificate-identity-regexp'],
      '--certificate-oidc-issuer': values['certificate-oidc-issuer'] ?? values['certificate-oidc-issuer-regexp'],
      '--trusted-root': values['trusted-root'],
    };
    const explicit = Object.entries(given).filter(([, value]) => value !== undefined).map(([flag]) => flag);
    if (explicit.length > 0) {
      throw new UsageError(`--policies cannot be combined with ${explicit.join(', ')}: the policy decides the trust requirement`);
    }
    const namespace = values.namespace ?? DEFAULT_NAMESPACE;
    request = toRequest({ image: positionals[0], namespace });
    // The policy reader (YAML, the schema) is loaded only for this form.
    const { loadPolicySet } = await import('../policy-set.js');
    const set = await loadPolicySet(values.policies);
    policies = () => Promise.resolve(set);
    // As a pod naming these pull secrets and running as this service account would pull.
    const workload = { imagePullSecrets: values['image-pull-secret'] ?? [], serviceAccount: values['service-account'] ?? DEFAULT_SERVICE_ACCOUNT };
    credentials = toRegistryCredentials(pullSecretsFromPolicySet(set, namespace, workload));
  } else {
    if (values.namespace !== undefined) throw new UsageError('--namespace is only meaningful with --policies');
    if (values['image-pull-secret'] !== undefined || values['service-account'] !== undefined) {
      throw new UsageError('--image-pull-secret and --service-account name Secrets and ServiceAccounts of the policy files: they need --policies');
    }
    const signers = await Promise.all((values.signer ?? []).map(readSigner));
    const cosignKeys = await Promise.all((values['cosign-key'] ?? []).map(readCosignKey));
    const notaryGiven = values['trust-server'] !== undefined || values.signer !== undefined || values['root-key-id'] !== undefined;
    const identity = certificateIdentity(values);
    if (values['trusted-root'] !== undefined && identity === undefined) {
      throw new UsageError('--trusted-root is the root of keyless checks: give --certificate-identity and --certificate-oidc-issuer with it');
    }
    const trustedRoot = values['trusted-root'] === undefined ? undefined : await readRootArgument(values['trusted-root']);
    const cosignGiven = cosignKeys.length > 0 || identity !== undefined;
    request = toRequest({
      image: positionals[0],
      ...(cosignGiven && !notaryGiven
        ? {}
        : {
            trust: {
              ...(values['trust-server'] === undefined ? {} : { server: values['trust-server'] }),
              signers,
              rootKeyIds: values['root-key-id'] ?? [],
            },
          }),
      ...(cosignGiven ? { cosign: { keys: cosignKeys, ...(identity === undefined ? {} : { identities: [identity] }) } } : {}),
    });
    if (trustedRoot !== undefined) request = withKeylessRoot(request, trustedRoot);
  }
  const { notary, cosign, simple, store, sigstoreRoot, checkStore } = openTrustState(values, io.env, io.clock, silentLogger);
  // A missing or wrong store is exit 2; a store that does not answer is left to the
  // verification, which denies what it cannot decide without it (STATE_STORE_FAILED).
  await checkStore().catch((error: unknown) => {
    sigstoreRoot.close();
    store.close();
    throw error;
  });
  const response = await verifyImage(
    { notary, cosign, simple, clock: io.clock, logger: silentLogger, ...(policies === undefined ? {} : { policies }) },
    request,
    undefined,
    credentials,
  );
  sigstoreRoot.close();
  store.close();
  io.stdout(values.json ? `${JSON.stringify(response)}\n` : formatVerdict(response));
  return response.allowed ? ExitCode.ALLOWED : ExitCode.DENIED;
}

// The command line as a verify-image request; a field the decoder refuses is a usage error.
function toRequest(input: Record<string, unknown>): VerifyImageRequest {
  try {
    return decodeVerifyImageRequest(input);
  } catch (error) {
    if (isTrustgateError(error)) throw new UsageError(error.problems.map((p) => `${p.path}: ${p.message}`).join('; ') || error.message);
    throw error;
  }
}

async function readSigner(spec: string): Promise<{ name: string; publicKey: string }> {
  const at = spec.indexOf('=');
  if (at <= 0 || at === spec.length - 1) throw new UsageError(`--signer expects NAME=PEMFILE, got ${JSON.stringify(spec)}`);
  const file = spec.slice(at + 1);
  try {
    return { name: spec.slice(0, at), publicKey: await fsp.readFile(file, 'utf8') };
  } catch (error) {
    throw new UsageError(`cannot read signer key file ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

// The keyless identity of the --certificate-* flags: both an identity and an issuer, each
// exact or a pattern, or neither.
function certificateIdentity(values: Readonly<Record<string, unknown>>): Record<string, string> | undefined {
  const pick = (exact: string, pattern: string, field: string, patternField: string): Record<string, string> | undefined => {
    const value = values[exact];
    const regexp = values[pattern];
    if (typeof value === 'string' && typeof regexp === 'string') throw new UsageError(`--${exact} and --${pattern} cannot be given together`);
    if (typeof value === 'string') return { [field]: value };
    if (typeof regexp === 'string') return { [patternField]: regexp };
    return undefined;
  };
  const subject = pick('certificate-identity', 'certificate-identity-regexp', 'subject', 'subjectRegExp');
  const issuer = pick('certificate-oidc-issuer', 'certificate-oidc-issuer-regexp', 'issuer', 'issuerRegExp');
  if (subject === undefined && issuer === undefined) return undefined;
  if (subject === undefined || issuer === undefined) throw new UsageError('--certificate-identity and --certificate-oidc-issuer (or their -regexp forms) must be given together');
  return { ...issuer, ...subject };
}

// The --trusted-root file; one that is not a usable root is a usage error, like any bad flag.
async function readRootArgument(path: string): Promise<TrustedRootJson> {
  try {
    return await readTrustedRootFile(path);
  } catch (error) {
    if (isTrustgateError(error)) throw new UsageError(error.message);
    throw error;
  }
}

// The request with `root` as the trusted root of its keyless authority (the decoded request
// has none: a request from outside never names a root by value).
function withKeylessRoot(request: VerifyImageRequest, root: TrustedRootJson): VerifyImageRequest {
  if (request.kind !== 'explicit' || request.cosign === undefined) return request;
  const cosign = request.cosign.map((requirement) => ({
    ...requirement,
    authorities: requirement.authorities.map((authority) => (isKeyAuthority(authority) ? authority : { ...authority, trustedRoot: root })),
  }));
  return { ...request, cosign };
}

// One --cosign-key file, named in answers by its file name ('cosign.pub').
async function readCosignKey(file: string): Promise<{ name: string; publicKey: string }> {
  try {
    return { name: basename(file).replace(/[^A-Za-z0-9._/-]/g, '_') || 'key', publicKey: await fsp.readFile(file, 'utf8') };
  } catch (error) {
    throw new UsageError(`cannot read cosign key file ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

// Human form: the verdict, its digest and signers, and in the policy form the policy that matched.
function formatVerdict(response: VerifyImageResponse): string {
  const source = response.policy ? `  policy: ${describeSource(response.policy)}\n` : '';
  if (response.allowed) {
    const digest = response.digest === null ? '' : ` -> ${response.digest}`;
    const by = response.verifiedBy === undefined ? '' : `; verified by ${response.verifiedBy.join(', ')}`;
    const signed = response.signers.length > 0 ? `signed by ${response.signers.join(', ')}${by}` : 'no signature required';
    return `allowed: ${response.image}${digest} (${signed})\n${source}`;
  }
  return `denied: ${response.image}\n${source}${response.reasons.map((r, i) => `  [${response.codes[i] ?? ''}] ${r}\n`).join('')}`;
}
