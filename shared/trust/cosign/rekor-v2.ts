// What sigstore-js 3 (the Node 20 line) leaves out for Rekor v2 log entries, checked before
// its verifier runs. sigstore-js 3 already verifies a v2 entry's checkpoint (a signed note,
// Ed25519 or ECDSA log keys) and Merkle inclusion proof, the RFC 3161 timestamps against the
// trusted root's timestamp authorities, the certificate at those times, and the signature
// and digest of hashedrekord/dsse 0.0.2 bodies. Missing, and done here:
// - a DSSE envelope logged as hashedrekord 0.0.2 (Rekor v2's "hashedrekord over DSSE"): the
//   body records SHA-256 of the envelope's pre-authentication encoding (PAE), the bytes the
//   signature covers, where sigstore-js 3 compares the payload's digest and refuses. The
//   entity handed to sigstore-js compares the PAE digest instead (as sigstore-js 4 does);
// - the body's verifier (the certificate or key the log recorded) is the bundle's own;
// - the log an entry names is in the trusted root, and every RFC 3161 time given for the
//   entry (a v2 entry has no integrated time) lies within that log key's validity period;
//   sigstore-js 3 checks no validity period for checkpoint keys (the same for a v1 entry
//   proven by its inclusion proof alone, without a SET);
// - checkpoints are only verified by the logs the bundle's entries name;
// - every checkpoint's signature names are literal: sigstore-js 3 uses each name as a
//   regular expression (`baseURL.match(name)`), so a hostile bundle could stall the verifier
//   with a backtracking pattern; its log size and the proof's numbers are decimal.
// Everything here is a reason (COSIGN_TLOG_INVALID), never a crash.
import type { Bundle, TransparencyLogEntry } from '@sigstore/bundle';
import { crypto as sigstoreCrypto, dsse } from '@sigstore/core';
import { Entry } from '@sigstore/protobuf-specs/rekor/v2';
import type { SignedEntity, TrustMaterial } from '@sigstore/verify';
import { ErrorCode, TrustgateError } from '../../errors.js';

const V2_VERSION = '0.0.2';
const V2_KINDS: ReadonlySet<string> = new Set(['hashedrekord', 'dsse']);
// A checkpoint signature line as sigstore-js 3 finds them: "— <name> <base64>\n".
const SIGNATURE_LINE_RE = /\u2014 (\S+) (\S+)\n/g;
// What turns a pattern into more than a literal with wildcards: groups, quantifiers, classes,
// alternation, anchors, escapes.
const REGEX_SYNTAX_RE = /[\\^$*+?()[\]{}|]/;
const DECIMAL_RE = /^\d{1,20}$/;
const MAX_CHECKPOINT_CHARS = 16 * 1024;

export interface RekorV2Prepared {
  readonly entity: SignedEntity;
  readonly trust: TrustMaterial;
}

function refuse(why: string): TrustgateError {
  return new TrustgateError(ErrorCode.COSIGN_TLOG_INVALID, why);
}

// Whether an entry is a Rekor v2 one (the only logs writing these kinds at 0.0.2).
export function isRekorV2Entry(entry: TransparencyLogEntry): boolean {
  return entry.kindVersion !== undefined && entry.kindVersion.version === V2_VERSION && V2_KINDS.has(entry.kindVersion.kind);
}

