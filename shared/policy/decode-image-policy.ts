import { Ajv, type ErrorObject } from 'ajv';
import { joinField, toFieldPath } from '../field-path.js';
import { imagePolicySpecSchema, toClosedSchema } from './image-policy-schema.js';
import { decodeMetadata, truncate } from './decode-metadata.js';
import { isPlainObject } from '../json.js';
import { imagePatternProblems } from './image-pattern.js';
import { identityProblems } from '../trust/cosign/identity.js';
import { signedIdentityProblems } from './signed-identity.js';
import { storeUrlProblem } from './simple-store-url.js';
import {
  ENFORCE_ANNOTATION,
  INVALID_ANNOTATION,
  MODE_ANNOTATION,
  PolicyMode,
  ROOT_KEY_IDS_ANNOTATION,
  type ClusterImagePolicy,
  type ImagePolicy,
  type Policy,
  type RepositoryPolicy,
  type SecretRef,
  type KeylessIdentity,
  type SignedIdentity,
  type SimplePolicy,
  type SimpleRequirement,
  type SimpleRequirementType,
  type SignedIdentityType,
  type SigstorePolicy,
  type VerificationMode,
} from './model.js';
import type { ProblemScope } from './problem-scope.js';

export const POLICY_API_VERSION = 'portieris.cloud.ibm.com/v1';

const POLICY_FIELDS = new Set(['apiVersion', 'kind', 'metadata', 'spec']);

// Compiled once per process. allErrors: report every bad field, not just the first. The
// schema is ours and a unit test checks it against the JSON Schema meta-schema, so the
// meta-schema is not compiled at run time (validateSchema: false, most of ajv's start-up).
const validateSpec = new Ajv({ allErrors: true, strict: true, validateSchema: false }).compile(toClosedSchema(imagePolicySpecSchema));

// The shape the schema guarantees once validation passed (all fields optional, as written).
interface RawSpec {
  readonly repositories?: readonly { readonly name: string; readonly policy?: RawPolicy | null }[];
}
interface RawPolicy {
  readonly mutateImage?: boolean;
  readonly trust?: { readonly enabled?: boolean; readonly trustServer?: string; readonly signerSecrets?: readonly { readonly name: string; readonly namespace?: string }[] };
  readonly simple?: { readonly storeURL?: string; readonly storeSecret?: string; readonly storeSecretNamespace?: string; readonly requirements?: readonly RawRequirement[] | null };
  readonly vulnerability?: { readonly ICCRVA?: { readonly enabled?: boolean; readonly account?: string } };
  readonly sigstore?: RawSigstore;
  readonly verification?: { readonly mode?: VerificationMode };
}
interface RawSigstore {
  readonly authorities: readonly { readonly key?: { readonly secretName: string; readonly secretNamespace?: string }; readonly keyless?: RawKeyless }[];
  readonly threshold?: number;
  readonly tlog?: 'auto' | 'required' | 'off' | 'none';
}
interface RawKeyless {
  readonly identities: readonly KeylessIdentity[];
  readonly trustRootSecretName?: string;
  readonly trustRootSecretNamespace?: string;
}
interface RawRequirement {
  readonly type: SimpleRequirementType;
  readonly keySecret?: string;
  readonly keySecretNamespace?: string;
  readonly signedIdentity?: { readonly type?: SignedIdentityType | ''; readonly dockerReference?: string; readonly dockerRepository?: string; readonly prefix?: string; readonly signedPrefix?: string };
}

