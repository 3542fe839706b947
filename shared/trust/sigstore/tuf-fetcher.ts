// tuf-js's Fetcher over our Fetch port, so a trusted-root refresh gets the port's guarantees
// (body counted while it streams, one deadline per request, no redirects followed, TLS
// always verified) and one budget for the whole refresh.
//
// Security: tuf-js caps each file (its own length limits, or the length the signed metadata
// states), but a hostile mirror could still make one refresh walk up to 256 root versions and
// every delegation. Here every request counts against a number of fetches and a number of
// bytes for the whole refresh, and none starts once the refresh's signal has fired.
// fs.promises rather than node:fs/promises: its modules load on first use, not when `trustgate
// verify` starts (only a refresh of Sigstore's root writes files).
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { Fetcher } from 'tuf-js';
import { ErrorCode, TrustgateError, isTrustgateError } from '../../errors.js';
import type { Fetch } from '../../ports.js';

export interface TufFetchLimits {
  // Requests one refresh may make (root versions, timestamp, snapshot, targets, the target).
  readonly maxFetches: number;
  // Bytes one refresh may read in all.
  readonly maxBytes: number;
}

export interface BudgetedTufFetcher extends Fetcher {
  // The first failure of our own (network, budget, deadline) this refresh met, if any:
  // tuf-js wraps some errors into its own with only their text, so the refresh reports
  // this one rather than the wrapper.
  failure(): TrustgateError | undefined;
}

// `httpError` builds tuf-js's DownloadHTTPError (loaded with tuf-js, lazily): tuf-js reads a
// 403/404 on the next root version as "no newer root", so that class must be the one it
// checks. `scratchDir` is the refresh's private directory; downloadFile's temporary files
// live there.
export function createBudgetedTufFetcher(options: {
  readonly fetch: Fetch;
  readonly limits: TufFetchLimits;
  readonly signal: AbortSignal;
  // Each request's own deadline; the refresh's overall deadline is `signal`.
  readonly requestTimeoutMs: number;
  readonly scratchDir: string;
  readonly httpError: (message: string, status: number) => Error;
}): BudgetedTufFetcher {
  const { fetch, limits, signal } = options;
  let fetches = 0;
  let spent = 0;
  let failure: TrustgateError | undefined;
  // Whether the last request was capped by the length asked for (not by the budget left).
  let cappedByLength = false;
  const fail = (error: TrustgateError): TrustgateError => {
    failure ??= error;
    return error;
  };

  // One GET of at most `maxLength` bytes (and what is left of the budget).
  const downloadBytes = async (url: string, maxLength: number): Promise<Buffer> => {
    if (signal.aborted) throw fail(abortReason(signal));
    if (fetches >= limits.maxFetches) {
      throw fail(new TrustgateError(ErrorCode.TRUST_METADATA_TOO_LARGE, `TUF mirror refresh too long: expected at most ${limits.maxFetches} requests, needed more for ${url}`));
    }
    const left = limits.maxBytes - spent;
    if (left <= 0) throw fail(new TrustgateError(ErrorCode.TRUST_METADATA_TOO_LARGE, `TUF mirror refresh too large: expected at most ${limits.maxBytes} bytes in all, needed more for ${url}`));
    fetches += 1;
    cappedByLength = maxLength <= left;
    let response;
    try {
      response = await fetch({ url, maxBytes: Math.min(maxLength, left), timeoutMs: options.requestTimeoutMs, signal });
    } catch (error) {
      throw fail(isTrustgateError(error) ? error : new TrustgateError(ErrorCode.TRUST_SERVER_UNAVAILABLE, `TUF mirror request failed: ${url}`, { cause: error }));
    }
    spent += response.body.length;
    if (response.status !== 200) {
      // 403/404 answers tuf-js's probe for the next root version: not a failure of ours.
      if (response.status !== 403 && response.status !== 404) fail(new TrustgateError(ErrorCode.TRUST_SERVER_UNAVAILABLE, `TUF mirror answered ${response.status} for ${url}`));
      throw options.httpError(`TUF mirror answered ${response.status} for ${url}`, response.status);
    }
    return Buffer.from(response.body.buffer, response.body.byteOffset, response.body.byteLength);
  };

  return {
    downloadBytes,
    // Used by tuf-js for targets only, with the length the signed targets metadata states:
    // a body longer than that is not the signed target.
    async downloadFile<T>(url: string, maxLength: number, handler: (file: string) => Promise<T>): Promise<T> {
      let bytes: Buffer;
      try {
        bytes = await downloadBytes(url, maxLength);
      } catch (error) {
        if (isTrustgateError(error) && error.code === ErrorCode.TRUST_METADATA_TOO_LARGE && failure === error && cappedByLength) {
          failure = new TrustgateError(ErrorCode.TRUST_HASH_MISMATCH, `TUF target ${url} is longer than the ${maxLength} bytes its signed metadata states`);
          throw failure;
        }
        throw error;
      }
      const dir = await fsp.mkdtemp(join(options.scratchDir, 'download-'));
      try {
        const file = join(dir, 'target');
        await fsp.writeFile(file, bytes, { mode: 0o600 });
        return await handler(file);
      } finally {
        await fsp.rm(dir, { recursive: true, force: true });
      }
    },
    failure: () => failure,
  };
}

function abortReason(signal: AbortSignal): TrustgateError {
  const reason: unknown = signal.reason;
  return isTrustgateError(reason) ? reason : new TrustgateError(ErrorCode.TRUST_SERVER_UNAVAILABLE, 'TUF mirror refresh was cancelled');
}
