// A TLSA record means nothing without DNSSEC (RFC 6698 §1): publish it only in signed zones.
import { RULES } from "../../common/policy-catalog";
import { dnsRecords, stackRule } from "../lib";
import { dnssecZones } from "./dnssec";

export const dnssecForTlsa = stackRule(RULES.tlsaNeedsDnssec, {
  description: "TLSA records only in zones with DNSSEC active.",
  remediationSteps:
    "Turn DNSSEC on for the zone (mailstack:dns.dnssec) or stop publishing TLSA (mailstack:dns.dane false).",
  validateStack: (args, report) => {
    const signed = dnssecZones(args.resources);
    for (const record of dnsRecords(args.resources).filter((r) => r.type === "TLSA")) {
      if (!signed.has(record.zoneId))
        report(
          `TLSA ${record.name} is in zone ${record.zoneId}, which is not DNSSEC-signed: set mailstack:dns.dnssec true, or mailstack:dns.dane false`,
          record.urn,
        );
    }
  },
});