// Decode an ImagePolicy or ClusterImagePolicy document: apiVersion, metadata and a spec valid
// against the one schema (closed, so a misspelt field is an error rather than a disabled check).
export function decodeImagePolicy(
  document: Readonly<Record<string, unknown>>,
  kind: 'ImagePolicy' | 'ClusterImagePolicy',
  scope: ProblemScope,
): ImagePolicy | ClusterImagePolicy | undefined {
  const before = scope.count();
  if (document['apiVersion'] !== POLICY_API_VERSION) scope.add('apiVersion', `must be "${POLICY_API_VERSION}" for ${kind}`);
  for (const key of Object.keys(document)) {
    if (!POLICY_FIELDS.has(key)) scope.add(key, `is not a known field of ${kind}`);
  }
  const metadata = decodeMetadata(document['metadata'], scope.child('metadata'), kind === 'ImagePolicy');
  const enforce = metadata === undefined ? false : decodeEnforce(metadata.annotations.get(ENFORCE_ANNOTATION), kind, scope);
  const rootKeyIds = metadata === undefined ? [] : decodeRootKeyIds(metadata.annotations.get(ROOT_KEY_IDS_ANNOTATION), scope);
  const mode = metadata === undefined ? PolicyMode.enforce : decodeMode(metadata.annotations.get(MODE_ANNOTATION), scope);
  const invalid = metadata === undefined ? undefined : decodeInvalid(metadata.annotations.get(INVALID_ANNOTATION), scope);
  const spec = document['spec'];
  if (spec === undefined) scope.add('spec', 'is required');
  else {
    const valid = validateSpec(spec);
    if (!valid) reportSchemaErrors(validateSpec.errors ?? [], scope.child('spec'));
    reportInertPatterns(spec, scope.child('spec'));
    if (valid) reportSigstoreProblems(spec as RawSpec, scope.child('spec'));
    if (valid) reportSimpleProblems(spec as RawSpec, scope.child('spec'));
    if (valid) reportSecretNamespaceProblems(spec as RawSpec, kind === 'ClusterImagePolicy' && enforce, kind === 'ImagePolicy' ? (metadata?.namespace ?? 'default') : undefined, scope.child('spec'));
  }
  if (scope.count() !== before || metadata === undefined) return undefined;

  const modeField = mode === PolicyMode.enforce ? {} : { mode };
  const repositories = ((spec as RawSpec).repositories ?? []).map((raw) => toRepositoryPolicy(raw, rootKeyIds, modeField, invalid));
  if (kind === 'ImagePolicy') {
    return { kind, name: metadata.name, namespace: metadata.namespace ?? 'default', ...modeField, repositories };
  }
  return { kind, name: metadata.name, enforce, ...modeField, repositories };
}

const MODES = new Set<string>(Object.values(PolicyMode));

// The `trustgate.dev/mode` annotation: exactly "enforce", "warn" or "audit". Anything else is
// an error rather than a default: a typo such as "Enforce" or "warning" must neither weaken
// a policy nor leave an intended rollout enforcing.
function decodeMode(value: string | undefined, scope: ProblemScope): PolicyMode {
  if (value === undefined) return PolicyMode.enforce;
  if (!MODES.has(value)) {
    scope.add(`metadata.annotations.${MODE_ANNOTATION}`, `must be "enforce", "warn" or "audit", got "${truncate(value)}"`);
    return PolicyMode.enforce;
  }
  return value as PolicyMode;
}

// The `trustgate.dev/enforce` annotation. Only "true" and "false" are accepted: a typo such as
// "yes" must not quietly leave a cluster-wide baseline unenforced.
function decodeEnforce(value: string | undefined, kind: string, scope: ProblemScope): boolean {
  const field = `metadata.annotations.${ENFORCE_ANNOTATION}`;
  if (value === undefined) return false;
  if (kind !== 'ClusterImagePolicy') {
    scope.add(field, 'only has a meaning on a ClusterImagePolicy');
    return false;
  }
  if (value !== 'true' && value !== 'false') scope.add(field, `must be "true" or "false", got "${truncate(value)}"`);
  return value === 'true';
}

