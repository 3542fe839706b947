// Byte-level forgeries of served Notary metadata, as an attacker on the wire makes them.

interface SignedEnvelope {
  signed: unknown;
  signatures: { keyid: string; method: string; sig: string }[];
}

// Flips one bit in the first signature while leaving the JSON well-formed and the signed
// part untouched, so only signature verification can catch it.
export function flipSignatureBit(body: Buffer): Buffer {
  const envelope = JSON.parse(body.toString('utf8')) as SignedEnvelope;
  const first = envelope.signatures[0];
  if (first === undefined) throw new Error('metadata has no signature to tamper with');
  const sig = Buffer.from(first.sig, 'base64');
  sig[sig.length - 1] = (sig[sig.length - 1] ?? 0) ^ 0x01;
  first.sig = sig.toString('base64');
  return Buffer.from(JSON.stringify(envelope));
}

// Pads a JSON document with trailing whitespace to `size` bytes: still valid JSON with a
// valid signature, so only a size cap refuses it.
export function padToSize(body: Buffer, size: number): Buffer {
  if (body.length >= size) return body;
  return Buffer.concat([body, Buffer.alloc(size - body.length, 0x20)]);
}
