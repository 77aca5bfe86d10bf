// DNSSEC: every zone validates through the resolver (AD), the chain from the trust anchor holds
// (the DS at the parent matches a DNSKEY of the zone: the registrar hand-off happened, and it is
// the DS the stack reports), every declared RRset is signed by the zone, and each MX host
// validates too.
import type * as dnsPacket from "dns-packet";
import type { DeclaredRecord } from "../../render/dns-record";
import type { Context } from "../context";
import { edeText, recordsOf } from "../dns/client";
import { canonicalName, dsMatches, dsText, keyTag, type Chain } from "../dns/dnssec";
import { fail, pass, warn, type Result } from "../result";
import { groupRecords } from "./records";

const REGISTRAR_FIX = (zone: string, ds?: string) =>
  `give the registrar of ${zone} the DS record ${ds ? `"${ds}"` : "from `pulumi stack output zones --json` (zones." + zone + ".ds)"} and remove any other DS there; it takes effect within the parent's DS TTL`;

function parseOutputDs(
  text: string,
): { keyTag: number; algorithm: number; digestType: number; digest: Buffer } | undefined {
  const match = /DS\s+(\d+)\s+(\d+)\s+(\d+)\s+([0-9a-f\s]+)$/i.exec(text.trim());
  if (!match) return undefined;
  return {
    keyTag: Number(match[1]),
    algorithm: Number(match[2]),
    digestType: Number(match[3]),
    digest: Buffer.from((match[4] ?? "").replace(/\s+/g, ""), "hex"),
  };
}

function chainResults(zone: string, chain: Chain, outputDs: string | undefined): Result[] {
  const subject = { domain: zone };
  if (!chain.secure) {
    if (chain.reason === "no-anchor") {
      return [
        warn(
          "dnssec",
          "dnssec-chain",
          subject,
          `${chain.problem}: the chain of trust was not checked`,
          "pass --trust-anchor FILE with the DNSSEC root (or lab) anchor",
        ),
      ];
    }
    const link = chain.link;
    const expected =
      link && link.dnskeys.length > 0
        ? link.dnskeys.filter((key) => key.flags & 1).map((key) => `${zone}. IN DS ${dsText(zone, key)}`)
        : [];
    const fix =
      chain.reason === "no-ds" || chain.reason === "ds-mismatch"
        ? REGISTRAR_FIX(zone, outputDs ?? expected[0])
        : chain.reason === "signature"
          ? `the signatures of ${chain.at} do not verify: if Cloudflare signs it, disable and re-enable DNSSEC only after removing the DS at the registrar; otherwise re-sign the zone`
          : `check that the resolver reaches the name servers of ${chain.at}`;
    return [
      fail(
        "dnssec",
        chain.reason === "no-ds" || chain.reason === "ds-mismatch" ? "dnssec-ds" : "dnssec-chain",
        subject,
        chain.problem,
        fix,
        {
          at: chain.at,
          ...(link
            ? {
                ds: link.ds.map(
                  (d) => `${d.keyTag} ${d.algorithm} ${d.digestType} ${d.digest.toString("hex").toUpperCase()}`,
                ),
                dnskeys: link.dnskeys.map(keyTag),
              }
            : {}),
        },
      ),
    ];
  }
  const link = chain.links[chain.links.length - 1];
  const results: Result[] = [];
  if (link && canonicalName(link.zone) === canonicalName(zone)) {
    const unmatched = link.ds.filter((ds) => !link.dnskeys.some((key) => dsMatches(zone, ds, key)));
    results.push(
      pass(
        "dnssec",
        "dnssec-ds",
        subject,
        `the DS at ${link.parent} matches the key ${link.matched.join(", ")} of ${zone}, which signs its DNSKEY set`,
      ),
    );
    if (unmatched.length > 0) {
      results.push(
        warn(
          "dnssec",
          "dnssec-ds-stale",
          subject,
          `${link.parent} also serves DS ${unmatched.map((d) => d.keyTag).join(", ")} that match no key of ${zone}`,
          `remove the stale DS record(s) at the registrar of ${zone}`,
        ),
      );
    }
    const expected = outputDs ? parseOutputDs(outputDs) : undefined;
    if (outputDs && !expected) {
      results.push(
        warn(
          "dnssec",
          "dnssec-ds-output",
          subject,
          `the stack's DS output "${outputDs}" is not a DS record`,
          "check zones.<zone>.ds in the stack outputs",
        ),
      );
    } else if (expected) {
      const served = link.ds.some(
        (ds) =>
          ds.keyTag === expected.keyTag &&
          ds.algorithm === expected.algorithm &&
          ds.digestType === expected.digestType &&
          ds.digest.equals(expected.digest),
      );
      const sameKey = link.dnskeys.some((key) => dsMatches(zone, expected, key));
      if (served)
        results.push(
          pass(
            "dnssec",
            "dnssec-ds-output",
            subject,
            `the parent serves the DS the stack reports (${expected.keyTag})`,
          ),
        );
      else {
        results.push(
          (sameKey ? warn : fail)(
            "dnssec",
            "dnssec-ds-output",
            subject,
            sameKey
              ? `the parent's DS is another digest of the same key than the stack reports (${outputDs})`
              : `the stack reports DS ${outputDs}, which the parent does not serve and which matches no key of the zone`,
            REGISTRAR_FIX(zone, outputDs),
          ),
        );
      }
    }
  } else {
    results.push(pass("dnssec", "dnssec-chain", subject, `the chain of trust reaches ${zone}`));
  }
  return results;
}