// The `trustgate.dev/invalid` annotation: the reason every entry of the document denies
// (Policy.invalid). Security: whoever can write a policy document can write this, and it only
// makes the images that document already governs deny; it can never admit anything. A
// snapshot uses it to carry the stand-in for a cluster object that never decoded.
function decodeInvalid(value: string | undefined, scope: ProblemScope): string | undefined {
  if (value === undefined) return undefined;
  if (value.trim() === '') {
    scope.add(`metadata.annotations.${INVALID_ANNOTATION}`, 'must give the reason the policy denies, got an empty string');
    return undefined;
  }
  return value;
}

// Key IDs as Notary prints them (`notary key list`): the root certificate's key ID.
const KEY_ID = /^[0-9a-f]{64}$/;
const MAX_ROOT_KEY_IDS = 32;

// The `trustgate.dev/root-key-ids` annotation: comma-separated key IDs. Anything that is not
// a key ID is an error: a typo must not quietly turn pinning back into trust on first use.
function decodeRootKeyIds(value: string | undefined, scope: ProblemScope): readonly string[] {
  if (value === undefined) return [];
  const field = `metadata.annotations.${ROOT_KEY_IDS_ANNOTATION}`;
  const ids = value.split(',').map((id) => id.trim());
  if (ids.length > MAX_ROOT_KEY_IDS) {
    scope.add(field, `must list at most ${MAX_ROOT_KEY_IDS} key IDs, got ${ids.length}`);
    return [];
  }
  const bad = ids.find((id) => !KEY_ID.test(id));
  if (bad !== undefined) {
    scope.add(field, `must be comma-separated 64-character lower-case hex key IDs, got "${truncate(bad)}"`);
    return [];
  }
  return [...new Set(ids)];
}

// A repository pattern no normalised image can match (upper case in the path, whitespace, a
// port that is not a number) is an error, not a rule that silently never applies: an enforced
// baseline with such a typo would otherwise enforce nothing. Runs whatever else is wrong with
// the spec (only string names are judged), so every problem is listed in one run.
function reportInertPatterns(spec: unknown, scope: ProblemScope): void {
  const repositories = isPlainObject(spec) ? spec['repositories'] : undefined;
  if (!Array.isArray(repositories)) return;
  repositories.forEach((repository: unknown, index) => {
    const name = isPlainObject(repository) ? repository['name'] : undefined;
    if (typeof name !== 'string' || name.length === 0) return;
    for (const problem of imagePatternProblems(name)) {
      scope.add(`repositories[${index}].name`, `${problem}, so no image can match ${JSON.stringify(truncate(name))}`);
    }
  });
}

// What the schema cannot say about `sigstore`: each authority is exactly one of key and
// keyless, each keyless identity names an issuer and a subject (exact or a valid regular
// expression, not both), the threshold can be met, and keyless authorities are never
// checked without the transparency log (`tlog: off`): a policy must never be read as asking
// for less than it says.
function reportSigstoreProblems(spec: RawSpec, scope: ProblemScope): void {
  (spec.repositories ?? []).forEach((repository, index) => {
    const sigstore = repository.policy?.sigstore;
    if (sigstore === undefined) return;
    const at = scope.child(`repositories[${index}].policy.sigstore`);
    sigstore.authorities.forEach((authority, position) => {
      const field = `authorities[${position}]`;
      if (authority.key !== undefined && authority.keyless !== undefined) at.add(field, 'must have either key or keyless, not both');
      else if (authority.keyless !== undefined) {
        authority.keyless.identities.forEach((identity, which) => {
          for (const problem of identityProblems(identity)) at.add(`${field}.keyless.identities[${which}].${problem.field}`, problem.message);
        });
        if (sigstore.tlog === 'off' || sigstore.tlog === 'none') {
          at.add(`${field}.keyless`, `cannot be checked with tlog: ${sigstore.tlog}: a keyless signature is only trusted with its transparency-log entry`);
        }
      } else if (authority.key === undefined) at.add(field, 'must have key or keyless');
    });
    const keys = sigstore.authorities.flatMap((authority) => (authority.key === undefined ? [] : [authority.key]));
    const names = keys.map((key) => `${key.secretNamespace ?? ''}/${key.secretName}`);
    const repeated = keys.find((_, position) => names.indexOf(names[position] ?? '') !== position);
    if (repeated !== undefined) {
      const where = repeated.secretNamespace === undefined ? '' : ` in namespace "${truncate(repeated.secretNamespace)}"`;
      at.add('authorities', `name secret "${truncate(repeated.secretName)}"${where} more than once: each authority is one key`);
    }
    if (sigstore.threshold !== undefined && sigstore.threshold > sigstore.authorities.length) {
      at.add('threshold', `is ${sigstore.threshold}, more than the ${sigstore.authorities.length} authorities listed`);
    }
  });
}

