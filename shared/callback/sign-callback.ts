// The sign-callback use case: keep a record of whether each pushed image is signed.
// - A manifest push (registry notification) refreshes that repository's trust data,
//   bypassing the freshness window, and records whether the pushed digest is what the
//   policies require to be signed: {status: 'signed'|'unsigned', digest, tag, checkedAt}.
// - A push at a cosign signature tag (`sha256-<hex>.sig`) is not an image push: it is the
//   signing of `<repository>@sha256:<hex>`. That image is verified again under the policies
//   and the outcome recorded for its digest (and for each tag recorded at that digest).
//   Security: the event is only a trigger. Its digest (the signature manifest's), size and
//   URL are never used; the registry host comes from configuration; whether the image is
//   signed is learned from the registry and trust server by the verifiers, as on admission.
// - A manifest pushed by digest whose `subject` is an image (a cosign v3 bundle, pushed as an
//   OCI referrer) is a signature push for that image too. The subject is read from the
//   registry (the pushed manifest, checked against its digest), never from the event.
// - Notary signing produces no registry event, so Notary changefeed records (pushed here or
//   read by the poller) re-check every ref recorded for the repositories that changed.
// - Registries redeliver failed notifications with the same event id: each id is processed
//   once (a put-if-absent marker with a TTL; removed again when processing fails, so the
//   redelivery is not lost).
import { isAuthenticationFailure } from '../cache/authenticated-store.js';
import { isDamagedEntry } from '../cache/damaged-entry.js';
import { ErrorCode, toTrustgateError, TrustgateError } from '../errors.js';
import { isPlainObject, parseJsonBytes } from '../json.js';
import type { Clock, KvStore, Logger, Metrics } from '../ports.js';
import { verifyImage, type VerifyImageDeps } from '../verify/verify-image.js';
import type { CallbackRequest, ChangeRecord, ManifestPush, SignaturePush } from './callback-request.js';
import type { ChangefeedPage } from './changefeed-poller.js';

export interface SignCallbackDeps {
  // Must verify against the trust server (freshness 0): a push or sign event means the
  // cached trust data is known to be out of date.
  readonly verify: VerifyImageDeps;
  readonly store: KvStore;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: Metrics;
  // host[:port] GUNs are formed with (TRUSTGATE_REGISTRY_HOST).
  readonly registryHost: string;
  // The namespace whose policies decide what "signed" means (TRUSTGATE_CALLBACK_NAMESPACE).
  readonly namespace: string;
  // Reads new changefeed records for a poll request; absent when no trust server is configured.
  readonly poll?: () => Promise<ChangefeedPage>;
  // The subject digest of the manifest `digest` in `repository` (on registryHost) when it is a
  // referrer, else undefined; absent: pushes by digest are treated as image pushes.
  readonly referrerSubject?: (repository: string, digest: string) => Promise<string | undefined>;
  // Resolves after `ms` (a timer), or early once `signal` is aborted; absent: a signature push
  // found unsigned is not checked again.
  readonly pause?: (ms: number, signal?: AbortSignal) => Promise<void>;
  // Aborted when the process stops (`trustgate serve`): events and re-checks still to come are
  // dropped and pauses end, so a stop is not held up by them and nothing reads or writes the
  // store after it is closed. A request cut short fails with SERVICE_STOPPING (503) so its
  // sender delivers it again: its unprocessed events are not claimed (claims of signature
  // pushes whose re-checks were dropped are given back), and a changefeed page's cursor is
  // not moved past it. Absent: never stops.
  readonly stop?: AbortSignal;
}

