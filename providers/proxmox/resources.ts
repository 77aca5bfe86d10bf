// The PVE resources the stack declares, served by the one Proxmox VE dynamic provider.
import * as pulumi from "@pulumi/pulumi";
import type { BackupJobInputs } from "./jobs";
import { proxmoxProvider } from "./provider";
import type { PbsStorageInputs } from "./storage";

// ---- resources ----------------------------------------------------------------------------

type Input<T> = pulumi.Input<T>;
type ConnectionInput = Input<{ endpoint: Input<string>; apiKey: Input<string>; caCertificate?: Input<string> }>;
type InputOf<V> = V extends readonly (infer E)[] ? Input<readonly Input<E>[]> : Input<V>;
type Inputs<T> = { [K in keyof T]: K extends "connection" ? ConnectionInput : InputOf<NonNullable<T[K]>> };

/** A Proxmox Backup Server storage in PVE, encrypted with the stack's key (render/pbs-key.ts). */
export class PvePbsStorage extends pulumi.dynamic.Resource {
  declare readonly storage: pulumi.Output<string>;
  /** Not secret: PVE shows it in storage.cfg, and a restore needs the key whose fingerprint it is. */
  declare readonly keyFingerprint: pulumi.Output<string>;

  constructor(name: string, args: Inputs<PbsStorageInputs>, opts?: pulumi.CustomResourceOptions) {
    super(
      proxmoxProvider,
      name,
      { ...args, kind: "pbsStorage", keyFingerprint: undefined, content: undefined, disabled: undefined },
      { ...opts, additionalSecretOutputs: ["connection", "password", "encryptionKey"] },
      "proxmox",
      "PbsStorage",
    );
  }
}

/** A vzdump backup job (Datacenter → Backup). */
export class PveBackupJob extends pulumi.dynamic.Resource {
  declare readonly enabled: pulumi.Output<boolean>;

  constructor(name: string, args: Inputs<BackupJobInputs>, opts?: pulumi.CustomResourceOptions) {
    super(
      proxmoxProvider,
      name,
      { ...args, kind: "backupJob" },
      { ...opts, additionalSecretOutputs: ["connection"] },
      "proxmox",
      "BackupJob",
    );
  }
}