// What the schema cannot say about `simple`, and would otherwise be found only when an image
// is checked (every image under the policy then denied POLICY_INVALID while lint called the
// document valid): a requirement list that is empty, `signedBy` without `keySecret`, a
// `signedIdentity` missing the fields its type needs or naming something that is not a
// reference of the right form, and a store URL that is not http(s) (or plain http carrying
// store credentials off loopback). The same checks run again when a requirement is built.
function reportSimpleProblems(spec: RawSpec, scope: ProblemScope): void {
  (spec.repositories ?? []).forEach((repository, index) => {
    const simple = repository.policy?.simple;
    if (simple === undefined) return;
    const at = scope.child(`repositories[${index}].policy.simple`);
    const requirements = simple.requirements ?? [];
    if (requirements.length === 0) at.add('requirements', 'lists no requirements: expected at least one (containers/image refuses an empty list)');
    requirements.forEach((requirement, which) => {
      if (requirement.type !== 'signedBy') return;
      const field = `requirements[${which}]`;
      if (requirement.keySecret === undefined || requirement.keySecret === '') at.add(`${field}.keySecret`, 'is required for a signedBy requirement');
      const identity = toSimpleRequirement(requirement).signedIdentity;
      for (const problem of signedIdentityProblems(identity)) at.add(`${field}.signedIdentity.${problem.field}`, problem.message);
    });
    if (simple.storeURL !== undefined) {
      const problem = storeUrlProblem(simple.storeURL, simple.storeSecret !== undefined && simple.storeSecret !== '');
      if (problem !== undefined) at.add('storeURL', problem);
    }
  });
}