// A registry announces a manifest push before it links the pushed tag (distribution stores
// the manifest, queues the event, then tags it), so the `.sig` tag of a signature push may not
// resolve yet when its event arrives. The signature pushes of a request found unsigned are
// checked again, together, after each of these pauses before that outcome stands. Bounded per
// request, whatever it holds (a token holder may send 1000 events): one second of pauses, and
// at most MAX_LATE_SIGNATURES distinct signed images checked again, twice each.
export const SIGNATURE_RECHECK_PAUSES_MS: readonly number[] = [250, 750];
export const MAX_LATE_SIGNATURES = 16;
// Refs recorded per repository (for changefeed re-checks).
export const MAX_RECORDED_REFS = 256;
// Re-checks (verifications of recorded refs: the tags at a signed digest, a changed
// repository's refs) one request may run, shared by all it asks for. Without it one request
// of 1000 signature pushes could ask for 1000 x 255 verifications, and one changefeed page
// for 1000 repositories x 256. Twice MAX_RECORDED_REFS: one repository's re-checks always fit
// in one request, so every request makes progress (the first event not yet processed, the
// first repository of a page), and no request runs more than 512 (plus one verification per
// event, and the bounded re-checks of late signature pushes). What is left over is not lost:
// those events answer 503 RECHECK_BUDGET_SPENT unclaimed, so the registry delivers them again;
// a poll moves its cursor only past the records whose re-checks all ran.
export const MAX_RECHECKS_PER_REQUEST = 2 * MAX_RECORDED_REFS;
// Compare-and-set attempts to record a ref among concurrent changes of its repository's list.
const REMEMBER_ATTEMPTS = 8;

export interface SignStatus {
  readonly status: 'signed' | 'unsigned';
  readonly digest: string;
  readonly tag: string | null;
  readonly checkedAt: string;
}

export type EventOutcome = 'signed' | 'unsigned' | 'ignored' | 'duplicate' | 'refreshed';

export interface SignCallbackResult {
  readonly outcomes: ReadonlyArray<{ readonly id: string; readonly outcome: EventOutcome }>;
}

const EVENT_MARK_TTL_MS = 24 * 60 * 60 * 1000;
const STATUS_TTL_MS = 90 * 24 * 60 * 60 * 1000;
// A repository's recorded refs must outlive every status they list: a status left without its
// list is never re-checked, so a revoked signature would stay recorded signed. Statuses live
// STATUS_TTL_MS from their last check; the list lives twice that, and is written again (its
// expiry renewed) whenever a ref is recorded, present or not, or the changefeed re-checks it,
// once less than STATUS_TTL_MS of it is left. So at any check it has at least STATUS_TTL_MS
// left, longer than the status that check wrote, and it costs one write per repository per
// STATUS_TTL_MS, not one per event.
const REFS_TTL_MS = 2 * STATUS_TTL_MS;

export function signStatusKey(gun: string, ref: string): string {
  return `callback:${JSON.stringify(['status', gun, ref])}`;
}

function refsKey(gun: string): string {
  return `callback:${JSON.stringify(['refs', gun])}`;
}

function eventKey(id: string): string {
  return `callback:${JSON.stringify(['event', id])}`;
}

// The recorded status of one ref (tag, or digest for a push by digest), if any.
export async function readSignStatus(store: KvStore, gun: string, ref: string): Promise<SignStatus | undefined> {
  const item = await store.get(signStatusKey(gun, ref));
  if (item === undefined) return undefined;
  const json = parseJsonBytes(item.value, undefined, 'sign status');
  return isPlainObject(json) ? (json as unknown as SignStatus) : undefined;
}

