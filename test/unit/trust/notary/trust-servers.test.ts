import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../../shared/errors.js';
import { normaliseTrustServerUrl, selectTrustServer } from '../../../../shared/trust/notary/trust-servers.js';
import { trustedStateKey } from '../../../../shared/trust/notary/trusted-state-store.js';
import { errorCodeOf } from '../../../support/trustgate-errors.js';

describe('selectTrustServer', () => {
  it('uses Docker Hub\'s notary for docker.io images when none is given', () => {
    expect(selectTrustServer('docker.io', undefined)).toBe('https://notary.docker.io');
  });

  it('uses quay.io\'s notary for quay.io images when none is given, normalised like a named one', () => {
    expect(selectTrustServer('quay.io', undefined)).toBe('https://quay.io');
  });

  it('gives the default and a policy naming the same server one cache key', () => {
    const key = (server: string): string => trustedStateKey(server, 'quay.io/team/app', { kind: 'root' });
    expect(key(selectTrustServer('quay.io', undefined))).toBe(key(selectTrustServer('quay.io', 'https://quay.io')));
    expect(key(selectTrustServer('quay.io', undefined))).toBe(key(selectTrustServer('quay.io', 'quay.io:443')));
  });

  it('refuses other registries without an explicit server with TRUST_SERVER_UNKNOWN', () => {
    expect(errorCodeOf(() => selectTrustServer('registry.example.com', undefined))).toBe(ErrorCode.TRUST_SERVER_UNKNOWN);
  });

  it('prefers the given server over the default', () => {
    expect(selectTrustServer('docker.io', 'https://notary.internal:4443/')).toBe('https://notary.internal:4443');
  });
});

describe('normaliseTrustServerUrl', () => {
  it('adds https to a bare host', () => {
    expect(normaliseTrustServerUrl('notary.example.com')).toBe('https://notary.example.com');
  });

  it('accepts plain http on loopback only', () => {
    expect(normaliseTrustServerUrl('http://127.0.0.1:4443')).toBe('http://127.0.0.1:4443');
    expect(errorCodeOf(() => normaliseTrustServerUrl('http://notary.example.com'))).toBe(ErrorCode.CONFIG_INVALID);
  });

  it('refuses URLs with credentials, queries or other schemes', () => {
    expect(errorCodeOf(() => normaliseTrustServerUrl('https://user:pw@notary.example.com'))).toBe(ErrorCode.CONFIG_INVALID);
    expect(errorCodeOf(() => normaliseTrustServerUrl('https://notary.example.com/?x=1'))).toBe(ErrorCode.CONFIG_INVALID);
    expect(errorCodeOf(() => normaliseTrustServerUrl('file:///etc/passwd'))).toBe(ErrorCode.CONFIG_INVALID);
  });

  it('answers the same URL again from its memo, and refuses a bad one every time', () => {
    expect(normaliseTrustServerUrl('notary.example.com:4443/')).toBe('https://notary.example.com:4443');
    expect(normaliseTrustServerUrl('notary.example.com:4443/')).toBe('https://notary.example.com:4443');
    expect(errorCodeOf(() => normaliseTrustServerUrl('http://notary.example.com'))).toBe(ErrorCode.CONFIG_INVALID);
    expect(errorCodeOf(() => normaliseTrustServerUrl('http://notary.example.com'))).toBe(ErrorCode.CONFIG_INVALID);
  });
});
