// BackupJob: the mail host's two backups. VM level: a Proxmox Backup Server storage with
// client-side encryption under a key the stack generates and keeps (a secret output, also written
// into the off-site backup), and a nightly snapshot job for the VM, both through the PVE API
// (providers/proxmox/; the bridged storage.Pbs/backup.Job cannot be used, see there).
// Application level: mailcow's own backup plus the DANE key, data/conf and mailcow.conf, pushed
// with restic to an off-site S3 repository by a systemd timer on the VM (render/backup.ts).
// Secrets reach the VM only over SSH stdin.
import { TYPES } from "../common/resource-types";
import { sha256Hex } from "../render/hash";
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { PveBackupJob, PvePbsStorage } from "../providers/proxmox/resources";
import { pbsKeyFile } from "../render/pbs-key";
import {
  backupFiles,
  backupInstallScript,
  backupSecretFiles,
  backupSecretsScript,
  BACKUP_PATHS,
  BIN_DIR,
  type OffsiteBackupInput,
  type Retention,
} from "../render/backup";
import { showInPlan } from "./plan-files";

export interface BackupJobArgs {
  /** The VM to back up: its Proxmox id and name. */
  readonly vm: { readonly id: pulumi.Input<number>; readonly name: string };
  readonly notifyEmail: string;
  readonly pbs?: {
    /** The Proxmox VE API: endpoint, API token (secret), optional pinned CA. */
    readonly api: {
      readonly endpoint: string;
      readonly token: pulumi.Input<string>;
      readonly caCertificate?: string;
    };
    /** Cluster-wide, unique per stack. */
    readonly storageId: string;
    readonly jobId: string;
    /** Marks the stack's job (a job with another comment is never adopted). */
    readonly comment: string;
    readonly server: string;
    readonly datastore: string;
    readonly namespace?: string;
    readonly username: string;
    readonly fingerprint: string;
    /** The Proxmox nodes that may use the storage. */
    readonly nodes: readonly string[];
    readonly schedule: string;
    readonly retention: Retention;
    /** PBS password or API token secret (secret). */
    readonly password: pulumi.Input<string>;
  };
  readonly offsite?: {
    readonly repository: string;
    /** The mail host's FQDN: the snapshots' host name. */
    readonly host: string;
    readonly schedule: string;
    readonly checkSchedule: string;
    readonly checkSubset: string;
    readonly maxAgeHours: number;
    readonly retention: Retention;
    /** Sender of failure mail (an address of a hosted domain). */
    readonly notifyFrom: string;
    readonly accessKeyId: pulumi.Input<string>;
    readonly secretAccessKey: pulumi.Input<string>;
    /** The password of an existing repository; generated when absent. */
    readonly repositoryPassword?: pulumi.Input<string>;
    /** SSH to the VM (the MailcowVm's connection) and what must have run before (mailcow is up). */
    readonly connection: command.types.input.remote.ConnectionArgs;
    readonly after: pulumi.Resource;
    /** The VM's name in the plan's files/<host>/ tree. */
    readonly planHost: string;
  };
}

/** Retention as Proxmox's prune-backups keys; zero means "not kept" and is left out. */
export function pruneBackups(retention: Retention): Record<string, number> {
  const keys: [keyof Retention, string][] = [
    ["daily", "keep-daily"],
    ["weekly", "keep-weekly"],
    ["monthly", "keep-monthly"],
    ["yearly", "keep-yearly"],
  ];
  return Object.fromEntries(keys.filter(([key]) => retention[key] > 0).map(([key, name]) => [name, retention[key]]));
}

/** Where the off-site backup keeps the PBS key, so a lost node's VM backups stay restorable. */
export const PBS_KEY_FILE = "/etc/mailstack/pbs-encryption-key.json";

export class BackupJob extends pulumi.ComponentResource {
  /** The PBS client-side encryption key file (secret): without it the VM backups cannot be restored. */
  readonly pbsEncryptionKey?: pulumi.Output<string>;
  /** Its fingerprint, as PVE and PBS show it (not secret). */
  readonly pbsKeyFingerprint?: pulumi.Output<string>;
  readonly pbsStorageId?: string;
  /** The off-site repository's restic password (secret): keep a copy outside the stack. */
  readonly resticPassword?: pulumi.Output<string>;
  /** The off-site tools, settings and secrets installed on the VM (the repository opened). */
  readonly offsiteInstalled?: pulumi.Resource;

