// Every zone the stack writes records to is DNSSEC-signed (DANE and MTA-STS rely on it).
import { RULES } from "../../common/policy-catalog";
import { TYPES, dnsRecords, unknownProps, stackRule, knownString } from "../lib";

/**
 * Cloudflare's DNSSEC states that mean "signed": "active", and "pending" (signed, waiting for the
 * DS record at the registrar, which only the first deployment's output gives). Absent means the
 * resource's default, active.
 */
const SIGNED = new Set([undefined, "active", "pending"]);

/** The zones whose DNSSEC is on. */
export function dnssecZones(resources: Parameters<typeof dnsRecords>[0]): Set<string> {
  const zones = new Set<string>();
  for (const r of resources.filter((r) => r.type === TYPES.zoneDnssec)) {
    const zone = knownString(() => unknownProps(r).zoneId);
    if (zone && SIGNED.has(knownString(() => unknownProps(r).status))) zones.add(zone);
  }
  return zones;
}

export const dnssec = stackRule(RULES.dnssec, {
  description: "Every zone that carries records has DNSSEC active.",
  remediationSteps:
    "Keep mailstack:dns.dnssec true and publish the DS record (stack output zones.<zone>.ds) at the registrar.",
  validateStack: (args, report) => {
    for (const r of args.resources.filter((r) => r.type === TYPES.zoneDnssec)) {
      const status = knownString(() => unknownProps(r).status);
      if (!SIGNED.has(status))
        report(
          `DNSSEC of zone ${knownString(() => unknownProps(r).zoneId) ?? r.name} is "${status}": set status "active" (mailstack:dns.dnssec true)`,
          r.urn,
        );
    }
    const signed = dnssecZones(args.resources);
    const reported = new Set<string>();
    for (const record of dnsRecords(args.resources)) {
      if (signed.has(record.zoneId) || reported.has(record.zoneId)) continue;
      reported.add(record.zoneId);
      report(
        `zone ${record.zoneId} carries records (${record.name}) but DNSSEC is not on: set mailstack:dns.dnssec true`,
        record.urn,
      );
    }
  },
});
