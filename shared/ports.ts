// The only seams between the core and the outside world. The core in shared/trust,
// shared/image and shared/policy never touches the network, the disk, the clock or env
// directly: it is handed these.
import type { JsonFields } from './logging/json-text.js';

// --- HTTP -------------------------------------------------------------------------------

export interface HttpRequest {
  readonly url: string;
  readonly method?: 'GET' | 'POST' | 'PUT' | 'HEAD';
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: Uint8Array | string;
  // The body is read while streaming and the request aborted past this many bytes
  // (TRUST_METADATA_TOO_LARGE).
  readonly maxBytes: number;
  // Whole-request deadline in milliseconds (connect + headers + body).
  readonly timeoutMs: number;
  // Cancels the request (an overall deadline above this one). The exchange then rejects
  // with the signal's reason when that is a TrustgateError, else TRUST_SERVER_UNAVAILABLE.
  readonly signal?: AbortSignal;
}

export interface HttpResponse {
  readonly status: number;
  // Header lookup, case-insensitive.
  header(name: string): string | undefined;
  readonly body: Uint8Array;
}

// Performs one HTTP exchange. Network failures and timeouts reject with
// TrustgateError(TRUST_SERVER_UNAVAILABLE); an oversized body with TRUST_METADATA_TOO_LARGE.
// Any HTTP status resolves.
export type Fetch = (request: HttpRequest) => Promise<HttpResponse>;

// --- Time -------------------------------------------------------------------------------

// Read once per operation and passed down as a value: verification never reads the clock.
export interface Clock {
  now(): Date;
}

// --- Key-value store --------------------------------------------------------------------

export interface KvItem {
  readonly value: Uint8Array;
  // Monotonic version of the entry; conditional puts compare against it.
  readonly version: number;
  // Absolute expiry in epoch milliseconds, or undefined for no expiry.
  readonly expiresAt?: number;
}

export interface KvPutOptions {
  // Only write when there is no item yet or the stored version is lower than item.version
  // (a stale writer can never roll an entry back). Resolves false when the condition failed.
  readonly onlyIfNewer?: boolean;
}

export interface KvStore {
  get(key: string): Promise<KvItem | undefined>;
  put(key: string, item: KvItem, options?: KvPutOptions): Promise<boolean>;
  delete(key: string): Promise<void>;
}

// --- Logging ----------------------------------------------------------------------------

export type LogFields = Readonly<Record<string, unknown>>;

// Fields are a record, or the same already serialised (JsonFields: the admission decision's
// line, once per request), which a logger not writing JSON reads through its toJSON.
export interface Logger {
  info(message: string, fields?: LogFields | JsonFields): void;
  warn(message: string, fields?: LogFields | JsonFields): void;
  error(message: string, fields?: LogFields | JsonFields): void;
}

export const silentLogger: Logger = {
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

// --- Metrics ----------------------------------------------------------------------------

export type MetricLabels = Readonly<Record<string, string>>;

// Counters and histograms by name; the exposition format (Prometheus text) is the
// adapter's business. Names are snake_case with the `trustgate_` prefix.
export interface Metrics {
  increment(name: string, labels?: MetricLabels, value?: number): void;
  observe(name: string, value: number, labels?: MetricLabels): void;
}

export const noopMetrics: Metrics = {
  increment: () => undefined,
  observe: () => undefined,
};
