// A production VM cannot be deleted by accident: Proxmox protection and Pulumi's protect.
import { RULES } from "../../common/policy-catalog";
import { TYPES, isKnown, readUnlessUnknown, unknownProps, resourceRule } from "../lib";

export const deletionProtection = resourceRule(RULES.deletionProtection, {
  description: "The mail VM has Proxmox deletion protection and Pulumi protect on (mandatory in production).",
  remediationSteps: "Set mailstack:vm.protection true.",
  validateResource: (args, report) => {
    if (args.type !== TYPES.vm) return;
    const protection = readUnlessUnknown(() => unknownProps(args).protection);
    if (isKnown(protection) && protection !== true)
      report(`VM ${args.name} has no Proxmox deletion protection: set mailstack:vm.protection true`);
    if (!args.opts.protect)
      report(
        `VM ${args.name} is not protected in Pulumi: a mistaken change could delete it; declare it with protect: true`,
      );
  },
});