// Checks the bundle's log entries for what sigstore-js 3 misses and returns the entity and
// trust material to hand it. A bundle whose entries all carry a SET is returned as it came
// (after the checkpoint guard), so that Rekor v1 verification is sigstore-js's alone.
export function prepareRekorV2(bundle: Bundle, entity: SignedEntity, trust: TrustMaterial): RekorV2Prepared {
  for (const entry of entity.tlogEntries) guardInclusionProof(entry);
  const v2 = entity.tlogEntries.filter(isRekorV2Entry);
  // Security: an entry proven by its inclusion proof alone (every v2 entry, and a v1 entry
  // without a SET) is judged by its checkpoint, whose key sigstore-js 3 takes from any log of
  // the root by key hint, whatever the entry names and whenever that key was valid: such an
  // entry must name a log of the root, valid at every timestamped time, and only the logs
  // the entries name may sign checkpoints. (A SET is checked by sigstore-js against the log
  // the entry names, at its integrated time.)
  const proofOnly = entity.tlogEntries.filter((entry) => isRekorV2Entry(entry) || entry.inclusionPromise === undefined);
  if (proofOnly.length === 0) return { entity, trust };
  const times = entity.timestamps.flatMap((timestamp) => (timestamp.$case === 'timestamp-authority' ? [timestamp.timestamp.signingTime] : []));
  for (const entry of proofOnly) {
    const which = isRekorV2Entry(entry) ? 'Rekor v2 entry' : 'log entry without an inclusion promise';
    const log = trust.tlogs.find((candidate) => sigstoreCrypto.bufferEqual(candidate.logID, entry.logId.keyId));
    if (log === undefined) throw refuse(`${which} from log ${entry.logId.keyId.toString('base64')}, which the trusted root does not name`);
    if (entry.inclusionProof === undefined) throw refuse(`${which} has no inclusion proof`);
    checkProofAgainstCheckpoint(entry.inclusionProof);
    // Security: such an entry carries no time of its own; without a TSA's time the log key's
    // validity (a retired or compromised key) and the certificate's could not be judged.
    if (times.length === 0) throw refuse(`${which} without an RFC 3161 timestamp (its log gives no verifiable integrated time)`);
    for (const time of times) {
      if (time < log.validFor.start || time > log.validFor.end) {
        throw refuse(`log ${log.baseURL} was not valid at the timestamped time ${time.toISOString()}`);
      }
    }
  }
  if (v2.length > 0) {
    const signerDer = signerOf(bundle, entity, trust);
    for (const entry of v2) checkBody(entry, bundle, signerDer);
  }
  // Security: a checkpoint counts only when signed by a log one of the entries names.
  const named = entity.tlogEntries.map((entry) => entry.logId.keyId);
  const tlogs = trust.tlogs.filter((log) => named.some((id) => sigstoreCrypto.bufferEqual(id, log.logID)));
  return { entity: v2.length > 0 ? withSignedDigest(bundle, entity) : entity, trust: { ...trust, tlogs } };
}

// Bounds and literal names for an inclusion proof's checkpoint, before sigstore-js parses it.
function guardInclusionProof(entry: TransparencyLogEntry): void {
  const proof = entry.inclusionProof;
  if (proof === undefined) return;
  if (!DECIMAL_RE.test(proof.logIndex) || !DECIMAL_RE.test(proof.treeSize)) throw refuse('inclusion proof index or tree size is not a decimal number');
  const envelope = proof.checkpoint?.envelope ?? '';
  if (envelope.length > MAX_CHECKPOINT_CHARS) throw refuse(`checkpoint is longer than ${MAX_CHECKPOINT_CHARS} characters`);
  const header = checkpointHeader(envelope);
  if (header[1] !== undefined && !DECIMAL_RE.test(header[1])) throw refuse('checkpoint log size is not a decimal number');
  for (const [, name] of envelope.matchAll(SIGNATURE_LINE_RE)) {
    if (name === undefined || REGEX_SYNTAX_RE.test(name)) throw refuse('checkpoint signature name is not a log name');
  }
}

// The proof's tree size and root hash are the checkpoint's (sigstore-js takes both from the
// checkpoint alone; a proof saying otherwise is not one proof).
function checkProofAgainstCheckpoint(proof: NonNullable<TransparencyLogEntry['inclusionProof']>): void {
  const [, size, root] = checkpointHeader(proof.checkpoint?.envelope ?? '');
  if (size !== proof.treeSize || root === undefined || !sigstoreCrypto.bufferEqual(Buffer.from(root, 'base64'), proof.rootHash)) {
    throw refuse('inclusion proof\'s tree size or root hash is not the checkpoint\'s');
  }
}

// The checkpoint note's lines (origin, size, root hash, extensions), as sigstore-js splits them.
function checkpointHeader(envelope: string): readonly string[] {
  const separator = envelope.indexOf('\n\n');
  return separator < 0 ? [] : envelope.slice(0, separator + 1).trimEnd().split('\n');
}

// The DER the log must have recorded as the verifier: the leaf certificate, or the key.
function signerOf(bundle: Bundle, entity: SignedEntity, trust: TrustMaterial): Buffer {
  const content = bundle.verificationMaterial.content;
  switch (content.$case) {
    case 'certificate':
      return content.certificate.rawBytes;
    case 'x509CertificateChain': {
      const leaf = content.x509CertificateChain.certificates[0];
      if (leaf === undefined) throw refuse('bundle has an empty certificate chain');
      return leaf.rawBytes;
    }
    case 'publicKey': {
      if (entity.key.$case !== 'public-key') throw refuse('bundle key material is inconsistent');
      return trust.publicKey(entity.key.hint).publicKey.export({ type: 'spki', format: 'der' });
    }
  }
}

