// The Proxmox realm the admins log in with requires TFA; the provider has no setting for it,
// so the stack sets it with `pveum realm modify <realm> --tfa type=oath` on the node
// (render/scripts/realm-tfa.sh, its REALM and TFA_TYPE settings). The rule judges that command
// (a custom resource); the realm comes from mailstack:proxmox.adminRealm.
import type { PolicyResource } from "@pulumi/policy";
import { RULES } from "../../common/policy-catalog";
import { commandScripts, isScript, scriptSettings, stackRule, TYPES } from "../lib";

/** A literal command an operator writes. */
const REALM_TFA = /pveum realm modify (\S+) --tfa type=(oath|yubico)\b/;

/** The realms a stack's commands put under TFA. */
export function realmsWithTfa(resources: readonly PolicyResource[]): string[] {
  return resources
    .filter((r) => r.type === TYPES.command)
    .flatMap((r) => commandScripts(r.props))
    .flatMap((script) => {
      if (isScript(script, "realm-tfa")) {
        const { REALM: realm, TFA_TYPE: type } = scriptSettings(script);
        return realm && (type === "oath" || type === "yubico") ? [realm] : [];
      }
      const match = REALM_TFA.exec(script);
      return match?.[1] ? [match[1]] : [];
    });
}

export const proxmoxRealmTfa = stackRule(RULES.proxmoxTfa, {
  description: "The Proxmox realm used by admins requires TFA, set by the stack through a command on the node.",
  remediationSteps:
    "Keep the stack's proxmox-realm-tfa command (mailstack:proxmox.adminRealm, mailstack:proxmox.realmTfa).",
  validateStack: (args, report) => {
    const vms = args.resources.filter((r) => r.type === TYPES.vm);
    if (vms.length === 0) return;
    // The command is rendered from mailstack:proxmox.adminRealm; the realm it names is the admins'.
    if (realmsWithTfa(args.resources).length === 0)
      report(
        "no command requires TFA for the Proxmox admin realm (pveum realm modify <realm> --tfa type=oath): keep ProxmoxAccess in the stack",
        vms[0]?.urn,
      );
  },
});
