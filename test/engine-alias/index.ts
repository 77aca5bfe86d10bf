// The engine test stack of test/engine-alias.test.ts: a component of MailcowVm's type named
// "mailcow" with one child for the bring-up step "mailcow-up", named and aliased as MailcowVm names
// and aliases its commands (render/mailcow-host.ts stepResourceName, stepAliases). The child is a
// dynamic resource (the command provider is not installed for the engine tests); the alias is
// resolved by the engine the same way whatever the child's type. Config `renamed`: false gives
// the name before the rename and no alias.
import * as pulumi from "@pulumi/pulumi";
import { TYPES } from "../../common/resource-types";
import { stepAliases, stepResourceName } from "../../render/mailcow-host";

const provider: pulumi.dynamic.ResourceProvider = {
  create: (inputs: Record<string, unknown>) => Promise.resolve({ id: "bring-up", outs: inputs }),
};

class Step extends pulumi.dynamic.Resource {
  constructor(name: string, props: { step: string }, opts?: pulumi.CustomResourceOptions) {
    super(provider, name, props, opts, "mailstack-engine-alias", "Step");
  }
}

const renamed = new pulumi.Config().requireBoolean("renamed");
const vm = new pulumi.ComponentResource(TYPES.mailcowVm, "mailcow");
const step = "mailcow-up";
const aliases = renamed ? stepAliases("mailcow", step) : [];
export const urn = new Step(
  renamed ? stepResourceName("mailcow", step) : `mailcow-${step}`,
  { step },
  {
    parent: vm,
    ...(aliases.length > 0 ? { aliases } : {}),
  },
).urn;
