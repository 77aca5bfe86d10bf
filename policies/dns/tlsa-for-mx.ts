// DANE for inbound mail: every MX host has a TLSA record on port 25 (RFC 7672).
import { RULES } from "../../common/policy-catalog";
import { dnsName, dnsRecords, stackRule } from "../lib";

export const tlsaForMx = stackRule(RULES.tlsaForMx, {
  description: "Every MX host has a TLSA record at _25._tcp.<host>.",
  remediationSteps: "Keep mailstack:dns.dane true (with DNSSEC) so MailDnsZone publishes TLSA 3 1 1 for the mail host.",
  validateStack: (args, report) => {
    const records = dnsRecords(args.resources);
    const tlsa = new Set(records.filter((r) => r.type === "TLSA").map((r) => r.name));
    for (const mx of records.filter((r) => r.type === "MX" && r.content)) {
      const host = dnsName(mx.content ?? "");
      if (host === "" || host === ".") continue;
      if (!tlsa.has(`_25._tcp.${host}`))
        report(`MX ${mx.name} → ${host} has no TLSA record at _25._tcp.${host}: keep mailstack:dns.dane true`, mx.urn);
    }
  },
});
