// Role names read from stored (authenticated, but not yet re-verified) metadata without
// decoding it fully: which delegation rows the store should read back, and which stored
// delegations are still delegated by their parent. Stored documents were verified before
// they were saved and the store authenticates them, so the names are what a verified parent
// delegated; the documents are verified again before any other use.
import { ErrorCode } from '../../errors.js';
import { isPlainObject, parseJsonBytes } from '../../json.js';
import type { RoleName } from './model.js';

// Names of the roles a stored targets document (top-level or delegation) delegates to, all
// of them: the store bounds how many rows it reads (trusted-state-store.ts) and says when it
// stopped short, which a silent cut here could not.
export function delegatedRoleNames(targets: Uint8Array): RoleName[] {
  const delegations = signedField(targets, 'delegations');
  const roles = isPlainObject(delegations) ? delegations['roles'] : undefined;
  if (!Array.isArray(roles)) return [];
  const names: RoleName[] = [];
  for (const role of roles) {
    const name = isPlainObject(role) ? role['name'] : undefined;
    if (typeof name === 'string' && name.startsWith('targets/')) names.push(name);
  }
  return names;
}

function signedField(bytes: Uint8Array, field: string): unknown {
  try {
    const json = parseJsonBytes(bytes, ErrorCode.STATE_STORE_FAILED, 'stored metadata');
    const signed = isPlainObject(json) ? json['signed'] : undefined;
    return isPlainObject(signed) ? signed[field] : undefined;
  } catch {
    return undefined;
  }
}
