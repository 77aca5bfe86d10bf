// Besides the VM backups next door, an encrypted copy of mailcow leaves the site (restic).
import { RULES } from "../../common/policy-catalog";
import { commandScripts, isKnown, isScript, readUnlessUnknown, unknownProps, stackRule, TYPES } from "../lib";

/** backup.conf's repository (render/backup.ts backupConf), on a remote backend. */
const REMOTE_REPOSITORY = /^RESTIC_REPOSITORY='(s3|b2|azure|gs|swift|rest|sftp|rclone):/m;

export const offsiteBackup = stackRule(RULES.offsiteBackup, {
  description: "The mail host backs mailcow up to an encrypted off-site restic repository.",
  remediationSteps: "Configure mailstack:backup.offsite (restic encrypts every repository).",
  validateStack: (args, report) => {
    const vms = args.resources.filter((r) => r.type === TYPES.vm);
    if (vms.length === 0) return;
    const commands = args.resources.filter((r) => r.type === TYPES.command);
    // The install (render/scripts/backup-install.sh, which ends with `mailstack-backup init`) and
    // the settings file it carries, with a remote repository.
    const installed = commands
      .map((r) => commandScripts(unknownProps(r)))
      .some(
        (texts) =>
          texts.some((text) => isScript(text, "backup-install")) && texts.some((text) => REMOTE_REPOSITORY.test(text)),
      );
    // A script only the apply knows may be the install: report it then, not in the preview.
    const unknownScript = commands.some((r) => !isKnown(readUnlessUnknown(() => unknownProps(r).stdin)));
    if (!installed && unknownScript) return;
    if (!installed) report("no encrypted off-site backup of mailcow: configure mailstack:backup.offsite", vms[0]?.urn);
  },
});
