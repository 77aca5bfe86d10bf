// Commands for the Proxmox node (pure). The VM's SSH host key is read through the QEMU guest agent
// on the node, whose own host key is pinned in the config: the bring-up then verifies the VM's key
// instead of trusting the first one it sees. The step that sets up SSH access to the VM runs
// through the guest agent too, so it never depends on the access it sets up.

import { b64, renderScript, shellQuote } from "./shell";

/**
 * Snippet directory of a Proxmox storage on the node, for the plan's view ("local" is /var/lib/vz;
 * network storages mount under /mnt/pve). On the node the scripts ask `pvesm path` instead.
 */
export function snippetDirectory(datastore: string): string {
  return datastore === "local" ? "/var/lib/vz/snippets" : `/mnt/pve/${datastore}/snippets`;
}

/**
 * The names a stack gives things that are shared by the whole Proxmox cluster (storage ids, files
 * on a node's storage, backup job ids, HA rules): all start with the stack's prefix, so prod and
 * staging on one cluster never collide and destroying one never removes the other's.
 */
export interface ClusterNames {
  readonly imageFile: string;
  readonly userDataFile: string;
  readonly networkConfigFile: string;
  readonly backupJob: string;
  readonly haRule: string;
}

export function clusterNames(prefix: string, vmName: string, imageUrl: string): ClusterNames {
  const base = (imageUrl.split("/").pop() ?? "image.qcow2").replace(/\.img$/, ".qcow2");
  return {
    imageFile: `${prefix}-${base}`,
    userDataFile: `${prefix}-${vmName}-user-data.yaml`,
    networkConfigFile: `${prefix}-${vmName}-network-config.yaml`,
    backupJob: `${prefix}-${vmName}`,
    haRule: `${prefix}-${vmName}`,
  };
}

/** The volume id Proxmox knows a snippet by (bpg's file resource uses the same form). */
export function snippetVolume(datastore: string, file: string): string {
  if (!/^[a-z][a-z0-9._-]*$/.test(datastore) || !/^[A-Za-z0-9._-]+$/.test(file)) {
    throw new Error(`invalid snippet volume ${datastore}:snippets/${file}`);
  }
  return `${datastore}:snippets/${file}`;
}

/** Writes a snippet on the node in place (render/scripts/pve-snippet.sh). */
export function snippetWriteScript(volume: string, content: string): string {
  return renderScript("pve-snippet", { VOLID: volume, CONTENT_B64: Buffer.from(content).toString("base64") });
}

/** Removes a snippet from the node (when the stack is destroyed). */
export function snippetDeleteCommand(volume: string): string {
  return `f=$(pvesm path ${shellQuote(volume)}) && rm -f -- "$f"`;
}

function checkedVmId(vmId: number): number {
  if (!Number.isInteger(vmId) || vmId < 100) throw new Error(`invalid VM id ${vmId}`);
  return vmId;
}

/** Prints VM `vmId`'s SSH host key on the node (render/scripts/guest-host-key.sh). */
export function guestHostKeyScript(vmId: number): string {
  return renderScript("guest-host-key", { VM_ID: checkedVmId(vmId) });
}

/** How long a step run through the guest agent (and the first boot before it) may take. */
export const GUEST_STEP_TIMEOUT_SECONDS = 3600;

/**
 * Runs `guestScript` (bash, no secrets: it travels in the node command's stdin and is logged) as
 * root inside VM `vmId` through the guest agent, after cloud-init's first boot is done, on the node
 * (render/scripts/guest-step.sh). The step's output and exit code are the guest script's.
 */
export function guestStepScript(vmId: number, step: string, guestScript: string): string {
  return renderScript("guest-step", {
    VM_ID: checkedVmId(vmId),
    STEP: step,
    STEP_TIMEOUT: GUEST_STEP_TIMEOUT_SECONDS,
    GUEST_SCRIPT_B64: b64(guestScript),
  });
}

/** The "type base64" of an OpenSSH public key line, as @pulumi/command's hostKey wants it. */
export function hostKeyFromOutput(stdout: string): string {
  const line = stdout.trim().split("\n").pop() ?? "";
  const match = /^(ssh-ed25519|ecdsa-sha2-nistp\d+|ssh-rsa) ([A-Za-z0-9+/]+={0,2})(\s|$)/.exec(line.trim());
  if (!match) throw new Error(`the node did not return an SSH host key: ${JSON.stringify(line.slice(0, 80))}`);
  return `${match[1]} ${match[2]}`;
}

/** Proxmox's realm configuration on every node (pmxcfs). */
export const DOMAINS_CFG = "/etc/pve/domains.cfg";

/**
 * Makes a Proxmox realm require a second factor (`pveum realm modify <realm> --tfa type=<type>`),
 * then checks domains.cfg: users of the realm must enrol TOTP/YubiKey before their next login.
 */
export function realmTfaScript(realm: string, type: "oath" | "yubico", domainsCfg = DOMAINS_CFG): string {
  if (!/^[A-Za-z][A-Za-z0-9._-]*$/.test(realm)) throw new Error(`invalid realm ${realm}`);
  return renderScript("realm-tfa", { REALM: realm, TFA_TYPE: type, DOMAINS_CFG: domainsCfg });
}