export async function handleSignCallback(deps: SignCallbackDeps, request: CallbackRequest): Promise<SignCallbackResult> {
  const budget: RecheckBudget = { left: MAX_RECHECKS_PER_REQUEST };
  switch (request.kind) {
    case 'events': {
      const outcomes: Array<{ id: string; outcome: EventOutcome }> = [];
      // Signature pushes found unsigned, by the index of their outcome.
      const late = new Map<number, SignaturePush>();
      // Set when the re-check budget ran out: the events from the one that needed more on are
      // left unclaimed (that one's claim given back by `once`), answered 503 after the late
      // signature pushes found so far are checked again.
      let spent: TrustgateError | undefined;
      try {
        for (const [index, event] of request.events.entries()) {
          // Before each event: a stop is not held up by a request of many events, and the
          // events left are not claimed, so the registry's redelivery processes them.
          if (deps.stop?.aborted === true) throw stoppedShort(deps, 'registry events left unprocessed: stopping', { processed: index, left: request.events.length - index });
          if (event.kind === 'ignored') {
            outcomes.push({ id: event.id, outcome: count(deps, 'ignored') });
            continue;
          }
          const process = event.kind === 'signature-push' ? () => handleSignaturePush(deps, event, budget) : () => handlePush(deps, event, budget);
          const outcome = await once(deps, event.id, process);
          if (event.kind === 'signature-push' && outcome === 'unsigned') late.set(outcomes.length, event);
          outcomes.push({ id: event.id, outcome });
        }
      } catch (error) {
        if (isBudgetSpent(error)) {
          spent = toTrustgateError(error);
          deps.logger.info('registry events left unprocessed: re-check budget spent', { processed: outcomes.length, left: request.events.length - outcomes.length });
        } else {
          // The request fails (a stop, or an event that threw, whose claim `once` gave back):
          // the signature pushes found unsigned so far will not be checked again here, so
          // their `unsigned` is not final and their claims are given back too. Otherwise the
          // redelivery would answer them `duplicate` and a signed image stay recorded unsigned.
          await giveBack(deps, [...late.values()].map((push) => push.id));
          throw error;
        }
      }
      const dropped = await recheckLateSignatures(deps, late, outcomes, budget);
      if (dropped.length > 0) {
        // Their `unsigned` was not final: given back, the redelivery checks them again.
        await giveBack(deps, dropped);
        if (deps.stop?.aborted === true) throw stoppedShort(deps, 'signature push re-checks dropped: stopping', { events: dropped.length });
        deps.logger.info('signature push re-checks dropped: re-check budget spent', { events: dropped.length });
        throw budgetSpent();
      }
      if (spent !== undefined) throw spent;
      return { outcomes };
    }
    case 'changefeed': {
      const { outcomes, cut } = await recheckChanged(deps, request.records, budget);
      if (cut === 'stop') throw stoppedShort(deps, 'changefeed re-checks dropped: stopping', { records: request.records.length });
      // Pushed records have no cursor to keep the rest: the sender sends them all again (one
      // repository per request always fits the budget).
      if (cut === 'budget') {
        deps.logger.info('changefeed re-checks dropped: re-check budget spent', { records: request.records.length });
        throw budgetSpent();
      }
      return { outcomes };
    }
    case 'poll': {
      if (deps.poll === undefined) return { outcomes: [] };
      if (deps.stop?.aborted === true) throw stoppedShort(deps, 'changefeed poll skipped: stopping', {});
      const page = await deps.poll();
      const { outcomes, cut, through } = await recheckChanged(deps, page.records, budget);
      // The cursor stays before a page cut short by a stop: the next poll reads it again.
      if (cut === 'stop') throw stoppedShort(deps, 'changefeed re-checks dropped: stopping', { records: page.records.length });
      // The budget ran out: the cursor moves past the records whose re-checks all ran (at
      // least the first repository's: they always fit), and the next poll reads the rest.
      if (cut === 'budget') {
        deps.logger.info('changefeed page left for the next poll: re-check budget spent', { records: page.records.length, through: through ?? null });
        if (through !== undefined) await page.commit(through);
        return { outcomes };
      }
      await page.commit();
      return { outcomes };
    }
  }
}

// The re-checks a request may still run (see MAX_RECHECKS_PER_REQUEST).
interface RecheckBudget {
  left: number;
}

// Takes one re-check from `budget`, or throws RECHECK_BUDGET_SPENT when none is left.
function spend(budget: RecheckBudget): void {
  if (budget.left <= 0) throw budgetSpent();
  budget.left -= 1;
}

function budgetSpent(): TrustgateError {
  return new TrustgateError(ErrorCode.RECHECK_BUDGET_SPENT, `the request asked for more than ${MAX_RECHECKS_PER_REQUEST} re-checks: the rest is left to its redelivery`);
}

function isBudgetSpent(error: unknown): boolean {
  return error instanceof TrustgateError && error.code === ErrorCode.RECHECK_BUDGET_SPENT;
}

// Gives back the claims of events whose processing a stop (or the re-check budget) cut short.
async function giveBack(deps: SignCallbackDeps, ids: readonly string[]): Promise<void> {
  await Promise.all(ids.map((id) => deps.store.delete(eventKey(id)).catch(() => undefined)));
}

// Logs what a stop left undone and returns the error that answers the request 503.
function stoppedShort(deps: SignCallbackDeps, message: string, left: Readonly<Record<string, number>>): TrustgateError {
  deps.logger.info(message, left);
  return new TrustgateError(ErrorCode.SERVICE_STOPPING, message);
}

