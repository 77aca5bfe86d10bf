// DANE for SMTP (RFC 7672): the TLSA RRset at _25._tcp.<mx> validates and one of its records
// matches the certificate the MX presents after STARTTLS on 25, over IPv4 and over IPv6. A
// published record that matches nothing but is the stack's next key is a pending rollover.
import { createHash, type X509Certificate } from "node:crypto";
import type { Context } from "../context";
import { edeText, recordsOf } from "../dns/client";
import { fail, pass, warn, type Result } from "../result";

export interface Tlsa {
  readonly usage: number;
  readonly selector: number;
  readonly matchingType: number;
  readonly data: Buffer;
}

export const tlsaText = (tlsa: Tlsa) =>
  `${tlsa.usage} ${tlsa.selector} ${tlsa.matchingType} ${tlsa.data.toString("hex")}`;

function selected(certificate: X509Certificate, selector: number): Buffer | undefined {
  if (selector === 0) return certificate.raw;
  if (selector === 1) return certificate.publicKey.export({ type: "spki", format: "der" });
  return undefined;
}

function matched(data: Buffer, matchingType: number): Buffer | undefined {
  if (matchingType === 0) return data;
  if (matchingType === 1) return createHash("sha256").update(data).digest();
  if (matchingType === 2) return createHash("sha512").update(data).digest();
  return undefined;
}

/** Whether a TLSA record matches a presented chain (RFC 6698 §2.1, RFC 7671 §5; usages 2 and 3 only, RFC 7672 §3.1.3). */
export function tlsaMatches(tlsa: Tlsa, chain: readonly X509Certificate[]): boolean {
  const candidates = tlsa.usage === 3 ? chain.slice(0, 1) : tlsa.usage === 2 ? chain.slice(1) : [];
  return candidates.some((certificate) => {
    const data = selected(certificate, tlsa.selector);
    const digest = data && matched(data, tlsa.matchingType);
    return digest !== undefined && digest.equals(tlsa.data);
  });
}

/** The 3 1 1 record a certificate needs. */
export function tlsaFor(certificate: X509Certificate): string {
  return `3 1 1 ${createHash("sha256")
    .update(certificate.publicKey.export({ type: "spki", format: "der" }))
    .digest("hex")}`;
}

