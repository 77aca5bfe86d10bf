// The mail host's configuration as idempotent bash scripts (render/scripts/*.sh) with the values
// they need (pure). cloud-init runs the host scripts once at first boot, so the VM is hardened
// before anything else reaches it; the bring-up runs every step again over SSH whenever its
// content changes, so later config changes (admin keys, ports, networks) reach the running VM.
// Each builder returns the script and the files it installs (the plan shows them at their paths).
import {
  AUTO_UPGRADES,
  authorizedKeys,
  deployAuthorizedKey,
  CROWDSEC_ACQUISITION,
  CROWDSEC_BOUNCER_DROPIN,
  CROWDSEC_BOUNCER_SETTINGS,
  CROWDSEC_COLLECTIONS,
  CROWDSEC_NFT,
  CROWDSEC_NFT_PATH,
  DOCKER_KEY_FINGERPRINT,
  dockerUserBlock,
  HTTPS_PUBLIC_MARKER,
  NETPLAN_FILE,
  sshdConfig,
  sudoers,
  SYSCTL,
  ufwRules,
  unattendedUpgrades,
  type AdminAccessInput,
  type FirewallInput,
} from "./host-files";
import { b64, renderScript } from "./shell";

export interface InstalledFile {
  readonly path: string;
  readonly mode: string;
  readonly content: string;
}

export interface HostScript {
  /** Stable name: the file name under /usr/local/sbin and part of the resource name. */
  readonly name: string;
  readonly content: string;
  /** What the script installs (for the plan's file listing). */
  readonly files: readonly InstalledFile[];
}

/** Where every host script is installed on the VM (cloud-init and the bring-up keep it current). */
export const SCRIPT_PATH = (name: string) => `/usr/local/sbin/mailstack-${name}`;

/** A host script of render/scripts with the host library and the files it installs. */
function hostScript(
  name: string,
  source: string,
  settings: Record<string, string | number | boolean | readonly string[]>,
  files: readonly InstalledFile[] = [],
): HostScript {
  return { name, content: renderScript(source, settings, "host"), files };
}

export function adminAccessScript(input: AdminAccessInput): HostScript {
  const files = {
    keys: { path: `/home/${input.username}/.ssh/authorized_keys`, mode: "0600", content: authorizedKeys(input) },
    deployKeys: {
      path: `/home/${input.deployUser}/.ssh/authorized_keys`,
      mode: "0600",
      content: `${deployAuthorizedKey(input)}\n`,
    },
    sudoers: { path: "/etc/sudoers.d/90-mailstack", mode: "0440", content: sudoers(input) },
    sshd: { path: "/etc/ssh/sshd_config.d/10-mailstack.conf", mode: "0644", content: sshdConfig(input) },
  };
  return hostScript(
    "admin-access",
    "admin-access",
    {
      ADMIN_USER: input.username,
      AUTHORIZED_KEYS_B64: b64(files.keys.content),
      DEPLOY_USER: input.deployUser,
      DEPLOY_KEYS_B64: b64(files.deployKeys.content),
      SUDOERS_B64: b64(files.sudoers.content),
      SSHD_CONFIG_B64: b64(files.sshd.content),
    },
    Object.values(files),
  );
}

/** The admin's sudo password (secret: this script runs from SSH stdin only, never installed). */
export function adminPasswordScript(username: string, password: string): HostScript {
  return hostScript("admin-password", "admin-password", { ADMIN_USER: username, ADMIN_PASSWORD: password });
}

/** SOGo restarted (it reads its domains at start), as a script on stdin like every bring-up command. */
export function sogoRestartScript(mailcowDir: string): HostScript {
  return hostScript("sogo-restart", "sogo-restart", { MAILCOW_DIR: mailcowDir });
}

export function baseHardeningScript(adminEmail: string): HostScript {
  const files = {
    sysctl: { path: "/etc/sysctl.d/90-mailstack.conf", mode: "0644", content: SYSCTL },
    unattended: {
      path: "/etc/apt/apt.conf.d/52mailstack-unattended-upgrades",
      mode: "0644",
      content: unattendedUpgrades(adminEmail),
    },
    auto: { path: "/etc/apt/apt.conf.d/20auto-upgrades", mode: "0644", content: AUTO_UPGRADES },
  };
  return hostScript(
    "base-hardening",
    "base-hardening",
    {
      SYSCTL_B64: b64(files.sysctl.content),
      UNATTENDED_UPGRADES_B64: b64(files.unattended.content),
      AUTO_UPGRADES_B64: b64(files.auto.content),
    },
    Object.values(files),
  );
}

/**
 * A network edit reaches the running VM: cloud-init applies the network config only at first boot.
 * Changing the address the bring-up connects to (lan.ipv4) needs a console, see the README.
 */
