// Every mail domain asks for TLS reports (RFC 8460), so MTA-STS and DANE failures are seen.
import { RULES } from "../../common/policy-catalog";
import { dnsRecords, stackRule, txtText } from "../lib";

export const tlsRpt = stackRule(RULES.tlsRpt, {
  description: "Every domain with an MX record publishes a TLS-RPT record (_smtp._tls) with a rua.",
  remediationSteps: "Set mailstack:tlsRpt.rua (MailDnsZone publishes v=TLSRPTv1; rua=…).",
  validateStack: (args, report) => {
    const records = dnsRecords(args.resources);
    const reporting = new Set(
      records
        .filter(
          (r) =>
            r.type === "TXT" &&
            // A record whose content only the apply knows gets the benefit of the doubt.
            (r.contentUnknown === true || (r.content && /^v=TLSRPTv1\s*;.*\brua=\S+/i.test(txtText(r.content)))),
        )
        .map((r) => r.name),
    );
    const seen = new Set<string>();
    for (const mx of records.filter((r) => r.type === "MX")) {
      if (seen.has(mx.name)) continue;
      seen.add(mx.name);
      if (!reporting.has(`_smtp._tls.${mx.name}`))
        report(
          `mail domain ${mx.name} publishes no TLS-RPT record at _smtp._tls.${mx.name}: set mailstack:tlsRpt.rua`,
          mx.urn,
        );
    }
  },
});
