// MailcowVm: a Proxmox VM from a pinned cloud image that comes up as a hardened mailcow.
// Everything it installs is rendered by pure functions (render/mailcow-host.ts); this class
// wires them to resources. Secrets (database and API keys, the TLS key) travel only over SSH
// stdin; the cloud-init snippet on the Proxmox storage holds none.
import { bringUpCommands } from "./bring-up";
import { proxmoxHa } from "./proxmox-ha";
import { DEPLOY_USER } from "../common/host-users";
import { TYPES } from "../common/resource-types";
import * as proxmox from "@muhlba91/pulumi-proxmoxve";
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import * as tls from "@pulumi/tls";
import { macAddressFor } from "../render/cloud-init";
import { showInPlan } from "./plan-files";
import type { NetworkInput } from "../render/cloud-init";
import { type TlsVersion } from "../render/mailcow";
import {
  bringUp,
  cloudInit,
  REDACTED_HOST_SECRETS,
  renderedFiles,
  type HostSecrets,
  type MailcowHostInput,
} from "../render/mailcow-host";
import type { PostfixClientLimits } from "../render/mailcow";
import {
  guestHostKeyScript,
  hostKeyFromOutput,
  snippetDeleteCommand,
  snippetDirectory,
  snippetVolume,
  snippetWriteScript,
  type ClusterNames,
} from "../render/proxmox";

export interface MailcowVmArgs {
  readonly environment: "production" | "staging";
  readonly hostname: string;
  readonly timezone: string;
  readonly tlsMinVersion: TlsVersion;
  readonly node: {
    readonly name: string;
    /** SSH to the node: address, user and its pinned host key. */
    readonly sshAddress: string;
    readonly sshUser: string;
    readonly sshHostKey: string;
  };
  readonly datastores: { readonly vm: string; readonly image: string; readonly snippets: string };
  /** Cluster-wide file names, unique per stack (render/proxmox.ts clusterNames). */
  readonly names: Pick<ClusterNames, "imageFile" | "userDataFile" | "networkConfigFile" | "haRule">;
  readonly vm: {
    readonly id?: number;
    readonly name: string;
    readonly cores: number;
    readonly memoryGiB: number;
    readonly diskGb: number;
    readonly protection: boolean;
    readonly macAddress?: string;
    readonly image: { readonly url: string; readonly sha512: string };
    readonly ha?: {
      readonly nodes: Readonly<Record<string, number>>;
      readonly maxRestart: number;
      readonly maxRelocate: number;
      /** ZFS replication of the VM's disks to another HA node (config vm.ha.replication). */
      readonly replication?: { readonly target: string; readonly schedule: string; readonly rateMBps?: number };
    };
  };
  readonly network: Omit<NetworkInput, "macAddress" | "interface"> & {
    readonly bridge: string;
    readonly vlanId?: number;
  };
  /** The admin user, their keys and the networks they connect from. */
  readonly admin: MailcowHostInput["admin"];
  /** The ports the host's firewall opens to everyone. */
  readonly publicPorts: MailcowHostInput["publicPorts"];
  /** Who reaches 443 before mailcow's admin account is secured (admin and API networks). */
  readonly httpsEarlySources: MailcowHostInput["httpsEarlySources"];
  /** The release, its configuration, service limits and hosted domains (render/mailcow-host.ts). */
  readonly mailcow: MailcowHostInput["mailcow"];
  /** mailstack-backup's path (the upgrade's backup uses it when the off-site backup is set up). */
  readonly offsiteBackupTool: MailcowHostInput["offsiteBackupTool"];
  /** Log shipping and the journal's bounds (policies read them from the component's inputs). */
  readonly logging: MailcowHostInput["logging"];
  /** The retention policy's bounds in days (policies check the journal's retention against them). */
  readonly logRetentionPolicy: { readonly minDays: number; readonly maxDays: number };
  /** Updates, the maintenance window, the mailcow release check. */
  readonly updates: MailcowHostInput["updates"];
  /** Postfix's per-client limits. */
  readonly postfixLimits: PostfixClientLimits;
  /** The exporters and who may scrape them (render/monitoring-host.ts). */
  readonly monitoring: MailcowHostInput["monitoring"];
  /** The server's TLS key (PEM, secret): the one the TLSA record pins. */
  readonly tlsKeyPem: pulumi.Input<string>;
  /** SSH private key for the Proxmox node (secret). */
  readonly nodeSshPrivateKey: pulumi.Input<string>;
}

export const LAN_INTERFACE = "lan0";
const CPU_TYPE = "x86-64-v2-AES";

