// The X.509 fields root-certificate checks need, read straight from the DER:
// node:crypto's X509Certificate exposes neither the signature algorithm nor the subject
// as structured values (its `subject` is a printed string an attacker can shape).
import { DerTag, decodeDirectoryString, decodeOid, decodeTime, readChildren, readSingle, type DerElement } from './der.js';

const COMMON_NAME_OID = '2.5.4.3';

export interface CertificateFields {
  // Outer Certificate.signatureAlgorithm (RFC 5280 §4.1.1.2).
  readonly signatureAlgorithmOid: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  // Every subject CN value in order; unreadable CN encodings are omitted.
  readonly subjectCommonNames: readonly string[];
  // CN attributes whose value could not be read (unsupported string type).
  readonly unreadableCommonNames: number;
}

// Parses Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }
// and the tbsCertificate fields up to the subject. Undefined on any structural surprise.
export function readCertificateFields(der: Uint8Array): CertificateFields | undefined {
  const certificate = readSingle(der);
  if (certificate?.tag !== DerTag.SEQUENCE) return undefined;
  const [tbs, algorithm] = readChildren(certificate) ?? [];
  if (tbs?.tag !== DerTag.SEQUENCE || algorithm?.tag !== DerTag.SEQUENCE) return undefined;
  const algorithmOidElement = readChildren(algorithm)?.[0];
  const signatureAlgorithmOid = algorithmOidElement && decodeOid(algorithmOidElement);
  if (!signatureAlgorithmOid) return undefined;

  const fields = readChildren(tbs);
  if (!fields) return undefined;
  // version [0] EXPLICIT is optional (absent means v1).
  const rest = fields[0]?.tag === DerTag.CONTEXT_0 ? fields.slice(1) : fields;
  const [serial, , , validity, subject] = rest;
  if (serial?.tag !== DerTag.INTEGER || validity?.tag !== DerTag.SEQUENCE || subject?.tag !== DerTag.SEQUENCE) return undefined;
  const times = readChildren(validity);
  if (times?.length !== 2 || !times[0] || !times[1]) return undefined;
  const notBefore = decodeTime(times[0]);
  const notAfter = decodeTime(times[1]);
  if (!notBefore || !notAfter) return undefined;
  const names = readCommonNames(subject);
  if (!names) return undefined;
  return { signatureAlgorithmOid, notBefore, notAfter, ...names };
}

// Name ::= SEQUENCE OF RelativeDistinguishedName (SET OF AttributeTypeAndValue).
function readCommonNames(subject: DerElement): { subjectCommonNames: string[]; unreadableCommonNames: number } | undefined {
  const subjectCommonNames: string[] = [];
  let unreadableCommonNames = 0;
  for (const rdn of readChildren(subject) ?? [undefined]) {
    if (rdn?.tag !== DerTag.SET) return undefined;
    for (const attribute of readChildren(rdn) ?? [undefined]) {
      if (attribute?.tag !== DerTag.SEQUENCE) return undefined;
      const [type, value] = readChildren(attribute) ?? [];
      if (!type || !value) return undefined;
      if (decodeOid(type) !== COMMON_NAME_OID) continue;
      const text = decodeDirectoryString(value);
      if (text === undefined) unreadableCommonNames += 1;
      else subjectCommonNames.push(text);
    }
  }
  return { subjectCommonNames, unreadableCommonNames };
}