// The v0.0.2 body is about this bundle: its kind and version as the entry says, its
// verifier the bundle's certificate or key, and, for a DSSE envelope logged as hashedrekord,
// its signature the envelope's and its digest SHA-256 of the envelope's PAE. (Signature and
// digest of the other pairings are compared by sigstore-js.)
function checkBody(entry: TransparencyLogEntry, bundle: Bundle, signerDer: Buffer): void {
  let body: Entry;
  try {
    const json: unknown = JSON.parse(entry.canonicalizedBody.toString('utf8'));
    body = Entry.fromJSON(json);
  } catch (error) {
    throw new TrustgateError(ErrorCode.COSIGN_TLOG_INVALID, 'Rekor v2 entry body is not a log entry', { cause: error });
  }
  if (body.kind !== entry.kindVersion.kind || body.apiVersion !== entry.kindVersion.version) {
    throw refuse(`Rekor v2 entry body is ${body.kind}/${body.apiVersion}, not ${entry.kindVersion.kind}/${entry.kindVersion.version}`);
  }
  const spec = body.spec?.spec;
  let signatures;
  if (spec?.$case === 'hashedRekordV002' && body.kind === 'hashedrekord') signatures = spec.hashedRekordV002.signature === undefined ? [] : [spec.hashedRekordV002.signature];
  else if (spec?.$case === 'dsseV002' && body.kind === 'dsse') signatures = spec.dsseV002.signatures;
  else throw refuse(`Rekor v2 entry body has no ${body.kind} 0.0.2 spec`);
  if (signatures.length !== 1) throw refuse(`Rekor v2 entry body records ${signatures.length} signatures, not one`);
  const verifier = signatures[0]?.verifier?.verifier;
  const recorded = verifier?.$case === 'x509Certificate' ? verifier.x509Certificate.rawBytes : verifier?.$case === 'publicKey' ? verifier.publicKey.rawBytes : undefined;
  if (recorded === undefined || !sigstoreCrypto.bufferEqual(recorded, signerDer)) throw refuse('Rekor v2 entry body names another certificate or key than the bundle');
  if (spec.$case === 'hashedRekordV002' && bundle.content.$case === 'dsseEnvelope') {
    const envelope = bundle.content.dsseEnvelope;
    const digest = spec.hashedRekordV002.data?.digest ?? Buffer.alloc(0);
    if (!sigstoreCrypto.bufferEqual(digest, paeDigest(bundle))) throw refuse('Rekor v2 entry body digest is not the DSSE envelope\'s');
    const signature = envelope.signatures.length === 1 ? envelope.signatures[0]?.sig : undefined;
    if (signature === undefined || !sigstoreCrypto.bufferEqual(signatures[0]?.content ?? Buffer.alloc(0), signature)) {
      throw refuse('Rekor v2 entry body signature is not the DSSE envelope\'s');
    }
  }
}

function paeDigest(bundle: Bundle): Buffer {
  if (bundle.content.$case !== 'dsseEnvelope') return Buffer.alloc(0);
  const { payloadType, payload } = bundle.content.dsseEnvelope;
  return sigstoreCrypto.digest('sha256', dsse.preAuthEncoding(payloadType, payload));
}

// For a DSSE envelope whose every entry is a hashedrekord, the digest sigstore-js compares
// with the body is that of the signed bytes (the PAE), as in sigstore-js 4. Other
// pairings keep sigstore-js 3's comparison of the payload's digest.
function withSignedDigest(bundle: Bundle, entity: SignedEntity): SignedEntity {
  if (bundle.content.$case !== 'dsseEnvelope' || !entity.tlogEntries.every((entry) => entry.kindVersion.kind === 'hashedrekord')) return entity;
  const content = entity.signature;
  const signed = paeDigest(bundle);
  return {
    ...entity,
    signature: {
      signature: content.signature,
      compareSignature: (signature) => content.compareSignature(signature),
      compareDigest: (digest) => sigstoreCrypto.bufferEqual(digest, signed),
      verifySignature: (key) => content.verifySignature(key),
    },
  };
}
