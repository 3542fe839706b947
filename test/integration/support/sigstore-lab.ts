// A private Sigstore deployment for tests: a Fulcio-like CA (openssl) issuing short-lived
// code-signing certificates that carry an OIDC issuer (Fulcio's extension 1.3.6.1.4.1.57264.1.1)
// and a SAN identity, a Rekor-like log key signing entries' SETs, an RFC 3161 timestamp
// authority (`openssl ts`, its certificate under its own root), and the trusted_root.json
// naming all three; a second, rogue TSA that the root does not name. Keyless classic signatures are then written byte-exact as cosign writes them
// (payload layer, signature, certificate, chain and Rekor bundle annotations).
// The log's integrated time is the system clock's, the same clock openssl dates the
// certificates with, so the suite keeps passing with the clock moved.
import { createHash, createPrivateKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCommandOrThrow } from './run-command.js';

export interface SigstoreLab {
  readonly trustedRoot: Record<string, unknown>;
  // A certificate for `subject` from `issuer`, and its private key.
  issue(subject: string, issuer: string): Promise<{ certificatePem: string; privateKey: KeyObject }>;
  readonly caPem: string;
  // The Rekor bundle annotation for a signature over `payload` by the certificate.
  rekorBundle(payload: Buffer, signature: string, certificatePem: string): string;
  // cosign's RFC 3161 timestamp annotation for the raw signature bytes, from the root's TSA
  // or (`rogue`) from a TSA the root does not name.
  timestampAnnotation(signature: Buffer, tsa?: 'trusted' | 'rogue'): Promise<string>;
  // A Rekor v2 log entry (bundle JSON) for the v0.0.2 `body`, included as the second leaf of a
  // two-leaf tree whose checkpoint the root's v2 log (Ed25519) signs, or (`rogue`) a log
  // of the same name whose key the root does not name.
  rekorV2Entry(body: Readonly<Record<string, unknown>>, log?: 'trusted' | 'rogue'): Record<string, unknown>;
}

const V2_LOG_ORIGIN = 'log.test.invalid';