function count(deps: SignCallbackDeps, outcome: EventOutcome | 'error'): EventOutcome {
  deps.metrics.increment('trustgate_callback_events_total', { outcome });
  return outcome as EventOutcome;
}

// Claims the event id (put-if-absent), processes the event, and gives the claim back when
// processing fails so the registry's redelivery is processed.
async function once(deps: SignCallbackDeps, id: string, process: () => Promise<'signed' | 'unsigned'>): Promise<EventOutcome> {
  const now = deps.clock.now().getTime();
  const claimed = await deps.store.put(eventKey(id), { value: new Uint8Array(0), version: 1, expiresAt: now + EVENT_MARK_TTL_MS }, { onlyIfNewer: true });
  if (!claimed) {
    deps.logger.info('registry event already processed', { eventId: id });
    return count(deps, 'duplicate');
  }
  try {
    return count(deps, await process());
  } catch (error) {
    count(deps, 'error');
    await deps.store.delete(eventKey(id)).catch(() => undefined);
    throw error;
  }
}

// An image push: records whether the pushed ref's digest is signed. A push by digest of a
// referrer (a manifest with a subject) is the signing of its subject instead.
async function handlePush(deps: SignCallbackDeps, push: ManifestPush, budget: RecheckBudget): Promise<'signed' | 'unsigned'> {
  if (push.tag === undefined && deps.referrerSubject !== undefined) {
    const subject = await deps.referrerSubject(push.repository, push.digest);
    if (subject !== undefined) return handleSignaturePush(deps, { kind: 'signature-push', id: push.id, repository: push.repository, signedDigest: subject }, budget);
  }
  const gun = `${deps.registryHost}/${push.repository}`;
  const outcome = await checkRef(deps, gun, push.tag ?? push.digest, push.digest, push.tag);
  await rememberRef(deps, gun, push.tag ?? push.digest, outcome);
  deps.logger.info('manifest push checked', { eventId: push.id, gun, tag: push.tag ?? null, digest: push.digest, status: outcome });
  return outcome;
}

// A cosign signature push: verifies `<gun>@<signed digest>` and records the outcome for that
// digest, then re-checks the tags recorded at that digest (their image changed status too).
// The answer is the signed digest's status. Each tag re-check is taken from `budget` (throws
// RECHECK_BUDGET_SPENT when it runs out). `tags: 'if-signed'` (a late signature push checked
// again) re-checks the tags only when the image is now found signed: found unsigned again,
// its tags were re-checked against the same answer already.
async function handleSignaturePush(deps: SignCallbackDeps, push: SignaturePush, budget: RecheckBudget, tags: 'always' | 'if-signed' = 'always'): Promise<'signed' | 'unsigned'> {
  const gun = `${deps.registryHost}/${push.repository}`;
  const digest = push.signedDigest;
  const outcome = await checkRef(deps, gun, digest, digest, undefined);
  await rememberRef(deps, gun, digest, outcome);
  deps.logger.info('signature push checked', { eventId: push.id, gun, digest, status: outcome });
  if (tags === 'if-signed' && outcome !== 'signed') return outcome;
  for (const ref of (await unlessUnreadable(deps, { gun }, () => readRefs(deps.store, gun)))?.refs ?? []) {
    if (ref === digest) continue;
    const before = await unlessUnreadable(deps, { gun, ref }, () => readSignStatus(deps.store, gun, ref));
    if (before?.digest !== digest || typeof before.tag !== 'string') continue;
    spend(budget);
    const status = await checkRef(deps, gun, ref, digest, before.tag);
    deps.logger.info('sign status re-checked', { gun, ref, before: before.status, status });
  }
  return outcome;
}

