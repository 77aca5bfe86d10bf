// The pfSense resources the stack declares, served by the one pfSense dynamic provider.
import { createHash } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import type { PfSenseKind } from "./client";
import type { RulePlacement } from "./placement";
import { pfSenseProvider } from "./provider";

/** The apply's revision: changes whenever any of the objects was written. */
export function applyRevision(writeIds: readonly (string | undefined)[]): string {
  return createHash("sha256")
    .update(writeIds.map((id) => id ?? "").join("\n"))
    .digest("hex");
}

type Connection = pulumi.Input<{
  endpoint: pulumi.Input<string>;
  apiKey: pulumi.Input<string>;
  caCertificate?: pulumi.Input<string>;
}>;

const TYPES: Readonly<Record<PfSenseKind, string>> = {
  alias: "FirewallAlias",
  rule: "FirewallRule",
  port_forward: "PortForward",
};

/** One pfSense object (alias, filter rule or port forward) owned through its marker. */
export class PfSenseObject extends pulumi.dynamic.Resource {
  declare readonly position: pulumi.Output<number>;
  declare readonly spec: pulumi.Output<Record<string, unknown>>;
  declare readonly writeId: pulumi.Output<string>;

  constructor(
    name: string,
    args: {
      connection: Connection;
      kind: PfSenseKind;
      marker: string;
      spec: Record<string, unknown>;
      placement?: RulePlacement;
    },
    opts?: pulumi.CustomResourceOptions,
  ) {
    super(
      pfSenseProvider,
      name,
      { ...args, position: undefined, inPlace: undefined, writeId: undefined },
      { ...opts, additionalSecretOutputs: ["connection"] },
      "pfsense",
      TYPES[args.kind],
    );
  }
}

/** Applies the objects' changes once, after all of them, and confirms pfSense loaded the rules. */
export class PfSenseApply extends pulumi.dynamic.Resource {
  declare readonly applied: pulumi.Output<boolean>;

  constructor(
    name: string,
    args: { connection: Connection; revision: pulumi.Input<string> },
    opts?: pulumi.CustomResourceOptions,
  ) {
    super(
      pfSenseProvider,
      name,
      { ...args, kind: "apply", applied: undefined },
      { ...opts, additionalSecretOutputs: ["connection"] },
      "pfsense",
      "Apply",
    );
  }
}
