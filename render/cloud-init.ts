// cloud-init documents for the mail VM (pure): user-data (no secrets: it is stored readable on
// the Proxmox storage) and a version 2 network config with the LAN and the public IPv6.
import { createHash } from "node:crypto";
import { stringify } from "yaml";
import { SCRIPT_PATH, type HostScript } from "./host-scripts";

export const HOST_READY_MARKER = "/var/lib/mailstack/host-ready";

export interface UserDataInput {
  readonly hostname: string;
  readonly timezone: string;
  readonly admin: { readonly username: string; readonly sshKeys: readonly string[] };
  /** The bring-up's user: it exists from the first boot on, since the first SSH connection uses it. */
  readonly deploy: { readonly username: string; readonly authorizedKey: string };
  /** Host configuration scripts, run in this order at first boot. */
  readonly scripts: readonly HostScript[];
}

export function scriptPath(script: HostScript): string {
  return SCRIPT_PATH(script.name);
}

export function userData(input: UserDataInput): string {
  const [short] = input.hostname.split(".");
  const run = [...input.scripts.map(scriptPath), `install -D -m 0644 /dev/null ${HOST_READY_MARKER}`].join(" && ");
  const document = {
    hostname: short,
    fqdn: input.hostname,
    prefer_fqdn_over_hostname: true,
    manage_etc_hosts: true,
    timezone: input.timezone,
    disable_root: true,
    ssh_pwauth: false,
    users: [
      {
        name: input.admin.username,
        gecos: "mailstack admin",
        shell: "/bin/bash",
        // No sudo rule here: admin-access installs the admins' (with a password, set later by the
        // admin-password step) and the deploy user's (`bash -s` only) before the bring-up connects.
        lock_passwd: true,
        ssh_authorized_keys: [...input.admin.sshKeys],
      },
      {
        name: input.deploy.username,
        gecos: "mailstack deploy (Pulumi bring-up)",
        shell: "/bin/bash",
        lock_passwd: true,
        ssh_authorized_keys: [input.deploy.authorizedKey],
      },
    ],
    package_update: true,
    package_upgrade: true,
    packages: ["qemu-guest-agent", "ca-certificates", "curl", "gnupg", "git", "jq", "openssl"],
    write_files: input.scripts.map((script) => ({
      path: scriptPath(script),
      owner: "root:root",
      permissions: "0700",
      content: script.content,
    })),
    // One chain: a failing step stops the rest, and the marker exists only after all succeeded.
    runcmd: [["/bin/bash", "-c", run]],
    final_message: "mailstack host setup finished after $UPTIME seconds",
  };
  return `#cloud-config\n${stringify(document, { lineWidth: 0 })}`;
}

export interface NetworkInput {
  readonly macAddress: string;
  readonly interface: string;
  /** Addresses with prefix length: LAN IPv4, LAN IPv6, public IPv6. */
  readonly addresses: readonly string[];
  readonly gateway4: string;
  readonly gateway6?: string;
  readonly resolvers: readonly string[];
  readonly searchDomain: string;
}

function networkDocument(input: NetworkInput) {
  const routes = [
    { to: "0.0.0.0/0", via: input.gateway4 },
    ...(input.gateway6 ? [{ to: "::/0", via: input.gateway6 }] : []),
  ];
  const document = {
    version: 2,
    ethernets: {
      [input.interface]: {
        match: { macaddress: input.macAddress },
        "set-name": input.interface,
        addresses: [...input.addresses],
        routes,
        nameservers: { addresses: [...input.resolvers], search: [input.searchDomain] },
      },
    },
  };
  return document;
}

export function networkConfig(input: NetworkInput): string {
  return stringify(networkDocument(input));
}

/** The same document as netplan's file (netplan reads version 2 under a `network:` key). */
export function netplanConfig(input: NetworkInput): string {
  return `# mailstack: the VM's network (the first boot's cloud-init network config, kept current).\n${stringify({ network: networkDocument(input) })}`;
}

/** A stable, locally administered MAC address derived from the host name. */
export function macAddressFor(hostname: string): string {
  const bytes = createHash("sha256").update(`mailstack:${hostname}`).digest().subarray(0, 5);
  return ["02", ...[...bytes].map((b) => b.toString(16).padStart(2, "0"))].join(":");
}
