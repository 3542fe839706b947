// Decodes what sign-callback receives, once, at the edge, reporting every bad field:
//   - a registry notification envelope (application/vnd.docker.distribution.events.v1+json):
//     {"events": [{id, action, target: {mediaType, digest, repository, tag?}, ...}]}
//   - Notary changefeed records, as notary-server's changefeed API returns them:
//     {"changefeed": {"records": [{"ID", "GUN", "Version", "SHA256", "Category", ...}]}}
//   - a poll request from the scheduler: {"poll": true}
// A manifest push at a cosign signature tag (`sha256-<hex>.sig`) or at the referrers tag
// (`sha256-<hex>`, the index listing v3 bundles where a registry has no referrers API) is
// decoded as the signing of the image `<repository>@sha256:<hex>`: only the repository and the tag are read from
// it, as a trigger; what is signed is then learned from the registry, never from the event.
// A registry's `request.host` is client-supplied and ignored: the GUN's host comes from
// configuration.
import { ErrorCode, TrustgateError, type FieldProblem } from '../errors.js';
import { isPlainObject } from '../json.js';

export interface ManifestPush {
  readonly kind: 'manifest-push';
  readonly id: string;
  readonly repository: string;
  readonly digest: string;
  readonly tag?: string;
}

// A push of the cosign signature manifest of an image in the repository: the image at
// `signedDigest` may be signed now (or signed differently).
export interface SignaturePush {
  readonly kind: 'signature-push';
  readonly id: string;
  readonly repository: string;
  readonly signedDigest: string;
}

// Pulls, blob events, mounts and deletes: acknowledged, nothing to check.
export interface IgnoredEvent {
  readonly kind: 'ignored';
  readonly id: string;
  readonly action: string;
}

export type RegistryEvent = ManifestPush | SignaturePush | IgnoredEvent;

export interface ChangeRecord {
  // notary-server's change ID: a decimal string, increasing.
  readonly id: string;
  readonly gun: string;
  readonly version: number;
  readonly category: string;
}

export type CallbackRequest =
  | { readonly kind: 'events'; readonly events: readonly RegistryEvent[] }
  | { readonly kind: 'changefeed'; readonly records: readonly ChangeRecord[] }
  | { readonly kind: 'poll' };

export const MANIFEST_MEDIA_TYPES: ReadonlySet<string> = new Set([
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v1+prettyjws',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
]);

const DIGEST = /^sha256:[0-9a-f]{64}$/;
// docker/distribution's repository path and tag grammars.
const REPOSITORY = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
// The tags cosign stores an image's signatures under: classic `.sig`, and the referrers tag.
const SIGNATURE_TAG = /^sha256-([0-9a-f]{64})(?:\.sig)?$/;
const MAX_ITEMS = 1_000;

export function decodeCallbackRequest(input: unknown): CallbackRequest {
  const problems: FieldProblem[] = [];
  const fail = (path: string, message: string): void => void problems.push({ path, message });
  if (!isPlainObject(input)) throw invalid([{ path: '', message: 'must be a JSON object' }]);
  const keys = Object.keys(input);
  if (keys.length !== 1 || !['events', 'changefeed', 'poll'].includes(keys[0] ?? '')) {
    throw invalid([{ path: '', message: 'must hold exactly one of "events", "changefeed" or "poll"' }]);
  }
  let request: CallbackRequest;
  if ('poll' in input) {
    if (input['poll'] !== true) fail('poll', 'must be true');
    request = { kind: 'poll' };
  } else if ('events' in input) {
    request = { kind: 'events', events: decodeEvents(input['events'], fail) };
  } else {
    const feed = input['changefeed'];
    const records = isPlainObject(feed) ? feed['records'] : undefined;
    if (!isPlainObject(feed)) fail('changefeed', 'must be an object with "records"');
    request = { kind: 'changefeed', records: decodeChangeRecords(records, 'changefeed.records', fail) };
  }
  if (problems.length > 0) throw invalid(problems);
  return request;
}

