// Concurrent verifications of one image share one registry read (request coalescing): the
// first starts the read (the digest resolution, then each signature part as some check asks
// for it), the others join it, and every part is fetched once however many checks need it.
// What the read recorded is kept in the trust cache once, when its last reader leaves.
//
// Security:
// - a read is shared only between callers asking about the same registry, repository, tag
//   and digest with the same credentials for that repository (the key holds the
//   credentials' fingerprint, '' for anonymous reads), so one workload's pull secret never
//   reads for another workload, and a workload without access never rides on one that has it;
// - joining a read is taking an answer the registry gave since the read started, which is
//   what the freshness window allows of cached material: a read is joined only while it is
//   younger than the window, so a verifier that must read the registry itself (freshness 0,
//   sign-callback after a signature push) never joins one started before the push;
// - a caller that gives up (its signal aborts) stops waiting at once; the read goes on for
//   the others and is cancelled only when every caller has given up (shared cancellation),
//   within the verifier's deadline either way;
// - bounded: an entry exists only while some verification waits on it, and is removed when
//   its last reader leaves, so the map holds at most one entry per verification in flight.
import { ErrorCode, TrustgateError, isTrustgateError } from '../../errors.js';
import type { ImageReference } from '../../image/reference.js';
import { createSharedCancellation, type SharedCancellation } from '../notary/update-budget.js';
import { startDeadline } from './deadline.js';
import type { BundleReferrer, RegistryClient, SignatureLayer } from './registry-client.js';
import { emptyMaterial, isRecordable, recordingSource, type SignatureMaterial, type SignatureSource } from './signature-material.js';

// One caller's view of a shared read.
export interface RegistryRead {
  // The image's manifest digest, as the registry named it.
  digest(): Promise<string>;
  // The signatures of that digest; only valid once `digest` resolved.
  source(): SignatureSource;
  // Leaves the read; the last caller to leave keeps what it recorded (see `keep`).
  // `onKept` is told of the material object kept, before it is handed to `keep`, when the
  // read is kept at all (complete): what a caller derived from the read (its verdict) can
  // be attached to exactly the object the cache will hold.
  leave(onKept?: (material: SignatureMaterial) => void): Promise<void>;
}

export interface RegistryReadFlights {
  // Joins the read of `image` with these credentials (`partition`) when one younger than
  // `joinWithinMs` is running, else starts one with `registry`.
  join(image: ImageReference, registry: RegistryClient, partition: string, nowMs: number, joinWithinMs: number, signal: AbortSignal | undefined): RegistryRead;
  // Reads in progress (for tests of the bound).
  readonly size: number;
}

export interface RegistryReadFlightsOptions {
  readonly deadlineMs: number;
  readonly monotonicNow?: () => number;
  // Keeps a complete read: `material` as the registry answered it at `checkedAt`. Not
  // called for a read the registry interrupted (it would replace a complete recording).
  readonly keep: (image: ImageReference, material: SignatureMaterial, checkedAt: number, partition: string) => Promise<void>;
}

interface Flight {
  readonly startedAt: number;
  readonly cancellation: SharedCancellation;
  readonly digest: Promise<string>;
  material: SignatureMaterial | undefined;
  shared: SignatureSource | undefined;
  interrupted: boolean;
  readers: number;
  // What the callers that left asked to be told of the kept material (one per caller).
  readonly onKept: ((material: SignatureMaterial) => void)[];
}

// The key of one read: what it reads and with which credentials.
function flightKey(image: ImageReference, partition: string): string {
  return JSON.stringify([image.registry, image.repository, image.tag ?? null, image.digest ?? null, partition]);
}

export function createRegistryReadFlights(options: RegistryReadFlightsOptions): RegistryReadFlights {
  const flights = new Map<string, Flight>();

  function start(image: ImageReference, registry: RegistryClient, nowMs: number): Flight {
    const cancellation = createSharedCancellation();
    const deadline = startDeadline(options.deadlineMs, options.monotonicNow, cancellation.signal);
    const flight: Flight = {
      startedAt: nowMs,
      cancellation,
      material: undefined,
      shared: undefined,
      interrupted: false,
      readers: 0,
      onKept: [],
      digest: registry.resolveDigest(image, deadline).then((digest) => {
        const material = emptyMaterial(image, digest);
        flight.material = material;
        flight.shared = sharedSource(recordingSource(registry, image, material, deadline), () => (flight.interrupted = true));
        return digest;
      }),
    };
    // A rejection is each reader's to handle; the flight itself only records it.
    flight.digest.catch(() => undefined);
    return flight;
  }

  return {
    join(image, registry, partition, nowMs, joinWithinMs, signal) {
      // A caller that has already given up starts nothing and joins nothing.
      if (signal?.aborted === true) return abandonedRead(signal);
      const key = flightKey(image, partition);
      let flight = flights.get(key);
      const age = flight === undefined ? undefined : nowMs - flight.startedAt;
      // A read every earlier caller gave up on (cancelled), or one the registry interrupted, is
      // not joined: the caller starts a read of its own.
      if (flight === undefined || age === undefined || age < 0 || age >= joinWithinMs || flight.cancellation.signal.aborted || flight.interrupted) {
        flight = start(image, registry, nowMs);
        flights.set(key, flight);
      }
      const joined = flight;
      joined.readers += 1;
      joined.cancellation.join(signal);
      let left = false;
      // A caller cut off mid-read leaves parts unread: the recording is then not complete
      // and is not kept (it would replace a complete one).
      const cut = (): void => {
        joined.interrupted = true;
      };
      return {
        digest: () => untilAborted(() => joined.digest, signal, cut),
        source: () => callerSource(joined.shared ?? notStarted(), signal, cut),
        async leave(onKept) {
          if (left) return;
          left = true;
          if (onKept !== undefined) joined.onKept.push(onKept);
          joined.readers -= 1;
          if (joined.readers > 0) return;
          if (flights.get(key) === joined) flights.delete(key);
          if (joined.interrupted || joined.material === undefined) return;
          const kept = snapshot(joined.material);
          for (const tell of joined.onKept) tell(kept);
          await options.keep(image, kept, joined.startedAt, partition);
        },
      };
    },
    get size() {
      return flights.size;
    },
  };
}

