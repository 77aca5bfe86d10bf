// pfSense's configuration leaves the site with mailcow's: reported (advisory) when the stack drives
// a pfSense but does not back its config.xml up. Advisory, not mandatory: pfSense is often backed up
// outside the stack (Netgate's AutoConfigBackup, an HA peer's config sync, the operator's own
// routine), which the stack cannot see, and the stack's path needs SSH on pfSense, which an
// operator may keep off on purpose.
import { RULES } from "../../common/policy-catalog";
import { commandScripts, isScript, stackRule, TYPES, unknownProps } from "../lib";

export const pfSenseConfigBackup = stackRule(RULES.pfSenseConfigBackup, {
  description: "The stack backs pfSense's config.xml up into the off-site repository.",
  remediationSteps:
    "Set mailstack:pfsense.configBackup (with its hostKey), or record where pfSense's configuration is backed up instead.",
  validateStack: (args, report) => {
    const pfsense = args.resources.find((r) => r.type === TYPES.pfsenseRule || r.type === TYPES.pfsenseForward);
    if (!pfsense) return;
    const user = args.resources.some((r) => r.type === TYPES.pfsenseUser);
    // The install (render/scripts/pfsense-backup-install.sh, which ends with the tool's `init`).
    const installed = args.resources
      .filter((r) => r.type === TYPES.command)
      .some((r) => commandScripts(unknownProps(r)).some((text) => isScript(text, "pfsense-backup-install")));
    if (!(user && installed))
      report(
        "pfSense's configuration is not backed up by the stack: set mailstack:pfsense.configBackup, or record where config.xml is backed up (e.g. AutoConfigBackup)",
        pfsense.urn,
      );
  },
});