function decodeEvents(raw: unknown, fail: (path: string, message: string) => void): RegistryEvent[] {
  if (!Array.isArray(raw) || raw.length > MAX_ITEMS) {
    fail('events', `must be an array of at most ${MAX_ITEMS} events`);
    return [];
  }
  const events: RegistryEvent[] = [];
  raw.forEach((event: unknown, index) => {
    const path = `events[${index}]`;
    if (!isPlainObject(event)) return fail(path, 'must be an object');
    const { id, action, target } = event;
    if (typeof id !== 'string' || id.length === 0 || id.length > 256) fail(`${path}.id`, 'must be a non-empty string');
    if (typeof action !== 'string') fail(`${path}.action`, 'must be a string');
    if (!isPlainObject(target)) return fail(`${path}.target`, 'must be an object');
    if (typeof id !== 'string' || typeof action !== 'string') return;
    const mediaType = target['mediaType'];
    if (action !== 'push' || typeof mediaType !== 'string' || !MANIFEST_MEDIA_TYPES.has(mediaType)) {
      events.push({ kind: 'ignored', id, action });
      return;
    }
    const { repository, digest, tag } = target;
    if (typeof repository !== 'string' || !REPOSITORY.test(repository)) fail(`${path}.target.repository`, 'must be a repository path');
    if (typeof digest !== 'string' || !DIGEST.test(digest)) fail(`${path}.target.digest`, 'must be sha256:<64 lower-case hex>');
    if (tag !== undefined && tag !== '' && (typeof tag !== 'string' || !TAG.test(tag))) fail(`${path}.target.tag`, 'must be a tag');
    const signed = typeof tag === 'string' ? SIGNATURE_TAG.exec(tag)?.[1] : undefined;
    if (typeof repository === 'string' && typeof digest === 'string' && signed !== undefined) {
      events.push({ kind: 'signature-push', id, repository, signedDigest: `sha256:${signed}` });
    } else if (typeof repository === 'string' && typeof digest === 'string') {
      events.push({ kind: 'manifest-push', id, repository, digest, ...(typeof tag === 'string' && tag !== '' ? { tag } : {}) });
    }
  });
  return events;
}

// notary-server answers a page with no changes as `{"count":0,"records":null}` (Go's nil
// slice), so `null` is an empty page, not a malformed one.
export function decodeChangeRecords(raw: unknown, at: string, fail: (path: string, message: string) => void): ChangeRecord[] {
  if (raw === null) return [];
  if (!Array.isArray(raw) || raw.length > MAX_ITEMS) {
    fail(at, `must be an array of at most ${MAX_ITEMS} records`);
    return [];
  }
  const records: ChangeRecord[] = [];
  raw.forEach((record: unknown, index) => {
    const path = `${at}[${index}]`;
    if (!isPlainObject(record)) return fail(path, 'must be an object');
    const { ID: id, GUN: gun, Version: version, Category: category } = record;
    if (typeof id !== 'string' || !/^\d{1,18}$/.test(id)) fail(`${path}.ID`, 'must be a decimal change ID');
    if (typeof gun !== 'string' || gun.length === 0 || gun.length > 1024) fail(`${path}.GUN`, 'must be a non-empty string');
    if (typeof version !== 'number' || !Number.isSafeInteger(version)) fail(`${path}.Version`, 'must be an integer');
    if (typeof category !== 'string') fail(`${path}.Category`, 'must be a string');
    if (typeof id === 'string' && typeof gun === 'string' && typeof version === 'number' && typeof category === 'string') {
      records.push({ id, gun, version, category });
    }
  });
  return records;
}

function invalid(problems: readonly FieldProblem[]): TrustgateError {
  const summary = problems.map((p) => (p.path === '' ? p.message : `${p.path}: ${p.message}`)).join('; ');
  return new TrustgateError(ErrorCode.REQUEST_INVALID, `invalid sign-callback request: ${summary}`, { problems });
}
