// The keyring a `signedBy` requirement names (a Secret's `key`: OpenPGP public keys, armored
// as `gpg --export --armor` writes them, or binary), read with the `openpgp` package. The
// package is loaded on first use, so a process that never verifies a simple signature never
// pays its start-up cost.
// A keyring that does not parse, holds no key or holds a private key is the operator's
// mistake, not the image's: POLICY_INVALID naming the Secret field, never an allow.
import { createHash } from 'node:crypto';
import { createBoundedMemo } from '../../cache/bounded-memo.js';
import { ErrorCode, TrustgateError } from '../../errors.js';

export type OpenPgp = typeof import('openpgp');
export type PublicKey = import('openpgp').PublicKey;

export interface Keyring {
  // Where it came from ('secret "release-key" (namespace "team-a") key "key"').
  readonly source: string;
  readonly keys: readonly PublicKey[];
}

// Largest keyring read: far above a ring of a few RSA-4096 keys with their signatures.
export const MAX_KEYRING_BYTES = 1024 * 1024;
// Most keys in one ring: every key is tried against every signature.
export const MAX_KEYRING_KEYS = 32;

let openpgp: Promise<OpenPgp> | undefined;

// The openpgp module, imported once, on first use.
export function loadOpenPgp(): Promise<OpenPgp> {
  openpgp ??= import('openpgp');
  return openpgp;
}

// Keyrings by content: policies name the same few keys on every admission, and parsing a
// ring is far slower than hashing it.
const KEYRINGS = createBoundedMemo<string, Promise<Keyring>>(128);

export function readKeyring(source: string, bytes: Uint8Array): Promise<Keyring> {
  const id = `${source}\n${createHash('sha256').update(bytes).digest('hex')}`;
  const known = KEYRINGS.get(id);
  if (known !== undefined) return known;
  const parsing = parseKeyring(source, bytes);
  KEYRINGS.set(id, parsing);
  // A failure is not kept: the same bad ring fails the same way, and costs little.
  parsing.catch(() => KEYRINGS.delete(id));
  return parsing;
}

async function parseKeyring(source: string, bytes: Uint8Array): Promise<Keyring> {
  if (bytes.length > MAX_KEYRING_BYTES) throw invalidKeyring(source, `is ${bytes.length} bytes, more than the ${MAX_KEYRING_BYTES} read`);
  const pgp = await loadOpenPgp();
  const text = Buffer.from(bytes).toString('latin1').trim();
  let keys: readonly import('openpgp').Key[];
  try {
    keys = text.startsWith('-----BEGIN PGP ') ? await pgp.readKeys({ armoredKeys: text }) : await pgp.readKeys({ binaryKeys: bytes });
  } catch (error) {
    throw invalidKeyring(source, 'is not an OpenPGP public keyring', error);
  }
  if (keys.length === 0) throw invalidKeyring(source, 'holds no key');
  if (keys.length > MAX_KEYRING_KEYS) throw invalidKeyring(source, `holds ${keys.length} keys, more than the ${MAX_KEYRING_KEYS} allowed`);
  const publicKeys: PublicKey[] = [];
  for (const key of keys) {
    if (key.isPrivate()) throw invalidKeyring(source, `holds the private key ${key.getFingerprint().toUpperCase()}: expected public keys only (gpg --export)`);
    publicKeys.push(key);
  }
  return { source, keys: publicKeys };
}

function invalidKeyring(source: string, what: string, cause?: unknown): TrustgateError {
  return new TrustgateError(ErrorCode.POLICY_INVALID, `simple signing keyring ${source} ${what}`, cause === undefined ? {} : { cause });
}