// Where each Secret a policy names is read. Without an explicit namespace it is the workload's
// namespace (Portieris' rule), which is fine for a policy that only governs the namespaces
// that choose it. An enforced ClusterImagePolicy is a baseline namespace policies cannot
// weaken, but a tenant who may write Secrets in its own namespace (commonly allowed, unlike
// policies) would choose the key, trusted root or signer the baseline checks against, and
// pass it with its own signature. So there every Secret reference must name its namespace:
// one that does not is an error at its field (the baseline then denies, never reads the
// workload's namespace). A namespace without the Secret it belongs to is an error too, as a
// likely slip that would otherwise say nothing.
// `ownNamespace` is an ImagePolicy's namespace: a namespace field of the Secrets it names may
// only be that namespace (Portieris' simple-signing `keySecretNamespace` aside, kept as
// Portieris has it). Security: whoever may write an ImagePolicy in one namespace must not make
// serve read, watch (charged to whom?), publish into the policy snapshot or quote in a denial
// another namespace's Secrets, and a store Secret holds credentials trustgate would send to the
// policy's `storeURL`. On an enforced ClusterImagePolicy, a namespace is required wherever the
// Secret is read (signer Secrets of an enabled Notary check, a `signedBy` requirement's key),
// and nowhere else: a staged or leftover name that is never read does not break a baseline.
function reportSecretNamespaceProblems(spec: RawSpec, enforced: boolean, ownNamespace: string | undefined, scope: ProblemScope): void {
  const reason = 'is required on an enforced ClusterImagePolicy: without it the Secret would be read from the workload\'s namespace, where a tenant could put its own key';
  const missing = (namespace: string | undefined): boolean => namespace === undefined || namespace === '';
  const elsewhere = (namespace: string | undefined): boolean => ownNamespace !== undefined && !missing(namespace) && namespace !== ownNamespace;
  const ownOnly = ownNamespace === undefined ? '' : `must be the ImagePolicy's own namespace "${ownNamespace}" (or absent): an ImagePolicy names only its own namespace's Secrets`;
  (spec.repositories ?? []).forEach((repository, index) => {
    const policy = repository.policy;
    if (policy === undefined || policy === null) return;
    const at = scope.child(`repositories[${index}].policy`);
    const trustRead = policy.trust?.enabled === true;
    (policy.trust?.signerSecrets ?? []).forEach((secret, which) => {
      const field = `trust.signerSecrets[${which}].namespace`;
      if (elsewhere(secret.namespace)) at.add(field, ownOnly);
      else if (enforced && trustRead && missing(secret.namespace)) at.add(field, reason);
    });
    (policy.sigstore?.authorities ?? []).forEach((authority, which) => {
      if (authority.key !== undefined) {
        const field = `sigstore.authorities[${which}].key.secretNamespace`;
        if (elsewhere(authority.key.secretNamespace)) at.add(field, ownOnly);
        else if (enforced && missing(authority.key.secretNamespace)) at.add(field, reason);
      }
      const keyless = authority.keyless;
      if (keyless === undefined) return;
      const field = `sigstore.authorities[${which}].keyless.trustRootSecretNamespace`;
      if (keyless.trustRootSecretName === undefined) {
        if (keyless.trustRootSecretNamespace !== undefined) at.add(field, 'is set without trustRootSecretName');
      } else if (elsewhere(keyless.trustRootSecretNamespace)) at.add(field, ownOnly);
      else if (enforced && missing(keyless.trustRootSecretNamespace)) at.add(field, reason);
    });
    const simple = policy.simple;
    if (simple === undefined) return;
    if (missing(simple.storeSecret)) {
      if (simple.storeSecretNamespace !== undefined) at.add('simple.storeSecretNamespace', 'is set without storeSecret');
    } else if (elsewhere(simple.storeSecretNamespace)) at.add('simple.storeSecretNamespace', ownOnly);
    else if (enforced && missing(simple.storeSecretNamespace)) at.add('simple.storeSecretNamespace', reason);
    (simple.requirements ?? []).forEach((requirement, which) => {
      if (enforced && requirement.type === 'signedBy' && !missing(requirement.keySecret) && missing(requirement.keySecretNamespace)) at.add(`simple.requirements[${which}].keySecretNamespace`, reason);
    });
  });
}

// One problem per ajv error, at the field it concerns (`repositories[0].policy.trust.enabled`).
function reportSchemaErrors(errors: readonly ErrorObject[], scope: ProblemScope): void {
  for (const error of errors) {
    const field = toFieldPath(error.instancePath);
    const params = error.params as Record<string, unknown>;
    if (error.keyword === 'required') {
      scope.add(joinField(field, String(params['missingProperty'])), 'is required');
    } else if (error.keyword === 'additionalProperties') {
      scope.add(joinField(field, String(params['additionalProperty'])), 'is not a known field');
    } else if (error.keyword === 'enum') {
      const allowed = (params['allowedValues'] as unknown[]).map((value) => JSON.stringify(value)).join(', ');
      scope.add(field, `must be one of ${allowed}`);
    } else {
      scope.add(field, error.message ?? `fails ${error.keyword}`);
    }
  }
}

function toRepositoryPolicy(
  raw: { readonly name: string; readonly policy?: RawPolicy | null },
  rootKeyIds: readonly string[],
  mode: { readonly mode?: PolicyMode },
  invalid: string | undefined,
): RepositoryPolicy {
  return { name: raw.name, policy: { ...mode, ...toPolicy(raw.policy ?? {}, rootKeyIds), ...(invalid === undefined ? {} : { invalid }) } };
}

