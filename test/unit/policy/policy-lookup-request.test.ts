import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../shared/errors.js';
import { decodePolicyLookupRequest } from '../../../shared/policy/policy-lookup-request.js';
import { thrownError } from '../../support/trustgate-errors.js';

function problemsOf(input: unknown): string[] {
  const error = thrownError(() => decodePolicyLookupRequest(input));
  expect(error.code).toBe(ErrorCode.REQUEST_INVALID);
  return error.problems.map((p) => p.path);
}

describe('decodePolicyLookupRequest', () => {
  describe('when the request is well formed', () => {
    it('normalises the image and keeps the namespace', () => {
      expect(decodePolicyLookupRequest({ image: 'nginx', namespace: 'team-a' })).toEqual({
        image: { registry: 'docker.io', repository: 'library/nginx', tag: 'latest' },
        namespace: 'team-a',
      });
    });
  });

  describe('when the image reference is invalid', () => {
    it('lists the field image', () => {
      expect(problemsOf({ image: 'Reg/UPPER:v1', namespace: 'default' })).toEqual(['image']);
    });
  });

  describe('when fields are missing or malformed', () => {
    it('lists every bad field at once', () => {
      expect(problemsOf({ image: 7, namespace: 'Team_A', extra: true })).toEqual(['extra', 'image', 'namespace']);
    });

    it('requires both image and namespace', () => {
      expect(problemsOf({})).toEqual(['image', 'namespace']);
    });

    it.each([null, [], 'nginx', 3])('refuses %j as the request', (input) => {
      expect(problemsOf(input)).toEqual(['']);
    });
  });
});
