// Components built directly with small arguments under the mock engine (plan/engine.ts), as
// pulumi-awsx's tests build theirs: no stack config, no prod example. Load this module with
// tsx's require (test/components.test.ts does): the dynamic providers of MailcowTenants and
// PfSenseRules must be serializable, which vitest's module transform would prevent.
import * as random from "@pulumi/random";
import { MailDnsZone, type MailDnsZoneArgs } from "../../components/mail-dns-zone";
import { MailcowTenants, type MailcowTenantsArgs } from "../../components/mailcow-tenants";
import { PfSenseRules, type PfSenseRulesArgs } from "../../components/pfsense-rules";
import { runProgram, type ProgramRun } from "../../plan/engine";

const options = { project: "components", stack: "test", config: {} };

/** Runs `build` as the whole program: the component and nothing else. */
function run(build: () => unknown): Promise<ProgramRun> {
  return runProgram(async () => {
    await build();
    return {};
  }, options);
}

export function planMailDnsZone(args: MailDnsZoneArgs): Promise<ProgramRun> {
  return run(() => new MailDnsZone("zone", args));
}

/** MailcowTenants after a stand-in for the VM's bring-up (a resource named "bring-up"). */
export function planMailcowTenants(args: Omit<MailcowTenantsArgs, "after">): Promise<ProgramRun> {
  return run(() => {
    const after = new random.RandomId("bring-up", { byteLength: 4 });
    return new MailcowTenants("tenants", { ...args, after }).declared;
  });
}

export function planPfSenseRules(args: PfSenseRulesArgs): Promise<ProgramRun> {
  return run(() => new PfSenseRules("pfsense", args));
}
