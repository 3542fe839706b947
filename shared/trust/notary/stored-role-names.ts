// Role names read from stored (authenticated, but not yet re-verified) metadata without
// decoding it fully: which delegation rows the store should read back, and which stored
// delegations are still delegated by their parent. A wrong answer only means keeping or
// reading a few rows more or fewer; every document is verified before any use.
import { ErrorCode } from '../../errors.js';
import { isPlainObject, parseJsonBytes } from '../../json.js';
import type { RoleName } from './model.js';

// At most this many names per document: the store reads one row per name.
const MAX_NAMES = 256;

// Delegation names a stored snapshot lists (its meta keys under `targets/`).
export function delegationsListedIn(snapshot: Uint8Array): RoleName[] {
  const meta = signedField(snapshot, 'meta');
  return isPlainObject(meta) ? Object.keys(meta).filter((name) => name.startsWith('targets/')).slice(0, MAX_NAMES) : [];
}

// Names of the roles a stored targets document (top-level or delegation) delegates to.
export function delegatedRoleNames(targets: Uint8Array): RoleName[] {
  const delegations = signedField(targets, 'delegations');
  const roles = isPlainObject(delegations) ? delegations['roles'] : undefined;
  if (!Array.isArray(roles)) return [];
  const names: RoleName[] = [];
  for (const role of roles.slice(0, MAX_NAMES)) {
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
