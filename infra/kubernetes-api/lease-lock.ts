// The snapshot writer's Lease (coordination.k8s.io/v1) on the API server: reads it, writes
// what shared/lease/lease-election.ts decides (create, or an update conditional on the
// resourceVersion read), every RENEW_INTERVAL_MS, and gives the Lease up when stopped. Requests are plain HTTPS with the
// kubeconfig's credentials and CA (applyToHTTPSOptions), so the Lease's MicroTime fields are
// written in the exact format the API server parses (RFC 3339 with microseconds).
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { hostname } from 'node:os';
import { ErrorCode, TrustgateError } from '../../shared/errors.js';
import { afterLeaseWrite, holdsLease, INITIAL_LEASE_STATE, planLeaseRelease, planLeaseStep, type LeaseElectionOptions, type LeaseSpecToWrite, type LeaseState, type ObservedLease } from '../../shared/lease/lease-election.js';
import type { Clock, Logger } from '../../shared/ports.js';
import type { LoadedKubeConfig } from './kube-config.js';

const SERVICE_ACCOUNT_NAMESPACE_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';
export const DEFAULT_LEASE_NAMESPACE = 'trustgate-system';
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

// The Lease's name for a cluster id (cluster ids are already restricted to a safe alphabet).
export function snapshotLeaseName(clusterId: string): string {
  return `trustgate-policy-snapshot-${clusterId}`;
}

// The pod's namespace: POD_NAMESPACE (the downward API), else the service account's
// namespace file, else trustgate-system. A value that is not a namespace name is refused.
export function leaseNamespace(env: Readonly<Record<string, string | undefined>>, readNamespaceFile: () => string | undefined = readServiceAccountNamespace): string {
  const namespace = (env['POD_NAMESPACE'] || readNamespaceFile()?.trim() || DEFAULT_LEASE_NAMESPACE).trim();
  if (!DNS_LABEL.test(namespace)) throw new TrustgateError(ErrorCode.CONFIG_INVALID, `the pod's namespace ${JSON.stringify(namespace)} is not a namespace name`);
  return namespace;
}

// POD_NAME (or the hostname) plus a random suffix, so two processes never share an identity
// (a restarted pod with the same name does not inherit its predecessor's term).
export function leaseIdentity(env: Readonly<Record<string, string | undefined>>): string {
  return `${env['POD_NAME'] || hostname()}_${randomBytes(4).toString('hex')}`;
}

function readServiceAccountNamespace(): string | undefined {
  try {
    return readFileSync(SERVICE_ACCOUNT_NAMESPACE_FILE, 'utf8');
  } catch {
    return undefined;
  }
}

export const LEASE_DURATION_SECONDS = 15;
export const RENEW_INTERVAL_MS = 5_000;
export const RENEW_DEADLINE_MS = 10_000;
// A Lease is a few hundred bytes; anything far larger is refused unread.
const MAX_LEASE_BYTES = 64 * 1024;
const REQUEST_TIMEOUT_MS = 4_000;

export interface LeaseLockDeps {
  readonly kube: LoadedKubeConfig;
  readonly namespace: string;
  readonly name: string;
  readonly identity: string;
  readonly clock: Clock;
  readonly logger: Logger;
  // Told whenever we start or stop holding the Lease.
  readonly onChange?: (holding: boolean) => void;
}

export interface LeaseLock {
  holding(): boolean;
  // Stops renewing and, if we hold the Lease, releases it (waits for a tick in flight first,
  // so no renewal lands after the release). Never rejects; bounded by the request timeout.
  stop(): Promise<void>;
}

interface Answer {
  readonly status: number;
  readonly body: string;
}