// Apply Portieris' defaults: mutateImage true, trust disabled, no simple signing, no scanning.
function toPolicy(raw: RawPolicy, rootKeyIds: readonly string[]): Policy {
  const trust = {
    enabled: raw.trust?.enabled ?? false,
    ...(raw.trust?.trustServer === undefined ? {} : { trustServer: raw.trust.trustServer }),
    signerSecrets: (raw.trust?.signerSecrets ?? []).map((secret) => toSecretRef(secret.name, secret.namespace)),
    rootKeyIds,
  };
  const iccrva = raw.vulnerability?.ICCRVA;
  return {
    mutateImage: raw.mutateImage ?? true,
    trust,
    ...(raw.sigstore === undefined ? {} : { sigstore: toSigstorePolicy(raw.sigstore) }),
    ...(raw.verification === undefined ? {} : { verification: { mode: raw.verification.mode ?? 'all' } }),
    ...(raw.simple === undefined ? {} : { simple: toSimplePolicy(raw.simple) }),
    ...(iccrva === undefined
      ? {}
      : {
          vulnerability: {
            iccrva: { enabled: iccrva.enabled ?? false, ...(iccrva.account === undefined ? {} : { account: iccrva.account }) },
          },
        }),
  };
}

// Only called once reportSigstoreProblems found nothing: every authority is one key or one
// keyless set. `tlog: none` (the earlier spelling) is `off`.
function toSigstorePolicy(raw: RawSigstore): SigstorePolicy {
  const keySecrets = raw.authorities.flatMap((authority) => (authority.key === undefined ? [] : [toSecretRef(authority.key.secretName, authority.key.secretNamespace)]));
  const keyless = raw.authorities.flatMap((authority) =>
    authority.keyless === undefined
      ? []
      : [
          {
            identities: authority.keyless.identities.map((identity) => ({ ...identity })),
            ...(authority.keyless.trustRootSecretName === undefined ? {} : { trustRootSecretName: authority.keyless.trustRootSecretName }),
            ...(authority.keyless.trustRootSecretNamespace === undefined ? {} : { trustRootSecretNamespace: authority.keyless.trustRootSecretNamespace }),
          },
        ],
  );
  const tlog = raw.tlog === undefined ? 'auto' : raw.tlog === 'none' ? 'off' : raw.tlog;
  return { keySecrets, keyless, threshold: raw.threshold ?? 1, tlog };
}

function toSecretRef(name: string, namespace: string | undefined): SecretRef {
  return namespace === undefined ? { name } : { name, namespace };
}

function toSimplePolicy(raw: NonNullable<RawPolicy['simple']>): SimplePolicy {
  return {
    ...(raw.storeURL === undefined ? {} : { storeURL: raw.storeURL }),
    ...(raw.storeSecret === undefined ? {} : { storeSecret: raw.storeSecret }),
    ...(raw.storeSecretNamespace === undefined ? {} : { storeSecretNamespace: raw.storeSecretNamespace }),
    requirements: (raw.requirements ?? []).map(toSimpleRequirement),
  };
}

function toSimpleRequirement(raw: RawRequirement): SimpleRequirement {
  const identity = raw.signedIdentity;
  const signedIdentity: SignedIdentity = {
    type: identity?.type === undefined || identity.type === '' ? 'matchRepoDigestOrExact' : identity.type,
    ...(identity?.dockerReference === undefined ? {} : { dockerReference: identity.dockerReference }),
    ...(identity?.dockerRepository === undefined ? {} : { dockerRepository: identity.dockerRepository }),
    ...(identity?.prefix === undefined ? {} : { prefix: identity.prefix }),
    ...(identity?.signedPrefix === undefined ? {} : { signedPrefix: identity.signedPrefix }),
  };
  return {
    type: raw.type,
    ...(raw.keySecret === undefined ? {} : { keySecret: raw.keySecret }),
    ...(raw.keySecretNamespace === undefined ? {} : { keySecretNamespace: raw.keySecretNamespace }),
    signedIdentity,
  };
}
