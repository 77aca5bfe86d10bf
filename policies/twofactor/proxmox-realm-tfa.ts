// The Proxmox realm the admins log in with requires TFA; the provider has no setting for it,
// so the stack sets it with `pveum realm modify <realm> --tfa type=oath` on the node
// (render/scripts/realm-tfa.sh, its REALM and TFA_TYPE settings).
import type { PolicyResource } from "@pulumi/policy";
import { RULES } from "../../common/policy-catalog";
import { commandScripts, isScript, propsOf, scriptSettings, stackRule, str, TYPES } from "../lib";

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
    const covered = realmsWithTfa(args.resources);
    // The realm the admins use, as the stack declares it (ProxmoxAccess); "pve" when none says.
    const access = args.resources.filter((r) => r.type === TYPES.proxmoxAccess);
    const wanted = access.flatMap((r) => {
      const realm = str(() => propsOf(r).adminRealm);
      return realm ? [realm] : [];
    });
    if (covered.length === 0) {
      report(
        "no command requires TFA for the Proxmox admin realm (pveum realm modify <realm> --tfa type=oath): keep ProxmoxAccess in the stack",
        vms[0]?.urn,
      );
      return;
    }
    for (const realm of wanted.filter((realm) => !covered.includes(realm)))
      report(
        `the admins log in through realm "${realm}", but TFA is required only for ${covered.map((r) => `"${r}"`).join(", ")}: set mailstack:proxmox.adminRealm to the realm the admins use`,
        access[0]?.urn,
      );
  },
});
