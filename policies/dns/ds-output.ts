// The DS record of every signed zone is a stack output, so the registrar team can publish it.
import { RULES } from "../../common/policy-catalog";
import { TYPES, asRecord, isKnown, readUnlessUnknown, unknownProps, stackRule, knownString } from "../lib";

export const dsOutput = stackRule(RULES.dsOutput, {
  description: "The DS record of every DNSSEC zone is exported as the stack output zones.<zone>.ds.",
  remediationSteps: "Export each MailDnsZone's ds in the stack output zones (index.ts does this).",
  validateStack: (args, report) => {
    const stack = args.resources.find((r) => r.type === TYPES.stack);
    if (!stack) return;
    const zones = readUnlessUnknown(() => asRecord(unknownProps(stack).zones));
    if (!isKnown(zones)) return;
    // zone id → its exported DS (UNKNOWN while a preview cannot know it).
    const exported = new Map<string, unknown>();
    for (const name of Object.keys(zones)) {
      const zoneId = knownString(() => asRecord(zones[name]).zoneId) ?? name;
      exported.set(
        zoneId,
        readUnlessUnknown(() => asRecord(zones[name]).ds),
      );
    }
    for (const r of args.resources.filter((r) => r.type === TYPES.zoneDnssec)) {
      const zone = knownString(() => unknownProps(r).zoneId);
      if (!zone) continue;
      const ds = exported.get(zone);
      if (!isKnown(ds)) continue;
      if (typeof ds !== "string" || ds.trim() === "")
        report(
          `zone ${zone} is signed but its DS record is not in the stack output zones.<zone>.ds: export the ZoneDnssec's DS (index.ts outputs)`,
          r.urn,
        );
    }
  },
});