  constructor(name: string, args: BackupJobArgs, opts?: pulumi.ComponentResourceOptions) {
    super(
      TYPES.backupJob,
      name,
      {
        vm: { name: args.vm.name },
        notifyEmail: args.notifyEmail,
        ...(args.pbs ? { pbs: { ...args.pbs, password: undefined, api: { endpoint: args.pbs.api.endpoint } } } : {}),
        ...(args.offsite
          ? {
              offsite: {
                repository: args.offsite.repository,
                schedule: args.offsite.schedule,
                checkSchedule: args.offsite.checkSchedule,
                retention: args.offsite.retention,
                encrypted: true,
              },
            }
          : {}),
      },
      opts,
    );

    let pbsKey: pulumi.Output<string> | undefined;
    if (args.pbs) {
      const pbs = args.pbs;
      const connection = pulumi.secret(
        pulumi.output({
          endpoint: pbs.api.endpoint,
          apiKey: pbs.api.token,
          ...(pbs.api.caCertificate ? { caCertificate: pbs.api.caCertificate } : {}),
        }),
      );
      // The key is the stack's: 32 random bytes in the file format of `proxmox-backup-client key
      // create --kdf none`. Rotating the PBS password or editing the storage never touches it.
      const keyBytes = new random.RandomBytes(`${name}-pbs-key`, { length: 32 }, { parent: this });
      pbsKey = pulumi.secret(keyBytes.base64.apply(pbsKeyFile));
      const storage = new PvePbsStorage(
        `${name}-pbs`,
        {
          connection,
          storage: pbs.storageId,
          server: pbs.server,
          datastore: pbs.datastore,
          ...(pbs.namespace ? { namespace: pbs.namespace } : {}),
          username: pbs.username,
          password: pbs.password,
          fingerprint: pbs.fingerprint,
          nodes: [...pbs.nodes],
          // Client-side encryption: PBS only ever sees encrypted chunks.
          encryptionKey: pbsKey,
        },
        { parent: this },
      );
      new PveBackupJob(
        `${name}-vm`,
        {
          connection,
          jobId: pbs.jobId,
          comment: pbs.comment,
          storage: storage.storage,
          vmids: [args.vm.id],
          schedule: pbs.schedule,
          mode: "snapshot",
          compress: "zstd",
          pruneBackups: pruneBackups(pbs.retention),
          mailNotification: "failure",
          mailTo: [args.notifyEmail],
          enabled: true,
          repeatMissed: true,
          notesTemplate: "{{guestname}} (mailstack)",
        },
        { parent: this },
      );
      this.pbsStorageId = pbs.storageId;
      this.pbsEncryptionKey = pbsKey;
      this.pbsKeyFingerprint = storage.keyFingerprint;
    }

    if (args.offsite) {
      const offsite = args.offsite;
      const input: OffsiteBackupInput = {
        repository: offsite.repository,
        host: offsite.host,
        retention: offsite.retention,
        schedule: offsite.schedule,
        checkSchedule: offsite.checkSchedule,
        checkSubset: offsite.checkSubset,
        maxAgeHours: offsite.maxAgeHours,
        notifyEmail: args.notifyEmail,
        notifySmtpUrl: "smtp://127.0.0.1:25",
        notifyFrom: offsite.notifyFrom,
        paths: BACKUP_PATHS,
      };
      const password =
        offsite.repositoryPassword ??
        new random.RandomPassword(`${name}-restic-password`, { length: 48, special: false }, { parent: this }).result;
      this.resticPassword = pulumi.secret(password);

      const secretsScript = pulumi.all([password, offsite.accessKeyId, offsite.secretAccessKey, pbsKey ?? ""]).apply(
        ([resticPassword, accessKeyId, secretAccessKey, pbsEncryptionKey]) =>
          backupSecretsScript(input, {
            resticPassword,
            accessKeyId,
            secretAccessKey,
            ...(pbsEncryptionKey ? { pbsEncryptionKey } : {}),
          }).content,
      );
      const secrets = new command.remote.Command(
        `${name}-offsite-secrets`,
        {
          connection: offsite.connection,
          create: "sudo bash -s",
          stdin: pulumi.secret(secretsScript),
          triggers: [pulumi.secret(secretsScript.apply(sha256Hex))],
          logging: "none",
        },
        { parent: this, dependsOn: [offsite.after], additionalSecretOutputs: ["stdout", "stderr"] },
      );
      const install = backupInstallScript(input).content;
      this.offsiteInstalled = new command.remote.Command(
        `${name}-offsite-install`,
        {
          connection: offsite.connection,
          create: "sudo bash -s",
          stdin: install,
          triggers: [sha256Hex(install)],
          logging: "stdoutAndStderr",
        },
        { parent: this, dependsOn: [secrets] },
      );

      const redacted = backupSecretFiles(input, {
        resticPassword: "[secret]",
        accessKeyId: "[secret]",
        secretAccessKey: "[secret]",
      });
      showInPlan(
        [...backupFiles(input), ...redacted].map((file) => ({
          path: `files/${offsite.planHost}/${file.path.replace(/^\/+/, "")}`,
          content: file.content,
        })),
      );
    }

    this.registerOutputs({
      pbsStorageId: this.pbsStorageId,
      pbsEncryptionKey: this.pbsEncryptionKey,
      resticPassword: this.resticPassword,
      restoreCommand: args.offsite ? `sudo ${BIN_DIR}/mailstack-restore --list` : undefined,
    });
  }
}
