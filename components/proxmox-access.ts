// ProxmoxAccess: what the stack enforces on the Proxmox node itself. The provider has no TFA
// settings, so the admin realm's required second factor is set with pveum over SSH (host key
// pinned). Removing the resource leaves TFA on: weakening login security stays a manual step.
import { TYPES } from "../common/resource-types";
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { realmTfaScript } from "../render/proxmox";

export interface ProxmoxAccessArgs {
  readonly node: { readonly sshAddress: string; readonly sshUser: string; readonly sshHostKey: string };
  /** SSH private key for the node (secret). */
  readonly sshPrivateKey: pulumi.Input<string>;
  readonly adminRealm: string;
  readonly realmTfa: "oath" | "yubico";
}

export class ProxmoxAccess extends pulumi.ComponentResource {
  constructor(name: string, args: ProxmoxAccessArgs, opts?: pulumi.ComponentResourceOptions) {
    super(TYPES.proxmoxAccess, name, { node: args.node, adminRealm: args.adminRealm, realmTfa: args.realmTfa }, opts);
    const script = realmTfaScript(args.adminRealm, args.realmTfa);
    new command.remote.Command(
      `${name}-realm-tfa`,
      {
        connection: {
          host: args.node.sshAddress,
          user: args.node.sshUser,
          privateKey: args.sshPrivateKey,
          hostKey: args.node.sshHostKey,
        },
        create: "bash -s",
        stdin: script,
        triggers: [script],
      },
      { parent: this },
    );
    this.registerOutputs({ adminRealm: args.adminRealm, realmTfa: args.realmTfa });
  }
}