async function resolverResult(context: Context, zone: string): Promise<Result> {
  const subject = { domain: zone };
  try {
    const response = await context.dns.query(zone, "SOA");
    if (response.rcode === "NOERROR" && response.ad && recordsOf(response, "SOA").length > 0) {
      return pass("dnssec", "dnssec-validates", subject, `the resolver validates ${zone} (AD)`);
    }
    return fail(
      "dnssec",
      "dnssec-validates",
      subject,
      `the resolver ${response.rcode === "NOERROR" ? "answers SOA without the AD flag" : `answers ${response.rcode}`}${response.ede.length > 0 ? ` (${edeText(response.ede)})` : ""}: validating receivers ${response.rcode === "NOERROR" ? "treat the zone as unsigned (DANE is ignored)" : "cannot resolve the zone at all"}`,
      response.rcode === "NOERROR"
        ? `turn DNSSEC on for ${zone} (mailstack:dns.dnssec) and ${REGISTRAR_FIX(zone)}; if it is on, the resolver does not validate: pass --resolver with a validating one`
        : `see the other dnssec results for ${zone}; ${REGISTRAR_FIX(zone)}`,
    );
  } catch (error) {
    return fail(
      "dnssec",
      "dnssec-validates",
      subject,
      (error as Error).message,
      "pass --resolver with a reachable validating resolver",
    );
  }
}

/** Every declared RRset validates: AD through the resolver and (with a trust anchor) its own signature. */
async function rrsetResults(context: Context, zone: string, records: readonly DeclaredRecord[]): Promise<Result[]> {
  const problems: Result[] = [];
  const groups = groupRecords(records);
  for (const group of groups) {
    const first = group[0];
    if (!first) continue;
    const type = first.type as dnsPacket.RecordType;
    const subject = { domain: zone, host: first.name };
    const lookup = await context.lookup(first.name, type);
    if (lookup.unchecked?.rcode !== "NOERROR" && lookup.response.rcode !== "NOERROR") continue; // not served: records reports it
    if (lookup.response.rcode === "NOERROR" && lookup.data.answers.filter((a) => a.type === type).length === 0)
      continue;
    let own: string | undefined;
    if (context.validator) {
      const check = await context.validator.rrset(first.name, type, zone);
      if (!check.secure) own = check.reason;
    }
    if (!lookup.response.ad || own !== undefined) {
      const resolverSays = lookup.response.ad
        ? "the resolver validates it"
        : `the resolver answers ${lookup.response.rcode}${lookup.response.rcode === "NOERROR" ? " without AD" : ""}${lookup.response.ede.length > 0 ? ` (${edeText(lookup.response.ede)})` : ""}`;
      problems.push(
        fail(
          "dnssec",
          `dnssec-rrset-${type.toLowerCase()}`,
          subject,
          `${type} ${first.name} does not validate: ${resolverSays}${own !== undefined ? `; ${own}` : ""}`,
          `the answer is not signed by ${zone}'s keys: check that the record is served by the zone's name servers (Cloudflare) and not altered on the way; if the zone's keys changed, ${REGISTRAR_FIX(zone)}`,
        ),
      );
    }
  }
  if (problems.length > 0) return problems;
  return [
    pass(
      "dnssec",
      "dnssec-rrset",
      { domain: zone },
      `all ${groups.length} declared RRsets of ${zone} validate${context.validator ? " (resolver AD and their own signatures)" : " (resolver AD)"}`,
    ),
  ];
}

export async function dnssecChecks(context: Context): Promise<Result[]> {
  if (!context.wants("dnssec")) return [];
  const results: Result[] = [];
  await Promise.all(
    context.target.zones.map(async (zone) => {
      results.push(await resolverResult(context, zone.name));
      if (context.validator)
        results.push(...chainResults(zone.name, await context.validator.chain(zone.name), zone.ds));
      else {
        results.push(
          warn(
            "dnssec",
            "dnssec-chain",
            { domain: zone.name },
            "no trust anchor: only the resolver's AD flag was checked",
            "pass --trust-anchor FILE (Debian: /usr/share/dns/root.key from dns-root-data)",
          ),
        );
      }
      if (zone.records) results.push(...(await rrsetResults(context, zone.name, zone.records)));
    }),
  );
  // Each MX host validates (the host's zone may not be a hosted domain).
  for (const mx of new Set(context.target.domains.map((domain) => domain.mx))) {
    for (const type of ["A", "AAAA"] as const) {
      const lookup = await context.lookup(mx, type);
      const subject = { host: mx };
      results.push(
        lookup.response.rcode === "NOERROR" && lookup.response.ad
          ? pass("dnssec", "dnssec-mx-host", subject, `${type} ${mx} validates (AD)`)
          : fail(
              "dnssec",
              "dnssec-mx-host",
              subject,
              `${type} ${mx} does not validate: the resolver answers ${lookup.response.rcode}${lookup.response.ad ? "" : " without AD"}${lookup.response.ede.length > 0 ? ` (${edeText(lookup.response.ede)})` : ""}`,
              "DANE needs the MX host's zone signed and validating: see the dnssec results of the host's zone",
            ),
      );
    }
  }
  return results;
}
