// Every Cloudflare zone the stack writes records to serves HTTPS with TLS 1.2+ and TLS 1.3 on
// (the MTA-STS policy, autoconfig and the Worker are served by Cloudflare's edge).
import { RULES } from "../../common/policy-catalog";
import { TYPES, dnsRecords, unknownProps, stackRule, knownString } from "../lib";

const MIN_TLS = ["1.2", "1.3"];
const TLS13_ON = ["on", "zrt"];

export const zoneTls12 = stackRule(RULES.zoneTls, {
  description: "Every Cloudflare zone with records has min_tls_version 1.2 or higher and TLS 1.3 on.",
  remediationSteps: "Let MailDnsZone manage the zone settings (min_tls_version, tls_1_3) with mailstack:tlsMinVersion.",
  validateStack: (args, report) => {
    const settings = new Map<string, Map<string, { value: string | undefined; urn: string }>>();
    for (const r of args.resources.filter((r) => r.type === TYPES.zoneSetting)) {
      const zone = knownString(() => unknownProps(r).zoneId);
      const id = knownString(() => unknownProps(r).settingId);
      if (!zone || !id) continue;
      const value = knownString(() => unknownProps(r).value);
      const own = settings.get(zone) ?? new Map<string, { value: string | undefined; urn: string }>();
      settings.set(zone, own.set(id, { value, urn: r.urn }));
      if (id === "min_tls_version" && value !== undefined && !MIN_TLS.includes(value)) {
        report(`zone ${zone} accepts TLS ${value}: set min_tls_version to "1.2" or "1.3"`, r.urn);
      }
      if (id === "tls_1_3" && value !== undefined && !TLS13_ON.includes(value)) {
        report(`zone ${zone} has TLS 1.3 "${value}": set tls_1_3 to "on"`, r.urn);
      }
    }
    const zones = new Map<string, string>();
    for (const record of dnsRecords(args.resources))
      if (!zones.has(record.zoneId)) zones.set(record.zoneId, record.urn);
    for (const [zone, urn] of zones) {
      const own = settings.get(zone);
      if (!own?.has("min_tls_version"))
        report(
          `zone ${zone} carries records but the stack sets no min_tls_version: declare the zone with MailDnsZone (it sets "1.2")`,
          urn,
        );
      if (!own?.has("tls_1_3"))
        report(
          `zone ${zone} carries records but the stack does not turn TLS 1.3 on: declare the zone with MailDnsZone (it sets tls_1_3 "on")`,
          urn,
        );
    }
  },
});