export function networkScript(netplanYaml: string): HostScript {
  return hostScript("network", "network", { NETPLAN_FILE, NETPLAN_B64: b64(netplanYaml) }, [
    { path: NETPLAN_FILE, mode: "0600", content: netplanYaml },
  ]);
}

export function firewallScript(input: FirewallInput): HostScript {
  return hostScript("firewall", "firewall", {
    UFW_RULES_B64: b64(ufwRules(input)),
    HTTPS_PUBLIC_MARKER,
    DOCKER_USER_B64: b64(dockerUserBlock(input, true, 4)),
    DOCKER_USER6_B64: b64(dockerUserBlock(input, true, 6)),
    DOCKER_USER_EARLY_B64: b64(dockerUserBlock(input, false, 4)),
    DOCKER_USER6_EARLY_B64: b64(dockerUserBlock(input, false, 6)),
  });
}

/** Opens 443 to everyone (after the admin account is secured): the marker, then the firewall again. */
export function httpsPublicScript(): HostScript {
  return hostScript("https-public", "https-public", { HTTPS_PUBLIC_MARKER, FIREWALL_SCRIPT: SCRIPT_PATH("firewall") });
}

/** The docker step; daemon.json comes from dockerDaemonJson (host-files.ts) with the logging settings. */
export function dockerScript(daemonJson: string): HostScript {
  return hostScript("docker", "docker", { DOCKER_KEY_FINGERPRINT, DAEMON_JSON_B64: b64(daemonJson) }, [
    { path: "/etc/docker/daemon.json", mode: "0644", content: daemonJson },
  ]);
}

export function crowdsecScript(): HostScript {
  const dropin = "/etc/systemd/system/crowdsec-firewall-bouncer.service.d/mailstack.conf";
  return hostScript(
    "crowdsec",
    "crowdsec",
    {
      ACQUISITION_B64: b64(CROWDSEC_ACQUISITION),
      COLLECTIONS: CROWDSEC_COLLECTIONS,
      NFT_PATH: CROWDSEC_NFT_PATH,
      NFT_B64: b64(CROWDSEC_NFT),
      BOUNCER_DROPIN_B64: b64(CROWDSEC_BOUNCER_DROPIN),
      BOUNCER_SETTINGS_B64: b64(CROWDSEC_BOUNCER_SETTINGS),
    },
    [
      { path: "/etc/crowdsec/acquis.d/mailstack.yaml", mode: "0644", content: CROWDSEC_ACQUISITION },
      { path: CROWDSEC_NFT_PATH, mode: "0644", content: CROWDSEC_NFT },
      { path: dropin, mode: "0644", content: CROWDSEC_BOUNCER_DROPIN },
    ],
  );
}

/** mailcow's repository, written exactly as update.sh wants it (update.sh:411-428 resets any other URL). */
export const MAILCOW_REPOSITORY = "https://github.com/mailcow/mailcow-dockerized";

export interface InstallFilesOptions {
  /** The mailcow directory (files must lie below it). */
  readonly root: string;
  /** When a file changed and mailcow runs: restart these services, or recreate with `up -d`. */
  readonly onChange: { readonly restart: readonly string[] } | "up";
}

/**
 * Installs files into mailcow's directory (content carried base64 in the script, so any secret
 * stays in the script that travels on SSH stdin) and restarts only what the change affects.
 */
export function installFilesScript(
  name: string,
  files: readonly InstalledFile[],
  options: InstallFilesOptions,
): HostScript {
  for (const file of files) {
    if (!file.path.startsWith(`${options.root}/`) || file.path.includes(".."))
      throw new Error(`${file.path} is outside ${options.root}`);
    if (!/^0[0-7]{3}$/.test(file.mode)) throw new Error(`bad mode ${file.mode} for ${file.path}`);
  }
  return hostScript(
    name,
    "install-files",
    {
      ROOT: options.root,
      PATHS: files.map((file) => file.path),
      MODES: files.map((file) => file.mode),
      CONTENTS_B64: files.map((file) => b64(file.content)),
      ON_CHANGE: options.onChange === "up" ? "up" : "restart",
      RESTART: options.onChange === "up" ? [] : options.onChange.restart,
    },
    files,
  );
}

export function mailcowUpScript(root: string, hostname: string, version: string): HostScript {
  return hostScript("mailcow-up", "mailcow-up", {
    MAILCOW_DIR: root,
    MAILCOW_HOSTNAME: hostname,
    MAILCOW_VERSION: version,
  });
}

/**
 * The bring-up's form of a host script: it installs the script at SCRIPT_PATH (so the host can run
 * it again by itself, as https-public does) and runs it. The script travels base64-encoded, so no
 * content can end anything.
 */
export function installAndRun(script: HostScript): string {
  return renderScript("install-and-run", { SCRIPT_PATH: SCRIPT_PATH(script.name), SCRIPT_B64: b64(script.content) });
}
