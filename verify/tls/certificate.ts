// Judging a server certificate (pure): the chain verdict Node's TLS client reached, the name,
// the time left (warn below 21 days, fail below 7), the key and the signature hash.
import { checkServerIdentity, type PeerCertificate } from "node:tls";
import type { X509Certificate } from "node:crypto";

export const EXPIRY_WARN_DAYS = 21;
export const EXPIRY_FAIL_DAYS = 7;

export type Level = "pass" | "warn" | "fail";
export interface Finding {
  readonly check:
    "certificate-chain" | "certificate-name" | "certificate-expiry" | "certificate-key" | "certificate-signature";
  readonly level: Level;
  readonly message: string;
}

/** Reads one DER TLV at `offset`: [tag, content start, end]. */
function tlv(der: Buffer, offset: number): [number, number, number] {
  const tag = der[offset] ?? 0;
  let length = der[offset + 1] ?? 0;
  let start = offset + 2;
  if (length & 0x80) {
    const bytes = length & 0x7f;
    length = 0;
    for (let i = 0; i < bytes; i++) length = length * 256 + (der[start + i] ?? 0);
    start += bytes;
  }
  return [tag, start, start + length];
}

function oidText(der: Buffer): string {
  const first = der[0] ?? 0;
  const parts = [Math.floor(first / 40), first % 40];
  let value = 0;
  for (const byte of der.subarray(1)) {
    value = value * 128 + (byte & 0x7f);
    if (!(byte & 0x80)) {
      parts.push(value);
      value = 0;
    }
  }
  return parts.join(".");
}

const SIGNATURE_OIDS: Readonly<Record<string, string>> = {
  "1.2.840.113549.1.1.4": "md5WithRSAEncryption",
  "1.2.840.113549.1.1.5": "sha1WithRSAEncryption",
  "1.2.840.113549.1.1.11": "sha256WithRSAEncryption",
  "1.2.840.113549.1.1.12": "sha384WithRSAEncryption",
  "1.2.840.113549.1.1.13": "sha512WithRSAEncryption",
  "1.2.840.113549.1.1.10": "rsassaPss",
  "1.2.840.10045.4.1": "ecdsa-with-SHA1",
  "1.2.840.10045.4.3.2": "ecdsa-with-SHA256",
  "1.2.840.10045.4.3.3": "ecdsa-with-SHA384",
  "1.2.840.10045.4.3.4": "ecdsa-with-SHA512",
  "1.3.101.112": "Ed25519",
  "1.3.101.113": "Ed448",
};

/** The certificate's signatureAlgorithm (RFC 5280 §4.1.1.2): the field after tbsCertificate. */
export function signatureAlgorithm(certificate: X509Certificate): string {
  const der = certificate.raw;
  const [, outerStart] = tlv(der, 0);
  const [, , tbsEnd] = tlv(der, outerStart);
  const [, algStart] = tlv(der, tbsEnd);
  const [oidTag, oidStart, oidEnd] = tlv(der, algStart);
  if (oidTag !== 0x06) return "unknown";
  const oid = oidText(der.subarray(oidStart, oidEnd));
  return SIGNATURE_OIDS[oid] ?? oid;
}

export interface ChainVerdict {
  readonly authorized: boolean;
  readonly authorizationError?: string;
}

export function judgeCertificate(
  host: string,
  chain: readonly X509Certificate[],
  verdict: ChainVerdict,
  now: Date,
): Finding[] {
  const leaf = chain[0];
  if (!leaf) return [{ check: "certificate-chain", level: "fail", message: "the server presented no certificate" }];
  const findings: Finding[] = [];
  findings.push(
    verdict.authorized
      ? {
          check: "certificate-chain",
          level: "pass",
          message: `the chain to ${
            chain[chain.length - 1]?.issuer
              .split("\n")
              .find((l) => l.startsWith("CN="))
              ?.slice(3) ?? "a trusted root"
          } verifies`,
        }
      : {
          check: "certificate-chain",
          level: "fail",
          message: `the chain does not verify: ${verdict.authorizationError ?? "untrusted"}`,
        },
  );
  const identity = checkServerIdentity(host, {
    subject: {},
    subjectaltname: leaf.subjectAltName ?? "",
  } as PeerCertificate);
  findings.push(
    identity === undefined
      ? { check: "certificate-name", level: "pass", message: `the certificate names ${host}` }
      : {
          check: "certificate-name",
          level: "fail",
          message: `the certificate does not name ${host} (${leaf.subjectAltName ?? "no subjectAltName"})`,
        },
  );
  const days = (new Date(leaf.validTo).getTime() - now.getTime()) / 86_400_000;
  const notBefore = new Date(leaf.validFrom).getTime();
  findings.push(
    notBefore > now.getTime()
      ? { check: "certificate-expiry", level: "fail", message: `the certificate is valid only from ${leaf.validFrom}` }
      : days < 0
        ? { check: "certificate-expiry", level: "fail", message: `the certificate expired on ${leaf.validTo}` }
        : days < EXPIRY_FAIL_DAYS
          ? {
              check: "certificate-expiry",
              level: "fail",
              message: `the certificate expires in ${days.toFixed(1)} days (${leaf.validTo})`,
            }
          : days < EXPIRY_WARN_DAYS
            ? {
                check: "certificate-expiry",
                level: "warn",
                message: `the certificate expires in ${days.toFixed(1)} days (${leaf.validTo}): renewal is late`,
              }
            : {
                check: "certificate-expiry",
                level: "pass",
                message: `the certificate is valid for ${Math.floor(days)} more days`,
              },
  );
  const details = leaf.publicKey.asymmetricKeyDetails ?? {};
  const type = leaf.publicKey.asymmetricKeyType;
  if (type === "rsa" || type === "rsa-pss") {
    const bits = details.modulusLength ?? 0;
    findings.push(
      bits >= 3072
        ? { check: "certificate-key", level: "pass", message: `RSA ${bits}` }
        : {
            check: "certificate-key",
            level: bits >= 2048 ? "warn" : "fail",
            message: `RSA ${bits} (internet.nl rates RSA < 3072 ${bits >= 2048 ? "phase out" : "insufficient"})`,
          },
    );
  } else if (type === "ec") {
    const curve = details.namedCurve ?? "?";
    findings.push(
      ["prime256v1", "secp384r1", "secp521r1"].includes(curve)
        ? { check: "certificate-key", level: "pass", message: `ECDSA ${curve}` }
        : { check: "certificate-key", level: "fail", message: `ECDSA on ${curve} (not a curve internet.nl accepts)` },
    );
  } else {
    findings.push({ check: "certificate-key", level: "pass", message: `${type ?? "unknown"} key` });
  }
  const algorithm = signatureAlgorithm(leaf);
  findings.push(
    /sha1|md5/i.test(algorithm)
      ? { check: "certificate-signature", level: "fail", message: `the certificate is signed with ${algorithm}` }
      : { check: "certificate-signature", level: "pass", message: `signed with ${algorithm}` },
  );
  return findings;
}
