// VerifySchedule: `npm run verify` on a schedule from a host that is not the mail VM (a
// monitoring or CI box), writing node_exporter textfile metrics. The bundle (verify with its
// npm dependencies in one file, verify/bundle.ts; gzip + base64 in transit and in the state) is
// copied over SFTP, then one script installs
// Node.js, the outputs to check against, the settings and a systemd timer (render/verify-schedule.ts).
// A StringAsset is written to remotePath over SFTP, relative to the SSH user's home, parent
// directories created (pulumi-command v1.2.1 provider/pkg/provider/remote/copyController.go).
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { showInPlan } from "./plan-files";
import {
  packBundle,
  sha256,
  verifyFiles,
  verifyInstallScript,
  VERIFY_PATHS,
  type VerifyHostInput,
} from "../render/verify-schedule";

export interface VerifyScheduleArgs extends VerifyHostInput {
  /** SSH to the verify host, verified with its host key. */
  readonly connection: {
    readonly host: string;
    readonly hostKey: string;
    readonly privateKey: pulumi.Input<string>;
  };
  /** The stack outputs verify checks against (no secrets). */
  readonly outputs: pulumi.Input<Record<string, unknown>>;
  /** The bundled verify (verify/bundle.ts). */
  readonly bundle: string;
  /** The host's name in the plan's files/<host>/ tree. */
  readonly planHost: string;
}

export class VerifySchedule extends pulumi.ComponentResource {
  constructor(name: string, args: VerifyScheduleArgs, opts?: pulumi.ComponentResourceOptions) {
    super(
      "mailstack:verify:VerifySchedule",
      name,
      { host: args.connection.host, schedule: args.schedule, textfileDirectory: args.textfileDirectory },
      opts,
    );
    const connection: command.types.input.remote.ConnectionArgs = {
      host: args.connection.host,
      user: args.sshUser,
      hostKey: args.connection.hostKey,
      privateKey: args.connection.privateKey,
    };
    const input: VerifyHostInput = {
      sshUser: args.sshUser,
      schedule: args.schedule,
      textfileDirectory: args.textfileDirectory,
      ...(args.resolver ? { resolver: args.resolver } : {}),
    };
    const packed = packBundle(args.bundle);
    const packedSha256 = sha256(packed);
    const copy = new command.remote.CopyToRemote(
      `${name}-bundle`,
      {
        connection,
        source: new pulumi.asset.StringAsset(packed),
        remotePath: VERIFY_PATHS.staged,
        triggers: [packedSha256],
      },
      { parent: this },
    );
    const outputsJson = pulumi.output(args.outputs).apply((outputs) => JSON.stringify(outputs, null, 2));
    const install = outputsJson.apply((json) => verifyInstallScript(input, json, packedSha256).content);
    const sudo = args.sshUser === "root" ? "" : "sudo ";
    // A change of the script, the host or the SSH user replaces the install: the old one is
    // deleted first (`delete` runs the old script from the state with `uninstall` on the old
    // host), then the new one runs. The connection alone would only update, running `create` on
    // the new host and leaving the old timer behind (pulumi-command v1.2.1: only `triggers` is
    // replaceOnChanges, provider/pkg/provider/common/inputs.go; Update runs create,
    // remote/commandController.go). Create-before-delete would uninstall what the new run installed.
    new command.remote.Command(
      `${name}-install`,
      {
        connection,
        create: `${sudo}bash -s`,
        delete: `${sudo}bash -s -- uninstall`,
        stdin: install,
        triggers: [install.apply(sha256), args.connection.host, args.sshUser],
        logging: "stdoutAndStderr",
      },
      { parent: this, dependsOn: [copy], deleteBeforeReplace: true },
    );
    showInPlan(
      outputsJson.apply((json) =>
        verifyFiles(input, json).map((file) => ({
          path: `files/${args.planHost}/${file.path.replace(/^\/+/, "")}`,
          content: file.content,
        })),
      ),
    );
    this.registerOutputs({});
  }
}
