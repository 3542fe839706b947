// Decodes the freshness window and max-stale settings (flags or env) once, at the edge.
// Durations are written `1500ms`, `30s`, `15m`, `1h`, or a bare number of seconds.
import { ErrorCode, TrustgateError } from '../errors.js';
import { DEFAULT_FRESHNESS_MS, DEFAULT_MAX_STALE_MS } from '../trust/notary/notary-verifier.js';

export interface FreshnessConfig {
  readonly freshnessMs: number;
  readonly maxStaleMs: number;
}

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };
// A day bounds both: longer windows would defeat the freshness checks they relax.
const MAX_MS = 24 * 3_600_000;

export function parseDuration(text: string, name: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  const ms = match?.[1] === undefined ? Number.NaN : Math.round(Number(match[1]) * (UNIT_MS[match[2] ?? 's'] ?? Number.NaN));
  if (!Number.isFinite(ms) || ms > MAX_MS) {
    throw new TrustgateError(ErrorCode.CONFIG_INVALID, `${name} is not a duration: expected e.g. 30s, 15m or 1500ms (at most 24h), got ${JSON.stringify(text.slice(0, 40))}`);
  }
  return ms;
}

// Flag values win over TRUSTGATE_FRESHNESS / TRUSTGATE_MAX_STALE; defaults 30 s and 15 min.
export function decodeFreshnessConfig(
  flags: { readonly freshness?: string | undefined; readonly maxStale?: string | undefined },
  env: Readonly<Record<string, string | undefined>>,
): FreshnessConfig {
  const pick = (flag: string | undefined, envName: string): string | undefined => flag ?? (env[envName] === '' ? undefined : env[envName]);
  const freshness = pick(flags.freshness, 'TRUSTGATE_FRESHNESS');
  const maxStale = pick(flags.maxStale, 'TRUSTGATE_MAX_STALE');
  return {
    freshnessMs: freshness === undefined ? DEFAULT_FRESHNESS_MS : parseDuration(freshness, 'freshness'),
    maxStaleMs: maxStale === undefined ? DEFAULT_MAX_STALE_MS : parseDuration(maxStale, 'max-stale'),
  };
}