// The signature pushes of one request found unsigned (see SIGNATURE_RECHECK_PAUSES_MS): after
// each pause, each distinct signed image still unsigned is checked again (and the tags recorded
// at it when it is signed now), and every event naming it takes the new outcome. A failed
// re-check keeps `unsigned`. Returns the ids of the events whose re-checks a stop or the
// re-check budget dropped (none when they all ran). A drop by the budget still makes progress
// over redeliveries: it happens only once an image was found signed (and recorded so), and
// found signed at once by the redelivery, that event is not checked again late.
async function recheckLateSignatures(deps: SignCallbackDeps, late: ReadonlyMap<number, SignaturePush>, outcomes: Array<{ id: string; outcome: EventOutcome }>, budget: RecheckBudget): Promise<string[]> {
  const pause = deps.pause;
  if (pause === undefined || late.size === 0) return [];
  const images = new Map<string, { push: SignaturePush; indexes: number[] }>();
  for (const [index, push] of late) {
    const key = `${push.repository}@${push.signedDigest}`;
    const image = images.get(key);
    if (image !== undefined) image.indexes.push(index);
    else if (images.size < MAX_LATE_SIGNATURES) images.set(key, { push, indexes: [index] });
  }
  const left = (): string[] => [...images.values()].flatMap(({ push, indexes }) => indexes.map((index) => outcomes[index]?.id ?? push.id));
  for (const ms of SIGNATURE_RECHECK_PAUSES_MS) {
    if (images.size === 0) return [];
    await pause(ms, deps.stop);
    for (const [key, { push, indexes }] of images) {
      if (deps.stop?.aborted === true) return left();
      try {
        if ((await handleSignaturePush(deps, push, budget, 'if-signed')) !== 'signed') continue;
      } catch (error) {
        if (isBudgetSpent(error)) return left();
        deps.logger.warn('signature push re-check failed', { eventId: push.id, error: toTrustgateError(error).message });
        continue;
      }
      images.delete(key);
      for (const index of indexes) outcomes[index] = { id: outcomes[index]?.id ?? push.id, outcome: count(deps, 'signed') };
    }
  }
  return [];
}

// Verifies `<gun>:<tag>` (or `<gun>@<digest>`) under the namespace's policies and records
// whether the signed digest is the pushed one.
async function checkRef(deps: SignCallbackDeps, gun: string, ref: string, digest: string, tag: string | undefined): Promise<'signed' | 'unsigned'> {
  const image = tag === undefined ? `${gun}@${digest}` : `${gun}:${tag}`;
  const response = await verifyImage(deps.verify, { kind: 'policy', image, namespace: deps.namespace });
  // Signed means every check passed for exactly this digest: an answer allowed only because a
  // warn or audit policy does not enforce its failures (`wouldDeny`) is not a signature.
  const unenforced = response.allowed ? (response.wouldDeny ?? []) : [];
  const status = response.allowed && unenforced.length === 0 && response.digest === digest ? 'signed' : 'unsigned';
  const checkedAt = deps.clock.now();
  const record: SignStatus = { status, digest, tag: tag ?? null, checkedAt: checkedAt.toISOString() };
  await deps.store.put(
    signStatusKey(gun, ref),
    { value: new TextEncoder().encode(JSON.stringify(record)), version: checkedAt.getTime(), expiresAt: checkedAt.getTime() + STATUS_TTL_MS },
    { onlyIfNewer: true },
  );
  return status;
}

// The refs recorded for a repository, so changefeed records know what to re-check. At most
// MAX_RECORDED_REFS: when full, the oldest ref not recorded signed makes room (the oldest of
// all only when every one is signed). Security: pushes are cheap to send (any registry user,
// or a callback token holder naming tags that do not exist), and evicting a signed ref would
// stop the changefeed from re-checking it, so a revoked signature would stay recorded signed;
// unsigned refs lose nothing by leaving (a new push of them is recorded again).
// Deliveries to one repository run concurrently (registry replicas, any token holder), so the
// list is changed by compare-and-set: written with the version one above the one read, only
// if the stored version is still below it (a concurrent change makes the write fail, and the
// list is read and changed again). A write overwriting another's would drop its ref, and a
// signed ref dropped is never re-checked when its signature is revoked. After
// REMEMBER_ATTEMPTS lost races the event fails (503, redelivered) rather than lose its ref.
// A damaged list (forged, of the wrong shape) is written anew, unconditionally: its version
// is whatever its writer chose, and a conditional write could never pass it.
async function rememberRef(deps: SignCallbackDeps, gun: string, ref: string, status: 'signed' | 'unsigned'): Promise<void> {
  for (let attempt = 0; attempt < REMEMBER_ATTEMPTS; attempt += 1) {
    const recorded = await unlessUnreadable(deps, { gun }, () => readRefs(deps.store, gun));
    const now = deps.clock.now().getTime();
    const refs = (await withRef(deps, gun, recorded?.refs ?? [], ref, status)) ?? (recorded !== undefined && renewalDue(recorded, now) ? recorded.refs : undefined);
    if (refs === undefined) return;
    if (await writeRefs(deps, gun, recorded, refs, now)) return;
  }
  throw new TrustgateError(ErrorCode.STATE_STORE_FAILED, `recorded refs of ${gun} kept changing under ${REMEMBER_ATTEMPTS} attempts to record ${ref}`);
}

