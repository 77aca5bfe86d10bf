// The mailstack-security CrossGuard pack: `pulumi preview --policy-pack policies`.
// Staging lowers its relaxable rules with the config the offline plan writes:
// `--policy-pack-config out/<stack>/policy-config.json`.
import { PolicyPack } from "@pulumi/policy";
import { policies } from "./rules";

new PolicyPack("mailstack-security", {
  description: "TLS 1.2+, DNSSEC and DANE, 2FA, mail authentication, exposure and backups of a mailstack deployment",
  enforcementLevel: "mandatory",
  policies,
});
