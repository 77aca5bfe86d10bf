// The bring-up of the mail VM as commands, children of MailcowVm: the guest-agent steps from the
// Proxmox node, then the cloud-init check and every other step over SSH as the deploy user, each
// after the one before. The steps and their scripts come from the renderer (render/mailcow-host.ts).
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import type * as proxmox from "@muhlba91/pulumi-proxmoxve";
import { HOST_READY_MARKER } from "../render/cloud-init";
import { sha256Hex } from "../render/hash";
import { installAndRun } from "../render/host-scripts";
import { stepAliases, stepResourceName, type BringUpStep } from "../render/mailcow-host";
import { guestStepScript } from "../render/proxmox";

type Connection = command.types.input.remote.ConnectionArgs;

export interface BringUpCommandsInput {
  readonly vm: proxmox.VmLegacy;
  /** What the first step waits for (the host key read: the guest agent answers by then). */
  readonly after: pulumi.Resource;
  /** Root on the Proxmox node (the guest-agent steps). */
  readonly nodeConnection: Connection;
  /** The deploy user on the VM (every other step). */
  readonly connection: Connection;
  /**
   * Which steps there are, in which order and which hold secrets: the renderer's list for the
   * configuration alone (not for generated keys or passwords), rendered without secrets.
   */
  readonly steps: readonly BringUpStep[];
  /** The steps rendered with their secrets (the secret steps' stdin). */
  readonly withSecrets: pulumi.Output<readonly BringUpStep[]>;
  /** The steps rendered without secrets (readable, installed on the host as they run). */
  readonly withoutSecrets: pulumi.Output<readonly BringUpStep[]>;
}

/**
 * The name a bring-up step's command had before stepResourceName stopped the doubled prefix, as an
 * alias: a stack that has it keeps the command (no delete and create; test/renamed-resources.test.ts).
 */
function stepAliasOption(component: string, step: string): pulumi.CustomResourceOptions {
  const aliases = stepAliases(component, step);
  return aliases.length > 0 ? { aliases } : {};
}

/** One command per bring-up step, by step name, in the order they run. */
export function bringUpCommands(
  name: string,
  parent: pulumi.Resource,
  input: BringUpCommandsInput,
): Map<string, command.remote.Command> {
  const { vm, connection } = input;
  // Checked over SSH as the deploy user once the guest-agent steps (admin-access) have made sure
  // that user exists: a VM deployed before it did gets it there first.
  const cloudInitCheck = (after: pulumi.Resource) =>
    new command.remote.Command(
      `${name}-cloud-init`,
      {
        connection,
        create: `cloud-init status --wait >/dev/null || true; test -f ${HOST_READY_MARKER} || { echo "mailstack host setup failed: see /var/log/cloud-init-output.log" >&2; exit 1; }`,
        triggers: [vm.id],
      },
      { parent, dependsOn: [vm, after] },
    );

  // The guest-agent steps follow `after`; the SSH steps follow them and the cloud-init check.
  let previous: pulumi.Resource = input.after;
  let cloudInitDone: command.remote.Command | undefined;
  const commands = new Map<string, command.remote.Command>();
  input.steps.forEach((step, index) => {
    const rendered = (all: readonly BringUpStep[]): BringUpStep => {
      const found = all[index];
      if (found?.name !== step.name) throw new Error(`internal: bring-up step ${index} is not ${step.name}`);
      return found;
    };
    let created: command.remote.Command;
    if (step.via === "guest-agent") {
      // Through the guest agent from the node (render/scripts/guest-step.sh): independent of any
      // SSH identity in the VM, so it can create the deploy user on a VM deployed before it.
      if (step.secret || cloudInitDone) throw new Error(`internal: guest-agent step ${step.name} is misplaced`);
      const stdin = pulumi
        .all([vm.vmId, input.withoutSecrets])
        .apply(([vmId, all]) => guestStepScript(vmId, step.name, installAndRun(rendered(all).script)));
      created = new command.remote.Command(
        stepResourceName(name, step.name),
        {
          connection: input.nodeConnection,
          create: "bash -s",
          stdin,
          // Again on a new VM (harmless after its first boot) and whenever the script changes.
          triggers: [vm.id, stdin.apply(sha256Hex)],
          logging: "stdoutAndStderr",
        },
        { parent, dependsOn: [previous], ...stepAliasOption(name, step.name) },
      );
    } else {
      if (!cloudInitDone) {
        cloudInitDone = cloudInitCheck(previous);
        previous = cloudInitDone;
      }
      const stdin = step.secret
        ? pulumi.secret(input.withSecrets.apply((all) => rendered(all).script.content))
        : input.withoutSecrets.apply((all) => installAndRun(rendered(all).script));
      created = new command.remote.Command(
        stepResourceName(name, step.name),
        {
          connection,
          create: "sudo bash -s",
          stdin,
          // A new script (new content) runs again; unchanged ones never re-run.
          triggers: [stdin.apply(sha256Hex)],
          logging: step.secret ? "none" : "stdoutAndStderr",
        },
        {
          parent,
          dependsOn: [previous],
          ...(step.secret ? { additionalSecretOutputs: ["stdout", "stderr"] } : {}),
          ...stepAliasOption(name, step.name),
        },
      );
    }
    previous = created;
    commands.set(step.name, created);
  });
  return commands;
}