// Writes `refs` as the list that replaces `recorded` (compare-and-set on its version; a
// damaged list, undefined, is written unconditionally), for REFS_TTL_MS from `now`. False when
// another change came in since `recorded` was read.
function writeRefs(deps: SignCallbackDeps, gun: string, recorded: RecordedRefs | undefined, refs: readonly string[], now: number): Promise<boolean> {
  const item = { value: new TextEncoder().encode(JSON.stringify(refs)), version: (recorded?.version ?? 0) + 1, expiresAt: now + REFS_TTL_MS };
  return deps.store.put(refsKey(gun), item, recorded === undefined ? {} : { onlyIfNewer: true });
}

// True when a stored list has less than STATUS_TTL_MS left (see REFS_TTL_MS).
function renewalDue(recorded: RecordedRefs, now: number): boolean {
  return recorded.refs.length > 0 && recorded.expiresAt !== undefined && recorded.expiresAt - now < STATUS_TTL_MS;
}

// `refs` with `ref` added (making room as rememberRef says), or undefined when it is there
// already or is left out.
async function withRef(deps: SignCallbackDeps, gun: string, recorded: readonly string[], ref: string, status: 'signed' | 'unsigned'): Promise<string[] | undefined> {
  if (recorded.includes(ref)) return undefined;
  const refs = [...recorded];
  if (refs.length >= MAX_RECORDED_REFS) {
    let evict = -1;
    // The oldest signed ref whose digest another recorded ref also holds.
    let shared = -1;
    const firstAt = new Map<string, number>();
    for (const [index, other] of refs.entries()) {
      const recordedStatus = await unlessUnreadable(deps, { gun, ref: other }, () => readSignStatus(deps.store, gun, other));
      if (recordedStatus?.status !== 'signed') {
        evict = index;
        break;
      }
      const first = firstAt.get(recordedStatus.digest);
      if (first === undefined) firstAt.set(recordedStatus.digest, index);
      else if (shared === -1) shared = first;
    }
    if (evict === -1) {
      // Every recorded ref is signed: a new unsigned one is left out, a new signed one takes
      // the place of the oldest ref whose digest another ref also holds, else of the oldest.
      // Security: anyone who may push can tag a signed digest 256 times, each tag recorded
      // signed; were the oldest evicted, such tags would push out a ref at another digest,
      // whose revocation would then never be re-checked. Spent on copies of one digest, the
      // flood only replaces its own copies.
      if (status === 'unsigned') return undefined;
      evict = shared === -1 ? 0 : shared;
    }
    refs.splice(evict, 1);
  }
  return [...refs, ref].slice(-MAX_RECORDED_REFS);
}

// A repository's recorded refs with the stored version (0 and no refs when there are none).
interface RecordedRefs {
  readonly refs: readonly string[];
  readonly version: number;
  readonly expiresAt: number | undefined;
}

async function readRefs(store: KvStore, gun: string): Promise<RecordedRefs> {
  const item = await store.get(refsKey(gun));
  if (item === undefined) return { refs: [], version: 0, expiresAt: undefined };
  const json = parseJsonBytes(item.value, undefined, 'recorded refs');
  const refs = Array.isArray(json) ? json.filter((ref): ref is string => typeof ref === 'string') : [];
  return { refs, version: item.version, expiresAt: item.expiresAt };
}