// Starts trying to hold the Lease at once and every RENEW_INTERVAL_MS until stopped.
export function startLeaseLock(deps: LeaseLockDeps): LeaseLock {
  const options: LeaseElectionOptions = { identity: deps.identity, leaseDurationSeconds: LEASE_DURATION_SECONDS, renewDeadlineMs: RENEW_DEADLINE_MS };
  const path = `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(deps.namespace)}/leases/${encodeURIComponent(deps.name)}`;
  const collection = `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(deps.namespace)}/leases`;
  let state: LeaseState = INITIAL_LEASE_STATE;
  let wasHolding = false;
  let otherHolder: string | undefined;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<void> | undefined;

  const holding = (): boolean => holdsLease(options, state, deps.clock.now().getTime());
  const report = (): void => {
    const now = holding();
    if (now === wasHolding) return;
    wasHolding = now;
    if (now) deps.logger.info('policy snapshot lease acquired', { lease: `${deps.namespace}/${deps.name}`, holder: deps.identity });
    else deps.logger.warn('policy snapshot lease lost: not publishing', { lease: `${deps.namespace}/${deps.name}`, holder: deps.identity });
    deps.onChange?.(now);
  };

  const tick = async (): Promise<void> => {
    try {
      const read = await call(deps.kube, 'GET', path);
      if (read.status !== 200 && read.status !== 404) throw new TrustgateError(ErrorCode.POLICY_SOURCE_UNAVAILABLE, `reading the Lease answered HTTP ${read.status}`);
      const lease = read.status === 404 ? undefined : decodeLease(read.body);
      const planned = planLeaseStep(options, state, lease, deps.clock.now().getTime());
      state = planned.state;
      const step = planned.step;
      if (step.kind === 'wait' && step.holder !== otherHolder) deps.logger.info('policy snapshot lease held by another replica', { lease: `${deps.namespace}/${deps.name}`, holder: step.holder });
      otherHolder = step.kind === 'wait' ? step.holder : undefined;
      if (step.kind !== 'wait') {
        const body = leaseBody(deps.namespace, deps.name, step.kind === 'create' ? undefined : step.resourceVersion, step.spec);
        const written = step.kind === 'create' ? await call(deps.kube, 'POST', collection, body) : await call(deps.kube, 'PUT', path, body);
        const outcome = written.status === 200 || written.status === 201 ? 'written' : written.status === 409 || written.status === 404 ? 'conflict' : 'failed';
        if (outcome === 'failed') deps.logger.warn('policy snapshot lease not written', { lease: `${deps.namespace}/${deps.name}`, status: written.status });
        state = afterLeaseWrite(state, step, outcome, deps.clock.now().getTime());
      }
    } catch (error) {
      deps.logger.warn('policy snapshot lease unreachable', { lease: `${deps.namespace}/${deps.name}`, message: error instanceof Error ? error.message : String(error) });
    }
    report();
  };

  const loop = (): void => {
    if (stopped) return;
    inFlight = tick().finally(() => {
      inFlight = undefined;
      if (!stopped) timer = setTimeout(loop, RENEW_INTERVAL_MS);
      timer?.unref();
    });
  };

  // Gives the Lease up if it is still ours: read it, then an update conditional on that read.
  const release = async (): Promise<void> => {
    try {
      const read = await call(deps.kube, 'GET', path);
      if (read.status !== 200) return;
      const step = planLeaseRelease(options, decodeLease(read.body), deps.clock.now().getTime());
      if (step === undefined || step.kind !== 'release') return;
      const written = await call(deps.kube, 'PUT', path, leaseBody(deps.namespace, deps.name, step.resourceVersion, step.spec));
      if (written.status === 200) deps.logger.info('policy snapshot lease released', { lease: `${deps.namespace}/${deps.name}`, holder: deps.identity });
      else deps.logger.warn('policy snapshot lease not released: it expires by itself', { lease: `${deps.namespace}/${deps.name}`, status: written.status });
    } catch (error) {
      deps.logger.warn('policy snapshot lease not released: it expires by itself', { lease: `${deps.namespace}/${deps.name}`, message: error instanceof Error ? error.message : String(error) });
    }
    state = INITIAL_LEASE_STATE;
    report();
  };
  loop();
  return {
    holding: () => {
      const now = holding();
      if (now !== wasHolding) report();
      return now;
    },
    stop: async () => {
      if (stopped) return;
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
      await inFlight;
      if (state.heldSinceWriteMs !== undefined) await release();
    },
  };
}

// The fields of a Lease we use, decoded from hostile JSON; anything malformed is an error
// (the tick is retried).
export function decodeLease(text: string): ObservedLease {
  const value: unknown = JSON.parse(text);
  const object = isRecord(value) ? value : {};
  const metadata = isRecord(object['metadata']) ? object['metadata'] : {};
  const spec = isRecord(object['spec']) ? object['spec'] : {};
  const resourceVersion = metadata['resourceVersion'];
  if (typeof resourceVersion !== 'string' || resourceVersion === '') throw new TrustgateError(ErrorCode.POLICY_SOURCE_UNAVAILABLE, 'the Lease has no resourceVersion');
  const text_ = (field: unknown): string | undefined => (typeof field === 'string' ? field : undefined);
  const integer = (field: unknown): number | undefined => (typeof field === 'number' && Number.isSafeInteger(field) && field >= 0 ? field : undefined);
  return {
    resourceVersion,
    holderIdentity: text_(spec['holderIdentity']),
    leaseDurationSeconds: integer(spec['leaseDurationSeconds']),
    leaseTransitions: integer(spec['leaseTransitions']),
    acquireTime: text_(spec['acquireTime']),
  };
}

function leaseBody(namespace: string, name: string, resourceVersion: string | undefined, spec: LeaseSpecToWrite): string {
  return JSON.stringify({
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name, namespace, ...(resourceVersion === undefined ? {} : { resourceVersion }), labels: { 'app.kubernetes.io/name': 'trustgate' } },
    spec: {
      holderIdentity: spec.holderIdentity,
      leaseDurationSeconds: spec.leaseDurationSeconds,
      acquireTime: spec.acquireTime ?? microTime(spec.acquireTimeMs),
      renewTime: microTime(spec.renewTimeMs),
      leaseTransitions: spec.leaseTransitions,
    },
  });
}

// RFC 3339 with six fractional digits, the format of a Kubernetes MicroTime.
function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// One request to the API server with the kubeconfig's credentials; the body is bounded.
async function call(kube: LoadedKubeConfig, method: 'GET' | 'POST' | 'PUT', path: string, body?: string): Promise<Answer> {
  const url = new URL(kube.server.replace(/\/+$/, '') + path);
  const options: import('node:https').RequestOptions = {
    method,
    protocol: url.protocol,
    hostname: url.hostname,
    port: url.port,
    path: url.pathname,
    headers: { accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    timeout: REQUEST_TIMEOUT_MS,
  };
  await kube.config.applyToHTTPSOptions(options);
  return new Promise((resolve, reject) => {
    const outgoing = request(options, (response) => {
      const chunks: Buffer[] = [];
      let size = 0;
      response.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_LEASE_BYTES) {
          response.destroy();
          reject(new TrustgateError(ErrorCode.POLICY_SOURCE_UNAVAILABLE, `the API server's answer exceeds ${MAX_LEASE_BYTES} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      response.on('error', reject);
    });
    outgoing.on('timeout', () => outgoing.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)));
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}
