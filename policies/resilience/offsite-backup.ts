// Besides the VM backups next door, an encrypted copy of mailcow leaves the site (restic).
import { RULES } from "../levels";
import { commandScripts, stackRule, TYPES, isKnown, peek, propsOf } from "../lib";

const REMOTE_REPOSITORY = /RESTIC_REPOSITORY='(s3|b2|azure|gs|swift|rest|sftp|rclone):/;

export const offsiteBackup = stackRule(RULES.offsiteBackup, {
  description: "The mail host backs mailcow up to an encrypted off-site restic repository.",
  remediationSteps: "Configure mailstack:backup.offsite (restic encrypts every repository).",
  validateStack: (args, report) => {
    const vms = args.resources.filter((r) => r.type === TYPES.vm);
    if (vms.length === 0) return;
    const commands = args.resources.filter((r) => r.type === TYPES.command);
    const installed = commands
      .flatMap((r) => commandScripts(propsOf(r)))
      .some((script) => script.includes("mailstack-backup init") && REMOTE_REPOSITORY.test(script));
    // A script only the apply knows may be the install: report it then, not in the preview.
    const unknownScript = commands.some((r) => !isKnown(peek(() => propsOf(r).stdin)));
    if (!installed && unknownScript) return;
    if (!installed) report("no encrypted off-site backup of mailcow: configure mailstack:backup.offsite", vms[0]?.urn);
  },
});