export class MailcowVm extends pulumi.ComponentResource {
  readonly vmId: pulumi.Output<number>;
  readonly sshHostKey: pulumi.Output<string>;
  /** The mailcow API key (secret), for the tenant providers. */
  readonly apiKey: pulumi.Output<string>;
  readonly apiEndpoint: string;
  readonly adminUrl: string;
  /** Resolves once mailcow answers (UI and API) with a certificate for the host. */
  readonly ready: command.remote.Command;
  /** The last step of the bring-up (the exporters, after mailcow is up). */
  readonly monitored: command.remote.Command;
  /** The admin's sudo password (secret; sshd never accepts it, sudo asks for it). */
  readonly adminSudoPassword: pulumi.Output<string>;
  /** SSH to the VM as the deploy user (host key verified), for components that install more. */
  readonly connection: command.types.input.remote.ConnectionArgs;
  /** The VM's name in the plan's files/<host>/ tree. */
  readonly planHost: string;

  constructor(name: string, args: MailcowVmArgs, opts?: pulumi.ComponentResourceOptions) {
    const vmHost = `${name}-vm`;
    const macAddress = args.vm.macAddress ?? macAddressFor(args.hostname);
    const network: NetworkInput = {
      ...args.network,
      macAddress,
      interface: LAN_INTERFACE,
    };
    super(TYPES.mailcowVm, name, { ...args, tlsKeyPem: undefined, nodeSshPrivateKey: undefined }, opts);

    const deployKey = new tls.PrivateKey(`${name}-deploy-key`, { algorithm: "ED25519" }, { parent: this });
    const password = (role: string, length: number) =>
      new random.RandomPassword(
        `${name}-${role}`,
        { length, special: false, minUpper: 2, minLower: 2, minNumeric: 2 },
        { parent: this },
      ).result;
    const dbPass = password("db-password", 28);
    const dbRoot = password("db-root-password", 28);
    const redisPass = password("redis-password", 28);
    const apiKey = password("api-key", 40);
    const apiKeyReadOnly = password("api-key-read-only", 40);
    const sogoUrlEncryptionKey = password("sogo-url-key", 16);
    const adminSudoPassword = password("admin-sudo-password", 24);
    const secrets = pulumi
      .all([dbPass, dbRoot, redisPass, apiKey, apiKeyReadOnly, sogoUrlEncryptionKey, adminSudoPassword])
      .apply(([db, root, redis, api, apiReadOnly, sogo, sudo]): HostSecrets => ({
        dbPass: db,
        dbRoot: root,
        redisPass: redis,
        apiKey: api,
        apiKeyReadOnly: apiReadOnly,
        sogoUrlEncryptionKey: sogo,
        adminSudoPassword: sudo,
      }));

    const hostInputWith = (deploy: string): MailcowHostInput => ({
      hostname: args.hostname,
      timezone: args.timezone,
      tlsMinVersion: args.tlsMinVersion,
      admin: args.admin,
      deployKey: deploy,
      publicPorts: args.publicPorts,
      httpsEarlySources: args.httpsEarlySources,
      network,
      mailcow: args.mailcow,
      offsiteBackupTool: args.offsiteBackupTool,
      logging: args.logging,
      updates: args.updates,
      postfixLimits: args.postfixLimits,
      monitoring: args.monitoring,
    });
    const hostInput = deployKey.publicKeyOpenssh.apply(hostInputWith);

    // ---- the node: image and cloud-init snippets -----------------------------------------------
    const nodeConnection = {
      host: args.node.sshAddress,
      user: args.node.sshUser,
      privateKey: args.nodeSshPrivateKey,
      hostKey: args.node.sshHostKey,
    };
    // bpg's download file resource forces a new file on url/checksum/file_name and refuses a name
    // that exists already (fwprovider/nodes/resource_download_file.go); the name carries the stack.
    const image = new proxmox.download.File(
      `${name}-image`,
      {
        nodeName: args.node.name,
        datastoreId: args.datastores.image,
        contentType: "import",
        url: args.vm.image.url,
        fileName: args.names.imageFile,
        checksum: args.vm.image.sha512,
        checksumAlgorithm: "sha512",
        overwrite: false,
      },
      { parent: this },
    );
    // Snippets are written in place by a command on the node, not by bpg's file resource: that one
    // replaces the file on every content change (every source_raw field is ForceNew, update is a
    // no-op, proxmoxtf/resource/file.go) and, with one file name, its create-before-delete deletes
    // the new file; its unknown id then forces a new VM (user_data_file_id is ForceNew,
    // proxmoxtf/resource/vm/vm.go). cloud-init reads them at first boot only; later changes reach
    // the VM through the bring-up below.
    const documents = hostInput.apply(cloudInit);
    const snippet = (role: string, file: string, data: pulumi.Output<string>) => {
      const volume = snippetVolume(args.datastores.snippets, file);
      const command_ = new command.remote.Command(
        `${name}-${role}`,
        {
          connection: nodeConnection,
          create: "bash -s",
          stdin: data.apply((content) => snippetWriteScript(volume, content)),
          delete: snippetDeleteCommand(volume),
          logging: "stdoutAndStderr",
        },
        { parent: this },
      );
      return { volume, command: command_ };
    };
    const userData = snippet("user-data", args.names.userDataFile, documents.userData);
    const networkData = snippet("network-config", args.names.networkConfigFile, documents.networkConfig);

    const vm = new proxmox.VmLegacy(
      vmHost,
      {
        nodeName: args.node.name,
        ...(args.vm.id !== undefined ? { vmId: args.vm.id } : {}),
        name: args.vm.name,
        description: `mailcow for ${args.hostname}, managed by mailstack (${args.environment})`,
        tags: ["mailstack", args.environment],
        onBoot: true,
        started: true,
        protection: args.vm.protection,
        stopOnDestroy: true,
        machine: "q35",
        operatingSystem: { type: "l26" },
        cpu: { cores: args.vm.cores, sockets: 1, type: CPU_TYPE },
        memory: { dedicated: args.vm.memoryGiB * 1024, floating: 0 },
        scsiHardware: "virtio-scsi-single",
        disks: [
          {
            interface: "scsi0",
            datastoreId: args.datastores.vm,
            // Only read at creation ("changes after creation are ignored", vm/disk/schema.go).
            importFrom: image.id,
            size: args.vm.diskGb,
            iothread: true,
            discard: "on",
            ssd: true,
          },
        ],
        networkDevices: [
          {
            bridge: args.network.bridge,
            model: "virtio",
            macAddress,
            ...(args.network.vlanId ? { vlanId: args.network.vlanId } : {}),
          },
        ],
        agent: { enabled: true, trim: true },
        serialDevices: [{ device: "socket" }],
        startup: { order: 1, upDelay: 30 },
        initialization: {
          datastoreId: args.datastores.vm,
          // Fixed volume ids (ForceNew fields), ordered by dependsOn: content changes never touch the VM.
          userDataFileId: userData.volume,
          networkDataFileId: networkData.volume,
        },
      },
      { parent: this, protect: args.vm.protection, dependsOn: [userData.command, networkData.command] },
    );
    this.vmId = vm.vmId;

    if (args.vm.ha)
      proxmoxHa(name, this, vm, {
        ha: args.vm.ha,
        rule: args.names.haRule,
        environment: args.environment,
        vmName: args.vm.name,
      });

    // ---- the VM's SSH host key, read through the guest agent on the pinned node ----------------
    const hostKeyCommand = new command.remote.Command(
      `${name}-host-key`,
      {
        connection: nodeConnection,
        create: "bash -s",
        stdin: vm.vmId.apply(guestHostKeyScript),
        triggers: [vm.id],
      },
      { parent: this, dependsOn: [vm] },
    );
    this.sshHostKey = hostKeyCommand.stdout.apply(hostKeyFromOutput);

    // ---- bring-up: the guest-agent steps from the node, then SSH as the deploy user ----------
    const connection: command.types.input.remote.ConnectionArgs = {
      host: args.network.addresses[0]?.split("/")[0] ?? "",
      // The deploy identity, never the admins' account (render/host-files.ts: restricted key, sudo
      // only for `bash -s`).
      user: DEPLOY_USER,
      privateKey: deployKey.privateKeyPem,
      hostKey: this.sshHostKey,
      dialErrorLimit: 60,
      perDialTimeout: 10,
    };
    const commands = bringUpCommands(name, this, {
      vm,
      after: hostKeyCommand,
      nodeConnection,
      connection,
      steps: bringUp(hostInputWith(""), REDACTED_HOST_SECRETS, ""),
      withSecrets: pulumi
        .all([hostInput, secrets, args.tlsKeyPem])
        .apply(([input, values, key]) => bringUp(input, values, key)),
      withoutSecrets: hostInput.apply((input) => bringUp(input, REDACTED_HOST_SECRETS, "")),
    });
    const last = [...commands.values()].pop();
    const up = commands.get("mailcow-up");
    if (!last || !up) throw new Error("internal: no bring-up steps");
    // Tenants and backups need mailcow up, not its monitoring.
    this.ready = up;
    this.monitored = last;

    this.apiKey = apiKey;
    this.adminSudoPassword = pulumi.secret(adminSudoPassword);
    this.connection = connection;
    this.planHost = vmHost;
    this.apiEndpoint = `https://${args.hostname}/api/v1/`;
    this.adminUrl = `https://${args.hostname}/admin`;

    // What the plan shows under files/<host>/<path>: secrets as "[secret]", the TLS key as a marker.
    const snippetDir = snippetDirectory(args.datastores.snippets);
    const planned = hostInput.apply((input) =>
      renderedFiles(input, REDACTED_HOST_SECRETS, "[secret: the stack's TLS private key]\n", {
        vm: vmHost,
        node: args.node.name,
        snippets: {
          userData: `${snippetDir}/${args.names.userDataFile}`,
          networkConfig: `${snippetDir}/${args.names.networkConfigFile}`,
        },
      }),
    );
    showInPlan(
      planned.apply((files) =>
        files.map((file) => ({ path: `files/${file.host}/${file.path.replace(/^\/+/, "")}`, content: file.content })),
      ),
    );
    this.registerOutputs({ vmId: this.vmId, sshHostKey: this.sshHostKey, apiEndpoint: this.apiEndpoint });
  }
}