export async function createSigstoreLab(dir: string): Promise<SigstoreLab> {
  const path = (name: string): string => join(dir, name);
  const openssl = (args: readonly string[]): Promise<unknown> => runCommandOrThrow('openssl', args, { cwd: dir });
  await openssl([
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', path('fulcio.key'), '-out', path('fulcio.crt'),
    '-days', '3650', '-subj', '/O=trustgate test/CN=test fulcio', '-addext', 'basicConstraints=critical,CA:true', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  const caPem = await readFile(path('fulcio.crt'), 'utf8');
  const trustedTsa = await createTsa(dir, 'tsa');
  await createTsa(dir, 'rogue-tsa');
  const rekor = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const rekorDer = rekor.publicKey.export({ type: 'spki', format: 'der' });
  const logId = createHash('sha256').update(rekorDer).digest();
  const v2Log = generateKeyPairSync('ed25519');
  const rogueV2Log = generateKeyPairSync('ed25519');
  const v2LogId = noteKeyId(V2_LOG_ORIGIN, v2Log.publicKey);
  let serial = 0;
  let logIndex = 0;
  const trustedRoot = {
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    tlogs: [
      {
        baseUrl: 'https://rekor.test.invalid',
        hashAlgorithm: 'SHA2_256',
        publicKey: { rawBytes: rekorDer.toString('base64'), keyDetails: 'PKIX_ECDSA_P256_SHA_256', validFor: { start: '2000-01-01T00:00:00Z' } },
        logId: { keyId: logId.toString('base64') },
      },
      {
        baseUrl: `https://${V2_LOG_ORIGIN}`,
        hashAlgorithm: 'SHA2_256',
        publicKey: { rawBytes: v2Log.publicKey.export({ type: 'spki', format: 'der' }).toString('base64'), keyDetails: 'PKIX_ED25519', validFor: { start: '2000-01-01T00:00:00Z' } },
        logId: { keyId: v2LogId.toString('base64') },
      },
    ],
    certificateAuthorities: [
      {
        subject: { organization: 'trustgate test', commonName: 'test fulcio' },
        uri: 'https://fulcio.test.invalid',
        certChain: { certificates: [{ rawBytes: pemToDer(caPem).toString('base64') }] },
        validFor: { start: '2000-01-01T00:00:00Z' },
      },
    ],
    ctlogs: [],
    timestampAuthorities: [
      {
        subject: { organization: 'trustgate test', commonName: 'test tsa' },
        uri: 'https://tsa.test.invalid',
        certChain: { certificates: trustedTsa.map((pem) => ({ rawBytes: pemToDer(pem).toString('base64') })) },
        validFor: { start: '2000-01-01T00:00:00Z' },
      },
    ],
  };
  let queries = 0;
  return {
    trustedRoot,
    caPem,
    async issue(subject, issuer) {
      serial += 1;
      const name = `leaf-${serial}`;
      await openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', path(`${name}.key`), '-out', path(`${name}.csr`), '-subj', '/O=sigstore.dev']);
      const san = subject.includes('@') ? `email:${subject}` : `URI:${subject}`;
      await writeFile(
        path(`${name}.ext`),
        [
          `subjectAltName=critical,${san}`,
          'keyUsage=critical,digitalSignature',
          'extendedKeyUsage=codeSigning',
          'basicConstraints=critical,CA:false',
          `1.3.6.1.4.1.57264.1.1=DER:${Buffer.from(issuer, 'utf8').toString('hex')}`,
        ].join('\n') + '\n',
      );
      await openssl(['x509', '-req', '-in', path(`${name}.csr`), '-CA', path('fulcio.crt'), '-CAkey', path('fulcio.key'), '-set_serial', String(1000 + serial), '-days', '1', '-out', path(`${name}.crt`), '-extfile', path(`${name}.ext`)]);
      return { certificatePem: await readFile(path(`${name}.crt`), 'utf8'), privateKey: createPrivateKey(await readFile(path(`${name}.key`), 'utf8')) };
    },
    rekorBundle(payload, signature, certificatePem) {
      const body = Buffer.from(
        JSON.stringify({
          apiVersion: '0.0.1',
          kind: 'hashedrekord',
          spec: {
            data: { hash: { algorithm: 'sha256', value: createHash('sha256').update(payload).digest('hex') } },
            signature: { content: signature, publicKey: { content: Buffer.from(certificatePem).toString('base64') } },
          },
        }),
      ).toString('base64');
      logIndex += 1;
      const integratedTime = Math.floor(Date.now() / 1000);
      // RFC 8785: keys sorted, no spaces.
      const signed = `{"body":${JSON.stringify(body)},"integratedTime":${integratedTime},"logID":"${logId.toString('hex')}","logIndex":${logIndex}}`;
      const set = sign('sha256', Buffer.from(signed), rekor.privateKey).toString('base64');
      return JSON.stringify({ SignedEntryTimestamp: set, Payload: { body, integratedTime, logIndex, logID: logId.toString('hex') } });
    },
    rekorV2Entry(body, log = 'trusted') {
      const canonicalized = Buffer.from(JSON.stringify(body));
      const sibling = leafHash(Buffer.from('another entry'));
      const root = createHash('sha256').update(Buffer.from([1])).update(sibling).update(leafHash(canonicalized)).digest();
      const note = `${V2_LOG_ORIGIN}\n2\n${root.toString('base64')}\n`;
      const key = log === 'trusted' ? v2Log : rogueV2Log;
      const signature = Buffer.concat([noteKeyId(V2_LOG_ORIGIN, key.publicKey).subarray(0, 4), sign(null, Buffer.from(note), key.privateKey)]);
      return {
        logIndex: '1',
        logId: { keyId: v2LogId.toString('base64') },
        kindVersion: { kind: body['kind'], version: '0.0.2' },
        inclusionProof: {
          logIndex: '1',
          rootHash: root.toString('base64'),
          treeSize: '2',
          hashes: [sibling.toString('base64')],
          checkpoint: { envelope: `${note}\n\u2014 ${V2_LOG_ORIGIN} ${signature.toString('base64')}\n` },
        },
        canonicalizedBody: canonicalized.toString('base64'),
      };
    },
    async timestampAnnotation(signature, tsa = 'trusted') {
      queries += 1;
      const name = `ts-${queries}`;
      await writeFile(path(`${name}.bin`), signature);
      await openssl(['ts', '-query', '-data', path(`${name}.bin`), '-sha256', '-cert', '-out', path(`${name}.tsq`)]);
      const config = tsa === 'trusted' ? 'tsa' : 'rogue-tsa';
      await openssl(['ts', '-reply', '-config', path(`${config}.cnf`), '-queryfile', path(`${name}.tsq`), '-out', path(`${name}.tsr`)]);
      return JSON.stringify({ SignedRFC3161Timestamp: (await readFile(path(`${name}.tsr`))).toString('base64') });
    },
  };
}

// A timestamp authority under its own root: `<name>.cnf` is its `openssl ts -reply` config;
// returns its certificate chain (the signing certificate, then the root) as PEM.
async function createTsa(dir: string, name: string): Promise<readonly string[]> {
  const path = (file: string): string => join(dir, file);
  const openssl = (args: readonly string[]): Promise<unknown> => runCommandOrThrow('openssl', args, { cwd: dir });
  await openssl([
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', path(`${name}-root.key`), '-out', path(`${name}-root.crt`),
    '-days', '3650', '-subj', `/O=trustgate test/CN=${name} root`, '-addext', 'basicConstraints=critical,CA:true', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  await openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', path(`${name}.key`), '-out', path(`${name}.csr`), '-subj', `/O=trustgate test/CN=${name}`]);
  await writeFile(path(`${name}.ext`), 'keyUsage=critical,digitalSignature\nextendedKeyUsage=critical,timeStamping\nbasicConstraints=critical,CA:false\n');
  await openssl(['x509', '-req', '-in', path(`${name}.csr`), '-CA', path(`${name}-root.crt`), '-CAkey', path(`${name}-root.key`), '-set_serial', '7', '-days', '3650', '-out', path(`${name}.crt`), '-extfile', path(`${name}.ext`)]);
  await writeFile(path(`${name}.serial`), '01\n');
  await writeFile(
    path(`${name}.cnf`),
    [
      '[ tsa ]',
      'default_tsa = this_tsa',
      '[ this_tsa ]',
      `serial = ${path(`${name}.serial`)}`,
      `signer_cert = ${path(`${name}.crt`)}`,
      `signer_key = ${path(`${name}.key`)}`,
      'signer_digest = sha256',
      'default_policy = 1.3.6.1.4.1.57264.2',
      'digests = sha256',
      'accuracy = secs:1',
      'ordering = yes',
      'tsa_name = no',
      'ess_cert_id_chain = no',
      'ess_cert_id_alg = sha256',
    ].join('\n') + '\n',
  );
  return [await readFile(path(`${name}.crt`), 'utf8'), await readFile(path(`${name}-root.crt`), 'utf8')];
}

// A signed note's key ID for an Ed25519 key: SHA-256 of the name, a newline, the algorithm
// byte 0x01 and the raw key (its first 4 bytes prefix each signature; Rekor v2's log ID).
function noteKeyId(name: string, key: KeyObject): Buffer {
  const raw = key.export({ type: 'spki', format: 'der' }).subarray(-32);
  return createHash('sha256').update(`${name}\n`).update(Buffer.from([1])).update(raw).digest();
}

// RFC 6962 leaf hash.
function leafHash(data: Buffer): Buffer {
  return createHash('sha256').update(Buffer.from([0])).update(data).digest();
}

function pemToDer(pem: string): Buffer {
  return Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
}