function abandonedRead(signal: AbortSignal): RegistryRead {
  return {
    digest: () => Promise.reject(cancelledFor(signal)),
    source: notStarted,
    leave: () => Promise.resolve(),
  };
}

// What a caller that gave up is answered: the reason its signal carries when it is one of
// ours (the admission budget's ADMISSION_TIMEOUT), else REGISTRY_UNAVAILABLE as the
// deadline answers.
function cancelledFor(signal: AbortSignal): TrustgateError {
  const reason: unknown = signal.reason;
  return isTrustgateError(reason) ? reason : new TrustgateError(ErrorCode.REGISTRY_UNAVAILABLE, 'registry requests cancelled: the caller no longer waits for this verification');
}

function notStarted(): never {
  throw new TrustgateError(ErrorCode.INTERNAL, 'signature source asked for before the digest was resolved');
}

// A copy of the material as it stands: a part a reader who gave up still has in flight
// must not change what was kept.
function snapshot(material: SignatureMaterial): SignatureMaterial {
  return { ...material, payloads: new Map(material.payloads), bundles: new Map(material.bundles) };
}

// Each part of `inner` read once, whoever asks; `onInterrupted` is told of a part the
// registry did not answer (unavailable, too slow, cancelled), which makes the recording
// incomplete.
function sharedSource(inner: SignatureSource, onInterrupted: () => void): SignatureSource {
  let signatures: Promise<readonly SignatureLayer[]> | undefined;
  let referrers: Promise<readonly BundleReferrer[]> | undefined;
  const payloads = new Map<number, Promise<Uint8Array>>();
  const bundles = new Map<number, Promise<unknown>>();
  const watched = <T>(read: Promise<T>): Promise<T> => {
    read.catch((error: unknown) => {
      if (!isRecordable(error)) onInterrupted();
    });
    return read;
  };
  const once = <T>(parts: Map<number, Promise<T>>, index: number, read: () => Promise<T>): Promise<T> => {
    let part = parts.get(index);
    if (part === undefined) {
      part = watched(read());
      parts.set(index, part);
    }
    return part;
  };
  return {
    listSignatures: () => (signatures ??= watched(inner.listSignatures())),
    fetchPayload: (layer) => once(payloads, layer.index, () => inner.fetchPayload(layer)),
    listBundleReferrers: () => (referrers ??= watched(inner.listBundleReferrers())),
    fetchBundle: (referrer) => once(bundles, referrer.index, () => inner.fetchBundle(referrer)),
  };
}

// The shared parts as one caller sees them: it stops waiting when its own signal aborts.
function callerSource(shared: SignatureSource, signal: AbortSignal | undefined, cut: () => void): SignatureSource {
  return {
    listSignatures: () => untilAborted(() => shared.listSignatures(), signal, cut),
    fetchPayload: (layer) => untilAborted(() => shared.fetchPayload(layer), signal, cut),
    listBundleReferrers: () => untilAborted(() => shared.listBundleReferrers(), signal, cut),
    fetchBundle: (referrer) => untilAborted(() => shared.fetchBundle(referrer), signal, cut),
  };
}

// `read()`, or the caller's cancellation as soon as `signal` aborts (then `cut` is told);
// nothing is started for a caller that already gave up.
function untilAborted<T>(read: () => Promise<T>, signal: AbortSignal | undefined, cut: () => void): Promise<T> {
  if (signal === undefined) return read();
  if (signal.aborted) {
    cut();
    return Promise.reject(cancelledFor(signal));
  }
  const reading = read();
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => {
      cut();
      reject(cancelledFor(signal));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    reading.finally(() => signal.removeEventListener('abort', onAbort)).then(resolve, reject);
  });
}
