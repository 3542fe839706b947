// SigV4 signing, checked against a signature AWS's own signer (@smithy/signature-v4 5.7.5)
// produced for the same request, credentials and instant.
import { describe, expect, it } from 'vitest';
import { encodeRfc3986, signRequest } from '../../../infra/remote-functions/aws-sigv4.js';
import { checkSigV4 } from '../../support/remote-function-stand-ins.js';

const CREDENTIALS = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', sessionToken: 'tok' };
const URL_ = new URL('https://abc.execute-api.eu-west-1.amazonaws.com/prod/functions/verify-image');
const BODY = '{"image":"a","namespace":"b"}';
const AT = new Date('2026-01-02T03:04:05Z');

describe('signRequest', () => {
  describe('for a POST to an HTTP API with a session token', () => {
    const headers = signRequest({ method: 'POST', url: URL_, headers: { 'Content-Type': 'application/json' }, body: BODY }, CREDENTIALS, { region: 'eu-west-1', service: 'execute-api' }, AT);

    it('produces the signature AWS\'s signer produces', () => {
      expect(headers['authorization']).toBe(
        'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260102/eu-west-1/execute-api/aws4_request, SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token, Signature=82ed4e7e1b51c6f4f4470c64b9ca23e38690071b4b744833645fba5457899384',
      );
      expect(headers).toMatchObject({ 'x-amz-date': '20260102T030405Z', 'x-amz-security-token': 'tok', host: URL_.host });
    });

    it('verifies under an independent recomputation, and not once the body changes', () => {
      const wire = { method: 'POST', url: URL_.pathname, headers, body: BODY };
      expect(checkSigV4(wire, CREDENTIALS, 'eu-west-1', 'execute-api')).toBeUndefined();
      expect(checkSigV4({ ...wire, body: BODY.replace('"a"', '"evil"') }, CREDENTIALS, 'eu-west-1', 'execute-api')).toBe('signature does not match');
    });
  });

  describe('without a session token', () => {
    it('signs no x-amz-security-token', () => {
      const { accessKeyId, secretAccessKey } = CREDENTIALS;
      const headers = signRequest({ method: 'POST', url: URL_, headers: {}, body: '' }, { accessKeyId, secretAccessKey }, { region: 'eu-west-1', service: 'execute-api' }, AT);
      expect(headers['x-amz-security-token']).toBeUndefined();
      expect(headers['authorization']).toContain('SignedHeaders=host;x-amz-content-sha256;x-amz-date,');
    });
  });
});

describe('encodeRfc3986', () => {
  it('encodes everything but unreserved characters', () => {
    expect(encodeRfc3986("a-b_c.d~e f!'()*/%")).toBe('a-b_c.d~e%20f%21%27%28%29%2A%2F%25');
  });
});
