import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { classicConfig, classicManifest, classicPayload, goString, signatureLayer } from '../../../shared/migrate/classic-signature.js';
import { checkPayload } from '../../../shared/trust/cosign/payload.js';

// A real cosign signature (containers/image fixtures): its payload, as cosign wrote it.
function fixturePayload(): Buffer {
  const file = readFileSync(fileURLToPath(new URL('../../fixtures/cosign/valid/signature-1', import.meta.url)));
  const json = JSON.parse(file.subarray(file.indexOf('{')).toString()) as { payload: string };
  return Buffer.from(json.payload, 'base64');
}

describe('classicPayload', () => {
  it('writes the payload byte for byte as cosign does when there are no annotations', () => {
    const payload = classicPayload('192.168.64.2:5000/cosign-signed-single-sample', 'sha256:634a8f35b5f16dcf4aaa0822adc0b1964bb786fca12f6831de8ddc45e5986a00', {});

    expect(payload.equals(fixturePayload())).toBe(true);
  });

  it('puts annotations in optional, keys sorted as Go sorts map keys, and stays a payload the verifier accepts', () => {
    const digest = `sha256:${'a'.repeat(64)}`;
    const payload = classicPayload('reg.example/app', digest, { 'trustgate.dev/notary-verified-at': '2030-01-01T00:00:00.000Z', 'trustgate.dev/notary-signers': 'targets,targets/releases' });

    expect(payload.toString()).toContain('"optional":{"trustgate.dev/notary-signers":"targets,targets/releases","trustgate.dev/notary-verified-at":"2030-01-01T00:00:00.000Z"}}');
    expect(checkPayload(payload, digest)).toEqual({ dockerReference: 'reg.example/app', digest });
  });
});

describe('goString', () => {
  it('escapes as Go encoding/json does (HTML-safe, \\u00XX for other control characters)', () => {
    expect(goString('a<b>&"\\\n\t\b\u2028')).toBe('"a\\u003cb\\u003e\\u0026\\"\\\\\\n\\t\\u0008\\u2028"');
  });
});

describe('classicManifest', () => {
  it('lists every layer in the config and the manifest in go-containerregistry field order', () => {
    const first = signatureLayer(Buffer.from('one'), 'c2ln');
    const second = signatureLayer(Buffer.from('two'), 'c2lnMg==');
    const config = classicConfig([first, second]);

    expect(config.toString()).toBe(
      `{"architecture":"","created":"0001-01-01T00:00:00Z","history":[{"created":"0001-01-01T00:00:00Z"},{"created":"0001-01-01T00:00:00Z"}],"os":"","rootfs":{"type":"layers","diff_ids":["${first.digest}","${second.digest}"]},"config":{}}`,
    );
    const manifest = classicManifest({ mediaType: 'application/vnd.oci.image.config.v1+json', size: 2, digest: `sha256:${'b'.repeat(64)}` }, [first]).toString();
    expect(manifest).toBe(
      `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","size":2,"digest":"sha256:${'b'.repeat(64)}"},"layers":[{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","size":3,"digest":"${first.digest}","annotations":{"dev.cosignproject.cosign/signature":"c2ln"}}]}`,
    );
  });
});
