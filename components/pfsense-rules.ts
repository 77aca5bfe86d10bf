// PfSenseRules: the mail host's firewall and NAT on pfSense. The rule plan comes from the pure
// firewallPlan(); this class turns it into marker-owned pfSense objects and applies them once,
// after all of them (the provider confirms pfSense loaded the rules).
import { TYPES } from "../common/resource-types";
import * as pulumi from "@pulumi/pulumi";
import { firewallTable, markerOf, rulePlacement, type FirewallPlan } from "../render/firewall-plan";
import { applyRevision, PfSenseApply, PfSenseObject } from "../providers/pfsense/resources";
import { PfSenseRemoteSyslog, remoteSyslogSpec } from "../providers/pfsense/syslog";
import { showInPlan } from "./plan-files";

export interface PfSenseRulesArgs {
  readonly plan: FirewallPlan;
  readonly connection: {
    readonly endpoint: string;
    readonly apiKey: pulumi.Input<string>;
    readonly caCertificate?: string;
    /** mailstack:apiConcurrency: at most this many requests in flight to the API. */
    readonly concurrency?: number;
  };
  /** Where pfSense sends its firewall log (the mail host's receiver), from which interface. */
  readonly remoteSyslog?: { readonly address: string; readonly port: number; readonly sourceInterface: string };
}

export class PfSenseRules extends pulumi.ComponentResource {
  /** The rules as a readable table (also written by the plan as firewall.md). */
  readonly ruleTable: string;

  constructor(name: string, args: PfSenseRulesArgs, opts?: pulumi.ComponentResourceOptions) {
    super(
      TYPES.pfSenseRules,
      name,
      {
        plan: args.plan,
        endpoint: args.connection.endpoint,
        ...(args.remoteSyslog ? { remoteSyslog: args.remoteSyslog } : {}),
      },
      opts,
    );
    const connection = pulumi.secret(pulumi.output(args.connection));

    const aliases = args.plan.aliases.map(
      ({ key, ...spec }) =>
        new PfSenseObject(
          `${name}-${key}`,
          { connection, kind: "alias", marker: markerOf(spec.descr), spec: { ...spec } },
          { parent: this },
        ),
    );
    const forwards = args.plan.portForwards.map(
      ({ key, ...spec }) =>
        new PfSenseObject(
          `${name}-${key}`,
          { connection, kind: "port_forward", marker: markerOf(spec.descr), spec: { ...spec } },
          { parent: this, dependsOn: aliases },
        ),
    );
    // Filter rules in plan order, one after the other: each is placed next to the stack's rule
    // before it on its interface, the first at the interface's anchor (render/firewall-plan.ts).
    let previous: pulumi.Resource[] = aliases;
    const rules = args.plan.rules.map((planned) => {
      const { key, ...spec } = planned;
      const placement = rulePlacement(args.plan, planned);
      const rule = new PfSenseObject(
        `${name}-${key}`,
        { connection, kind: "rule", marker: markerOf(spec.descr), spec: { ...spec }, placement },
        { parent: this, dependsOn: previous },
      );
      previous = [rule];
      return rule;
    });
    // Runs after any object was written: a plan change, a drift fix or a re-created object.
    const objects = [...aliases, ...forwards, ...rules];
    const revision = pulumi.all(objects.map((object) => object.writeId)).apply(applyRevision);
    new PfSenseApply(`${name}-apply`, { connection, revision }, { parent: this, dependsOn: objects });

    if (args.remoteSyslog) {
      const { sourceInterface, ...server } = args.remoteSyslog;
      new PfSenseRemoteSyslog(
        `${name}-remote-syslog`,
        { connection, spec: remoteSyslogSpec(server, sourceInterface) },
        { parent: this },
      );
    }

    this.ruleTable = firewallTable(args.plan);
    showInPlan([
      { path: "firewall.json", content: `${JSON.stringify(args.plan, null, 2)}\n` },
      { path: "firewall.md", content: this.ruleTable },
    ]);
    this.registerOutputs({});
  }
}
