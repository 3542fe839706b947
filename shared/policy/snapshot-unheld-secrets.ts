// The Secrets serve left out over its bounds (PolicySet.unheldSecrets), as a policy snapshot
// carries them, so that the deployed functions deny an image needing one with
// POLICY_SECRET_OVER_LIMIT, as serve does, and not with POLICY_SECRET_MISSING (which would
// tell the operator that a Secret that exists does not).
//
// In the payload (policy-snapshot.ts) they are two optional fields next to the List's items:
//   unheldSecrets             [{"namespace": NS, "name": NAME}, ...]; no namespace: every
//                             namespace (a ClusterImagePolicy's name that could not be watched)
//   unheldSecretsIncomplete   true when serve left out more than MAX_UNHELD_SECRETS: the list
//                             holds the first ones (in scope-key order)
// Both are absent when nothing is left out, so such a set encodes to the same bytes as before
// the fields existed. They were added within format v1: a payload without them (an older
// writer, `policy apply`) decodes to nothing left out, and a reader that predates them
// ignores them (it still denies, with POLICY_SECRET_MISSING).
//
// Security: the list only ever changes the code of a denial. A Secret the snapshot holds is
// found before the list is looked at, so no entry can hide it, and a Secret that is not held
// denies either way. It is decoded strictly all the same (it is store content, hostile until
// decoded): at most MAX_UNHELD_SECRETS entries (also what a reader spends on it), each an
// object of exactly `name` and an optional `namespace` that can be Secret and namespace names.
import { ErrorCode, TrustgateError } from '../errors.js';
import { isPlainObject } from '../json.js';
import type { PolicySet, SecretScope } from './model.js';
import { isWatchableScope, scopeKey } from './secret-budget.js';

// Far more than serve leaves out under its default bounds unless policies name Secrets in
// thousands of namespaces; at most about 1.4 MB of the payload (a name of 253 and a
// namespace of 63 characters each).
export const MAX_UNHELD_SECRETS = 4096;

export type UnheldSecrets = Pick<PolicySet, 'unheldSecrets' | 'unheldSecretsIncomplete'>;

// The payload fields for `set`'s Secrets left out: each scope once (a name left out in every
// namespace covers the same name in one), names that can never be Secrets dropped (no Secret
// of that name exists to be left out), in scope-key order so that equal sets encode to equal
// bytes, and cut at MAX_UNHELD_SECRETS.
export function encodeUnheldSecrets(set: PolicySet): Record<string, unknown> {
  const scopes = (set.unheldSecrets ?? []).filter(isWatchableScope);
  const everywhere = new Set(scopes.filter((scope) => scope.namespace === undefined).map((scope) => scope.name));
  const unique = new Map<string, SecretScope>();
  for (const scope of scopes) {
    if (scope.namespace !== undefined && everywhere.has(scope.name)) continue;
    unique.set(scopeKey(scope), scope.namespace === undefined ? { name: scope.name } : { namespace: scope.namespace, name: scope.name });
  }
  const ordered = [...unique].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, scope]) => scope);
  if (ordered.length === 0) return set.unheldSecretsIncomplete === true ? { unheldSecrets: [], unheldSecretsIncomplete: true } : {};
  const incomplete = ordered.length > MAX_UNHELD_SECRETS || set.unheldSecretsIncomplete === true;
  return { unheldSecrets: ordered.slice(0, MAX_UNHELD_SECRETS), ...(incomplete ? { unheldSecretsIncomplete: true } : {}) };
}

// The Secrets left out that a decoded payload carries; nothing when it has neither field.
// Anything else than what encodeUnheldSecrets writes is refused with POLICY_SNAPSHOT_INVALID.
export function decodeUnheldSecrets(payload: Readonly<Record<string, unknown>>): UnheldSecrets {
  const list = payload['unheldSecrets'];
  const incomplete = payload['unheldSecretsIncomplete'];
  if (incomplete !== undefined && incomplete !== true) throw refused('unheldSecretsIncomplete must be true when present');
  if (list === undefined) {
    if (incomplete !== undefined) throw refused('unheldSecretsIncomplete without unheldSecrets');
    return {};
  }
  if (!Array.isArray(list)) throw refused('unheldSecrets must be an array');
  // Checked before a single entry is looked at: the count is what a reader spends.
  if (list.length > MAX_UNHELD_SECRETS) throw refused(`unheldSecrets lists ${list.length} Secrets, expected at most ${MAX_UNHELD_SECRETS}`);
  const scopes = list.map((entry: unknown, index): SecretScope => {
    if (!isPlainObject(entry)) throw refused(`unheldSecrets[${index}] must be an object`);
    const { namespace, name } = entry;
    const extra = Object.keys(entry).find((key) => key !== 'namespace' && key !== 'name');
    if (extra !== undefined) throw refused(`unheldSecrets[${index}] has the unknown field ${JSON.stringify(extra.slice(0, 60))}`);
    if (typeof name !== 'string' || (namespace !== undefined && typeof namespace !== 'string')) throw refused(`unheldSecrets[${index}] must have a string name and, when given, a string namespace`);
    const scope: SecretScope = namespace === undefined ? { name } : { namespace, name };
    if (!isWatchableScope(scope)) throw refused(`unheldSecrets[${index}] is not a Secret name (DNS subdomain) and namespace (DNS label)`);
    return scope;
  });
  return { ...(scopes.length === 0 ? {} : { unheldSecrets: scopes }), ...(incomplete === true ? { unheldSecretsIncomplete: true } : {}) };
}

function refused(why: string): TrustgateError {
  return new TrustgateError(ErrorCode.POLICY_SNAPSHOT_INVALID, `policy snapshot refused: ${why}`);
}
