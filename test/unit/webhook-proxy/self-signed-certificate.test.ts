import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createCertificateAuthority, issueServerCertificate } from '../../../infra/webhook-proxy/self-signed-certificate.js';

const NOW = new Date('2026-06-01T00:00:00Z');

describe('issueServerCertificate', () => {
  const ca = createCertificateAuthority(NOW);
  const server = issueServerCertificate(ca, ['localhost', '127.0.0.1', '::1', 'trustgate.trustgate-system.svc'], NOW);
  const caCert = new X509Certificate(ca.certPem);
  const cert = new X509Certificate(server.certPem);

  describe('when the CA signs a server certificate', () => {
    it('makes a CA certificate that verifies itself', () => {
      expect(caCert.ca).toBe(true);
      expect(caCert.verify(caCert.publicKey)).toBe(true);
    });

    it('issues a non-CA certificate the CA verifies', () => {
      expect(cert.ca).toBe(false);
      expect(cert.checkIssued(caCert)).toBe(true);
      expect(cert.verify(caCert.publicKey)).toBe(true);
    });

    it('names every DNS name and IP address in subjectAltName', () => {
      expect(cert.checkHost('localhost')).toBe('localhost');
      expect(cert.checkHost('trustgate.trustgate-system.svc')).toBe('trustgate.trustgate-system.svc');
      expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1');
      expect(cert.subjectAltName).toContain('IP Address:0:0:0:0:0:0:0:1');
      expect(cert.checkHost('attacker.example')).toBeUndefined();
    });

    it('is for server authentication only, valid from a little before now', () => {
      expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);
      expect(new Date(cert.validFrom).getTime()).toBeLessThanOrEqual(NOW.getTime());
      expect(new Date(cert.validTo).getTime()).toBeGreaterThan(NOW.getTime());
    });

    it('pairs the certificate with its private key', () => {
      const fromKey = createPublicKey(createPrivateKey(server.keyPem)).export({ type: 'spki', format: 'der' });
      expect(Buffer.from(cert.publicKey.export({ type: 'spki', format: 'der' }))).toEqual(Buffer.from(fromKey));
    });
  });
});