// What `read` reads from the store, or undefined (logged and counted as an error) when the
// stored value is damaged: forged or altered (its MAC under the state key fails), an item of
// the wrong shape (written into the table without trustgate, isDamagedEntry), or not
// decodable. A damaged value is skipped, so it can neither hold the changefeed on one page
// nor fail every delivery of a registry's events for ever (a skipped status counts as not
// signed). A store that does not answer still throws: the page or the events are processed
// again once it does.
function isUnreadable(error: unknown): boolean {
  return isAuthenticationFailure(error) || isDamagedEntry(error) || (error instanceof TrustgateError && error.code !== ErrorCode.STATE_STORE_FAILED);
}

async function unlessUnreadable<T>(deps: SignCallbackDeps, where: Readonly<Record<string, string>>, read: () => Promise<T>): Promise<T | undefined> {
  try {
    return await read();
  } catch (error) {
    if (!isUnreadable(error)) throw error;
    const failure = toTrustgateError(error);
    count(deps, 'error');
    deps.logger.error('recorded sign status unreadable: skipped', { ...where, error: failure.message });
    return undefined;
  }
}

// Renews the expiry of a repository's recorded refs when due (see REFS_TTL_MS). A lost race
// needs no retry: the change that won wrote the list with a full expiry. A failed write is
// logged, and the next push or re-check of the repository tries again.
async function renewRefs(deps: SignCallbackDeps, gun: string, recorded: RecordedRefs): Promise<void> {
  const now = deps.clock.now().getTime();
  if (!renewalDue(recorded, now)) return;
  try {
    await writeRefs(deps, gun, recorded, recorded.refs, now);
  } catch (error) {
    deps.logger.error('recorded refs not renewed', { gun, error: toTrustgateError(error).message });
  }
}

// For every repository of our registry in the records: refresh it and re-check each ref
// recorded before (unsigned ones may be signed now, signed ones may have been re-signed
// for another digest), each re-check taken from `budget`. Repositories are re-checked in the
// order the records first name them. `cut` says why the re-checks stopped short (a stop, or
// the budget spent), and `through` is then the ID of the last record of the longest prefix of
// `records` whose repositories were all re-checked (undefined when there is none).
async function recheckChanged(
  deps: SignCallbackDeps,
  unordered: readonly ChangeRecord[],
  budget: RecheckBudget,
): Promise<{ outcomes: Array<{ id: string; outcome: EventOutcome }>; cut?: 'stop' | 'budget'; through?: string }> {
  // In change ID order (notary-server's), so a prefix is every change up to its last ID.
  const records = [...unordered].sort((a, b) => Number(a.id) - Number(b.id));
  const prefix = `${deps.registryHost}/`;
  const ours = (gun: string): boolean => gun.startsWith(prefix);
  const guns = [...new Set(records.filter((r) => ours(r.gun)).map((r) => r.gun))];
  const outcomes: Array<{ id: string; outcome: EventOutcome }> = [];
  const done = new Set<string>();
  const cutShort = (cut: 'stop' | 'budget') => {
    let through: string | undefined;
    for (const record of records) {
      if (ours(record.gun) && !done.has(record.gun)) break;
      through = record.id;
    }
    return { outcomes, cut, ...(through === undefined ? {} : { through }) };
  };
  for (const gun of guns) {
    const recorded = await unlessUnreadable(deps, { gun }, () => readRefs(deps.store, gun));
    if (recorded !== undefined) await renewRefs(deps, gun, recorded);
    for (const ref of recorded?.refs ?? []) {
      if (deps.stop?.aborted === true) return cutShort('stop');
      const before = await unlessUnreadable(deps, { gun, ref }, () => readSignStatus(deps.store, gun, ref));
      if (before === undefined) continue;
      if (budget.left <= 0) return cutShort('budget');
      spend(budget);
      try {
        const status = await checkRef(deps, gun, ref, before.digest, before.tag ?? undefined);
        deps.logger.info('sign status re-checked', { gun, ref, before: before.status, status });
        outcomes.push({ id: `${gun}:${ref}`, outcome: count(deps, 'refreshed') });
      } catch (error) {
        count(deps, 'error');
        deps.logger.error('sign status re-check failed', { gun, ref, error: toTrustgateError(error).message });
      }
    }
    done.add(gun);
  }
  return { outcomes };
}