export async function daneChecks(context: Context): Promise<Result[]> {
  if (!context.wants("dane")) return [];
  const smtp =
    context.target.endpoints.find((endpoint) => endpoint.name === "smtp") ??
    context.target.endpoints.find((e) => e.port === 25);
  if (!smtp) return [];
  const results: Result[] = [];
  const published = new Set((context.target.tlsa?.values ?? []).map((value) => value.toLowerCase()));
  for (const mx of new Set(context.target.domains.map((domain) => domain.mx))) {
    const name = `_25._tcp.${mx}`;
    const subject = { host: mx, port: 25 };
    const lookup = await context.lookup(name, "TLSA");
    const records: Tlsa[] = recordsOf(lookup.data, "TLSA").map((r) => ({
      usage: r.data.usage,
      selector: r.data.selector,
      matchingType: r.data.matchingType,
      data: r.data.certificate,
    }));
    if (records.length === 0) {
      results.push(
        fail(
          "dane",
          "dane-tlsa",
          { ...subject, host: name },
          `no TLSA record at ${name} (${lookup.data.rcode})`,
          "turn on mailstack:dns.dane (with DNSSEC) and run `pulumi up`; the stack publishes 3 1 1 of the server key",
        ),
      );
      continue;
    }
    let validated = lookup.response.rcode === "NOERROR" && lookup.response.ad;
    let reason = validated
      ? ""
      : `the resolver answers ${lookup.response.rcode}${lookup.response.ad ? "" : " without AD"}${lookup.response.ede.length > 0 ? ` (${edeText(lookup.response.ede)})` : ""}`;
    const zone = context.target.zones
      .filter((z) => mx === z.name || mx.endsWith(`.${z.name}`))
      .sort((a, b) => b.name.length - a.name.length)[0];
    if (context.validator && zone) {
      const own = await context.validator.rrset(name, "TLSA", zone.name);
      if (!own.secure) {
        validated = false;
        reason = reason ? `${reason}; ${own.reason}` : own.reason;
      }
    }
    results.push(
      validated
        ? pass("dane", "dane-tlsa-validated", { ...subject, host: name }, `the TLSA RRset at ${name} validates`)
        : fail(
            "dane",
            "dane-tlsa-validated",
            { ...subject, host: name },
            `the TLSA RRset at ${name} does not validate: ${reason}; senders ignore DANE (or cannot deliver)`,
            "see the dnssec results of the MX host's zone",
          ),
    );
    const unusable = records.filter((r) => r.usage < 2);
    if (unusable.length > 0) {
      results.push(
        warn(
          "dane",
          "dane-tlsa-usage",
          { ...subject, host: name },
          `TLSA ${unusable.map(tlsaText).join(", ")} use PKIX usages, which SMTP ignores (RFC 7672 §3.1.3)`,
          "publish DANE-EE (3 1 1) records: mailstack does with mailstack:dns.dane",
        ),
      );
    }
    for (const { address, family } of context.addresses) {
      const findings = await context.tls(smtp, address);
      const at = { ...subject, address };
      const chain = findings.baseline.chain ?? [];
      if (!findings.baseline.ok || chain.length === 0) {
        results.push(
          fail(
            "dane",
            "dane-match",
            at,
            `no TLS session after STARTTLS on 25 over ${family}: ${findings.baseline.error ?? "no certificate"}`,
            "see the smtp and ports results",
          ),
        );
        continue;
      }
      const matching = records.filter((record) => tlsaMatches(record, chain));
      const others = records.filter((record) => !matching.includes(record) && record.usage >= 2);
      const pending = others.filter((record) => published.has(record.data.toString("hex")));
      const stale = others.filter((record) => !published.has(record.data.toString("hex")));
      if (matching.length === 0) {
        results.push(
          fail(
            "dane",
            "dane-match",
            at,
            `no TLSA record at ${name} matches the certificate presented over ${family} (it needs ${tlsaFor(chain[0] as X509Certificate)}; published: ${records.map(tlsaText).join(", ")})`,
            published.size > 0 && !records.some((r) => published.has(r.data.toString("hex")))
              ? "the published TLSA records are not the stack's: run `pulumi refresh` and `pulumi up`"
              : "the server presents another key than the stack's TLS key: mailcow's data/assets/ssl/key.pem (and ssl/<host>/key.pem) must be the stack's key; run `pulumi up` (see the DANE key rollover in the README)",
            { presented: tlsaFor(chain[0] as X509Certificate), published: records.map(tlsaText) },
          ),
        );
        continue;
      }
      const notes = [
        ...(pending.length > 0
          ? [`pending rollover key ${pending.map(tlsaText).join(", ")} is published and not presented yet`]
          : []),
      ];
      results.push(
        pass(
          "dane",
          "dane-match",
          at,
          `TLSA ${matching.map(tlsaText).join(", ")} matches the certificate presented over ${family}${notes.length > 0 ? `; ${notes.join("; ")}` : ""}`,
          {
            matching: matching.map(tlsaText),
            ...(pending.length > 0 ? { pending: pending.map(tlsaText) } : {}),
          },
        ),
      );
      if (stale.length > 0) {
        results.push(
          warn(
            "dane",
            "dane-stale",
            at,
            `TLSA ${stale.map(tlsaText).join(", ")} matches neither the presented certificate nor a key of the stack`,
            "delete the stale TLSA record(s) in Cloudflare: the stack publishes only the active key and, during a rollover, the next one",
          ),
        );
      }
    }
  }
  return results;
}
