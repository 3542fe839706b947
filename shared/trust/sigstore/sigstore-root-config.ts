// Decodes where Sigstore's trusted root is refreshed from (flags or env) once, at the edge.
//   --sigstore-tuf-url / TRUSTGATE_SIGSTORE_TUF_URL       the TUF mirror's metadata base URL
//   TRUSTGATE_SIGSTORE_TUF_TARGETS_URL                    its targets base URL (default <url>/targets)
//   --sigstore-tuf-root / TRUSTGATE_SIGSTORE_TUF_ROOT     a root.json file to start TUF from
//                                                         (default: the shipped public-good root)
//   --sigstore-refresh-interval / TRUSTGATE_SIGSTORE_REFRESH_INTERVAL
//                                                         how often (default 24h; 0: on demand only)
// No mirror configured means the shipped root only: the offline default. There is
// deliberately no default URL: a deployment that cannot reach Sigstore's CDN would log a failed
// refresh forever, and one that can should say so where its egress is decided.
import { parseDuration } from '../../cache/freshness-config.js';
import { ErrorCode, TrustgateError } from '../../errors.js';
import { DEFAULT_REFRESH_INTERVAL_MS } from './refreshing-trusted-root-source.js';
import type { TufMirror } from './tuf-update.js';

export interface SigstoreRootConfig {
  readonly mirror?: TufMirror;
  // A root.json path to read at start; undefined: the shipped public-good root.
  readonly tufRootFile?: string;
  readonly intervalMs: number;
}

export interface SigstoreRootFlags {
  readonly tufUrl?: string | undefined;
  readonly tufRoot?: string | undefined;
  readonly refreshInterval?: string | undefined;
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost']);

export function decodeSigstoreRootConfig(flags: SigstoreRootFlags, env: Readonly<Record<string, string | undefined>>): SigstoreRootConfig {
  const pick = (flag: string | undefined, name: string): string | undefined => {
    const value = flag ?? env[name];
    return value === undefined || value === '' ? undefined : value;
  };
  const url = pick(flags.tufUrl, 'TRUSTGATE_SIGSTORE_TUF_URL');
  const targetsUrl = pick(undefined, 'TRUSTGATE_SIGSTORE_TUF_TARGETS_URL');
  const tufRootFile = pick(flags.tufRoot, 'TRUSTGATE_SIGSTORE_TUF_ROOT');
  const interval = pick(flags.refreshInterval, 'TRUSTGATE_SIGSTORE_REFRESH_INTERVAL');
  const intervalMs = interval === undefined ? DEFAULT_REFRESH_INTERVAL_MS : parseDuration(interval, 'sigstore-refresh-interval');
  if (intervalMs > 0 && intervalMs < 60_000) {
    throw new TrustgateError(ErrorCode.CONFIG_INVALID, `sigstore-refresh-interval must be 0 (on demand only) or at least 1m, got ${JSON.stringify(interval)}`);
  }
  if (url === undefined) {
    if (targetsUrl !== undefined || tufRootFile !== undefined) {
      throw new TrustgateError(ErrorCode.CONFIG_INVALID, 'a Sigstore TUF root or targets URL is configured without TRUSTGATE_SIGSTORE_TUF_URL / --sigstore-tuf-url');
    }
    return { intervalMs };
  }
  const metadataUrl = decodeMirrorUrl(url, 'sigstore-tuf-url');
  return {
    mirror: { metadataUrl, targetsUrl: targetsUrl === undefined ? `${metadataUrl}/targets` : decodeMirrorUrl(targetsUrl, 'TRUSTGATE_SIGSTORE_TUF_TARGETS_URL') },
    ...(tufRootFile === undefined ? {} : { tufRootFile }),
    intervalMs,
  };
}

// https, or plain http to a loopback host only; no credentials, query or fragment (they would
// be sent to, or confuse the paths tuf-js appends to, every URL of the mirror).
function decodeMirrorUrl(text: string, name: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new TrustgateError(ErrorCode.CONFIG_INVALID, `${name} is not a URL: got ${JSON.stringify(text.slice(0, 100))}`);
  }
  const plainLoopback = url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname);
  if (url.protocol !== 'https:' && !plainLoopback) {
    throw new TrustgateError(ErrorCode.CONFIG_INVALID, `${name} must be an https URL (plain http only on loopback), got ${JSON.stringify(url.protocol)}`);
  }
  if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '') {
    throw new TrustgateError(ErrorCode.CONFIG_INVALID, `${name} must not carry credentials, a query or a fragment`);
  }
  return url.href.replace(/\/+$/, '');
}
