import { describe, expect, it } from 'vitest';
import { decodeSigstoreRootConfig } from '../../../../shared/trust/sigstore/sigstore-root-config.js';

const HOUR_MS = 3_600_000;

describe('decodeSigstoreRootConfig', () => {
  describe('when no mirror is configured', () => {
    it('serves the shipped root only, refreshing nothing', () => {
      expect(decodeSigstoreRootConfig({}, {})).toEqual({ intervalMs: 24 * HOUR_MS });
    });

    it('rejects a TUF root file or targets URL without a mirror with CONFIG_INVALID', () => {
      expect(() => decodeSigstoreRootConfig({ tufRoot: 'root.json' }, {})).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
      expect(() => decodeSigstoreRootConfig({}, { TRUSTGATE_SIGSTORE_TUF_TARGETS_URL: 'https://tuf.example/targets' })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
    });
  });

  describe('when a mirror is configured', () => {
    it('takes the metadata URL and serves targets under /targets', () => {
      expect(decodeSigstoreRootConfig({}, { TRUSTGATE_SIGSTORE_TUF_URL: 'https://tuf.example/repo/' })).toEqual({
        mirror: { metadataUrl: 'https://tuf.example/repo', targetsUrl: 'https://tuf.example/repo/targets' },
        intervalMs: 24 * HOUR_MS,
      });
    });

    it('prefers the flag over the environment and takes the TUF root file and interval', () => {
      const config = decodeSigstoreRootConfig(
        { tufUrl: 'http://127.0.0.1:8080', tufRoot: 'root.json', refreshInterval: '6h' },
        { TRUSTGATE_SIGSTORE_TUF_URL: 'https://other.example', TRUSTGATE_SIGSTORE_TUF_TARGETS_URL: 'https://cdn.example/t' },
      );
      expect(config).toEqual({ mirror: { metadataUrl: 'http://127.0.0.1:8080', targetsUrl: 'https://cdn.example/t' }, tufRootFile: 'root.json', intervalMs: 6 * HOUR_MS });
    });

    it('accepts an interval of 0 (refresh on demand only)', () => {
      expect(decodeSigstoreRootConfig({ tufUrl: 'https://tuf.example', refreshInterval: '0' }, {}).intervalMs).toBe(0);
    });

    it.each([
      ['plain http off loopback', { tufUrl: 'http://tuf.example' }],
      ['credentials in the URL', { tufUrl: 'https://user:secret@tuf.example' }],
      ['a query', { tufUrl: 'https://tuf.example/?x=1' }],
      ['not a URL', { tufUrl: 'tuf.example' }],
      ['an interval under a minute', { tufUrl: 'https://tuf.example', refreshInterval: '30s' }],
      ['an interval over a day', { tufUrl: 'https://tuf.example', refreshInterval: '48h' }],
    ])('rejects %s with CONFIG_INVALID', (_name, flags) => {
      expect(() => decodeSigstoreRootConfig(flags, {})).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
    });
  });
});
