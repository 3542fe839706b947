// One holder of a coordination.k8s.io/v1 Lease at a time: the pure decisions of leader
// election (acquire, renew, wait while another holds it, take over once it expired, notice it
// was lost), from the Lease object as read and the caller's clock. No I/O: the adapter
// (infra/kubernetes-api/lease-lock.ts) reads the Lease, writes what `planLeaseStep` asks for
// with a resourceVersion-conditional create or update, and reports the outcome.
//
// Security: the Lease is written by anyone with update rights on it in trustgate's namespace,
// so its fields are hostile. Expiry is never judged from the timestamps it carries (another
// holder's clock, or a forged far-future renewTime): like client-go, a holder's term is
// counted on OUR clock from when we first saw its current resourceVersion, and its duration is
// capped, so a squatter can delay a takeover by at most MAX_FOREIGN_LEASE_MS per change it
// makes. Two candidates never both hold it: every write is conditional on the resourceVersion
// read (or on the Lease not existing), so of two racing writers the API server accepts one.

// What the adapter decoded from the API server's Lease (only the fields used here).
export interface ObservedLease {
  readonly resourceVersion: string;
  readonly holderIdentity: string | undefined;
  readonly leaseDurationSeconds: number | undefined;
  readonly leaseTransitions: number | undefined;
  readonly acquireTime: string | undefined;
}

// The spec we ask to write; timestamps are epoch milliseconds (the adapter formats them).
export interface LeaseSpecToWrite {
  readonly holderIdentity: string;
  readonly leaseDurationSeconds: number;
  readonly acquireTimeMs: number;
  readonly renewTimeMs: number;
  readonly leaseTransitions: number;
  // Kept as written when we renew our own Lease.
  readonly acquireTime?: string;
}

export type LeaseStep =
  | { readonly kind: 'create'; readonly spec: LeaseSpecToWrite }
  | { readonly kind: 'renew' | 'take-over' | 'release'; readonly resourceVersion: string; readonly spec: LeaseSpecToWrite }
  | { readonly kind: 'wait'; readonly holder: string; readonly expiresAtMs: number };

export interface LeaseElectionOptions {
  readonly identity: string;
  readonly leaseDurationSeconds: number;
  // How long after our last successful write we still call ourselves the holder; below the
  // lease duration, so we stop publishing before anyone else may take over.
  readonly renewDeadlineMs: number;
}

// What the candidate knows between steps.
export interface LeaseState {
  // The last foreign Lease version seen, and when (our clock) we first saw it.
  readonly seen: { readonly resourceVersion: string; readonly sinceMs: number } | undefined;
  // Our last successful write (our clock), while we believe we hold the Lease.
  readonly heldSinceWriteMs: number | undefined;
}

export const INITIAL_LEASE_STATE: LeaseState = { seen: undefined, heldSinceWriteMs: undefined };

// A foreign holder's claimed duration is believed up to this bound (a Lease with an absurd
// duration would otherwise block a takeover forever).
export const MAX_FOREIGN_LEASE_MS = 60_000;

// The write to make now, given the Lease as just read (undefined: it does not exist), and
// the state to keep. A Lease we hold is renewed; a free one (no holder) is taken; a foreign
// one is taken over only when its current version has gone unchanged for its duration.
export function planLeaseStep(options: LeaseElectionOptions, state: LeaseState, lease: ObservedLease | undefined, nowMs: number): { state: LeaseState; step: LeaseStep } {
  const spec = (transitions: number, acquireTime?: string): LeaseSpecToWrite => ({
    holderIdentity: options.identity,
    leaseDurationSeconds: options.leaseDurationSeconds,
    acquireTimeMs: nowMs,
    renewTimeMs: nowMs,
    leaseTransitions: transitions,
    ...(acquireTime === undefined ? {} : { acquireTime }),
  });
  if (lease === undefined) return { state: { ...state, seen: undefined }, step: { kind: 'create', spec: spec(0) } };
  const transitions = lease.leaseTransitions ?? 0;
  if (lease.holderIdentity === options.identity) {
    return { state: { ...state, seen: undefined }, step: { kind: 'renew', resourceVersion: lease.resourceVersion, spec: spec(transitions, lease.acquireTime) } };
  }
  // Someone else's (or nobody's) Lease: we do not hold it, whatever we believed.
  const notHolding: LeaseState = { ...state, heldSinceWriteMs: undefined };
  if (lease.holderIdentity === undefined || lease.holderIdentity === '') {
    return { state: { ...notHolding, seen: undefined }, step: { kind: 'take-over', resourceVersion: lease.resourceVersion, spec: spec(transitions + 1) } };
  }
  const sinceMs = state.seen?.resourceVersion === lease.resourceVersion ? state.seen.sinceMs : nowMs;
  const claimedMs = (lease.leaseDurationSeconds ?? 0) * 1000;
  const durationMs = Number.isFinite(claimedMs) && claimedMs > 0 ? Math.min(claimedMs, MAX_FOREIGN_LEASE_MS) : options.leaseDurationSeconds * 1000;
  const expiresAtMs = sinceMs + durationMs;
  const seen = { resourceVersion: lease.resourceVersion, sinceMs };
  if (nowMs < expiresAtMs) return { state: { ...notHolding, seen }, step: { kind: 'wait', holder: lease.holderIdentity, expiresAtMs } };
  return { state: { ...notHolding, seen }, step: { kind: 'take-over', resourceVersion: lease.resourceVersion, spec: spec(transitions + 1) } };
}

// On a graceful stop: the write that gives up a Lease we hold, so another replica takes it
// over at its next step instead of after the lease duration (client-go's ReleaseOnCancel: an
// empty holder, a duration of one second, the transitions count kept). Conditional on the
// version read, so a Lease someone else has taken meanwhile is left alone; undefined when the
// Lease is not ours.
export function planLeaseRelease(options: LeaseElectionOptions, lease: ObservedLease | undefined, nowMs: number): LeaseStep | undefined {
  if (lease === undefined || lease.holderIdentity !== options.identity) return undefined;
  return {
    kind: 'release',
    resourceVersion: lease.resourceVersion,
    spec: { holderIdentity: '', leaseDurationSeconds: 1, acquireTimeMs: nowMs, renewTimeMs: nowMs, leaseTransitions: lease.leaseTransitions ?? 0 },
  };
}

// The state after the adapter tried `step`: `written` when the API server accepted the write,
// `conflict` when another writer got there first (409, or 404 on an update), `failed` on any
// other error (we keep believing we hold it only until the renew deadline).
export function afterLeaseWrite(state: LeaseState, step: LeaseStep, outcome: 'written' | 'conflict' | 'failed', nowMs: number): LeaseState {
  if (step.kind === 'wait') return state;
  if (step.kind === 'release') return INITIAL_LEASE_STATE;
  if (outcome === 'written') return { seen: undefined, heldSinceWriteMs: nowMs };
  if (outcome === 'conflict') return { ...state, heldSinceWriteMs: undefined };
  return state;
}

// Whether we may act as the holder now: our last accepted write is more recent than the
// renew deadline (so we stop before the Lease can expire for the others).
export function holdsLease(options: LeaseElectionOptions, state: LeaseState, nowMs: number): boolean {
  return state.heldSinceWriteMs !== undefined && nowMs - state.heldSinceWriteMs < options.renewDeadlineMs;
}
