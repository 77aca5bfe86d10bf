// Everything the mail VM is given, assembled from plain values (pure): the cloud-init documents and
// the bring-up, an ordered list of steps (host scripts, mailcow's release, its files, the start).
// cloud-init runs the host scripts once at first boot, so the VM is hardened before anything else
// reaches it; the bring-up runs every step again over SSH whenever its content changes, so config
// changes reach the running VM. MailcowVm creates one command per step, in this order.
import { DEPLOY_USER } from "../common/host-users";
import { autoconfigNginx, autoconfigXml } from "./autoconfig";
import { networkConfig, netplanConfig, userData, type NetworkInput } from "./cloud-init";
import {
  adminAccessScript,
  adminPasswordScript,
  baseHardeningScript,
  crowdsecScript,
  dockerScript,
  firewallScript,
  installFilesScript,
  mailcowUpScript,
  networkScript,
  SCRIPT_PATH,
  type HostScript,
  type InstalledFile,
} from "./host-scripts";
import {
  composeOverride,
  dovecotExtraConf,
  MAILCOW_DIR,
  mailcowConf,
  postfixExtraCf,
  postfixOpensslCnf,
  REDACTED_SECRETS,
  type MailcowConfInput,
  type MailcowSecrets,
  type PostfixClientLimits,
  type ServiceLimit,
  type TlsVersion,
} from "./mailcow";
import { deployAuthorizedKey, dockerDaemonJson } from "./host-files";
import { dockerLogOptions, loggingScript, type LoggingInput } from "./logging";
import { incidentReportFiles } from "./report";
import { vmMonitoringScript, type VmMonitoringInput } from "./monitoring-host";
import { EXPORTER_PORT_LIST } from "./monitoring";
import { renderScript } from "./shell";
import { hostFilesScript, UNATTENDED_STATE, updatesScript, type UpdatesInput } from "./updates";

export interface MailcowHostInput {
  readonly hostname: string;
  readonly timezone: string;
  readonly tlsMinVersion: TlsVersion;
  readonly admin: {
    readonly username: string;
    readonly email: string;
    readonly sshKeys: readonly string[];
    readonly networks: readonly string[];
  };
  /** The bring-up's SSH public key (OpenSSH format). */
  readonly deployKey: string;
  readonly publicPorts: readonly number[];
  /** Sources that reach 443 before the admin account is secured (the admin and API networks). */
  readonly httpsEarlySources: readonly string[];
  readonly network: NetworkInput;
  readonly mailcow: {
    /** The release tag and the commit it must be (verified after every fetch). */
    readonly version: string;
    readonly commit: string;
    readonly repository: string;
    readonly conf: MailcowConfInput;
    readonly limits: Readonly<Partial<Record<string, ServiceLimit>>>;
    /** The hosted domains (autoconfig lists them). */
    readonly domains: readonly string[];
  };
  /** mailstack-backup, when the off-site backup is set up: the pre-upgrade backup uses it. */
  readonly offsiteBackupTool: string;
  /** Log shipping and local retention (render/logging.ts). */
  readonly logging: LoggingInput;
  /** Updates, the reboot window and the mailcow release check (render/updates.ts). */
  readonly updates: Omit<UpdatesInput, "hostname" | "mailcowRepository" | "pinnedTag">;
  /** Postfix's per-client limits (extra.cf). */
  readonly postfixLimits: PostfixClientLimits;
  /** The exporters (where they listen, who may scrape them). */
  readonly monitoring: VmMonitoringInput & { readonly scrapeCidrs: readonly string[] };
}

/** Where pre-upgrade backups go when there is no off-site backup (mailcow's own backup). */
export const PRE_UPGRADE_BACKUP_DIR = "/var/backups/mailstack-upgrades";

/** The host scripts cloud-init runs at first boot, in order (each also a bring-up step). */
export function hostScripts(input: MailcowHostInput): HostScript[] {
  return [
    adminAccessScript({
      username: input.admin.username,
      sshKeys: input.admin.sshKeys,
      deployUser: DEPLOY_USER,
      deployKey: input.deployKey,
      deployFrom: input.admin.networks,
    }),
    baseHardeningScript(input.admin.email),
    firewallScript({
      interface: input.network.interface,
      publicPorts: input.publicPorts,
      adminNetworks: input.admin.networks,
      httpsEarlySources: input.httpsEarlySources,
      monitoring: { sources: input.monitoring.scrapeCidrs, ports: EXPORTER_PORT_LIST },
      ...(input.logging.forward && input.logging.pfsense
        ? { pfsenseSyslog: { source: input.logging.pfsense.source, port: input.logging.pfsense.port } }
        : {}),
    }),
    dockerScript(dockerDaemonJson(dockerLogOptions(input.logging))),
    loggingScript(input.logging, MAILCOW_DIR),
    crowdsecScript(),
    mailcowReleaseScript(input),
  ];
}

/** mailcow at the pinned release: installed, or upgraded through update.sh after a backup. */
export function mailcowReleaseScript(input: MailcowHostInput): HostScript {
  return {
    name: "mailcow-release",
    files: [],
    content: renderScript("mailcow-release", {
      MAILCOW_DIR,
      REPOSITORY: input.mailcow.repository,
      TAG: input.mailcow.version,
      COMMIT: input.mailcow.commit,
      BACKUP_DIR: PRE_UPGRADE_BACKUP_DIR,
      OFFSITE_BACKUP_TOOL: input.offsiteBackupTool,
      UNATTENDED_STATE,
    }),
  };
}

export function cloudInit(input: MailcowHostInput): { userData: string; networkConfig: string } {
  return {
    userData: userData({
      hostname: input.hostname,
      timezone: input.timezone,
      admin: input.admin,
      deploy: {
        username: DEPLOY_USER,
        authorizedKey: deployAuthorizedKey({ deployKey: input.deployKey, deployFrom: input.admin.networks }),
      },
      scripts: hostScripts(input),
    }),
    networkConfig: networkConfig(input.network),
  };
}

/** The bring-up's secrets: mailcow's, and the admin's sudo password (admin-password step). */
export interface HostSecrets extends MailcowSecrets {
  readonly adminSudoPassword: string;
}

export const REDACTED_HOST_SECRETS: HostSecrets = { ...REDACTED_SECRETS, adminSudoPassword: "[secret]" };

/**
 * The resource name of a bring-up step's command: `<component>-<step>`, without repeating a prefix
 * the step name already has ("mailcow" + "mailcow-up" is "mailcow-up", not "mailcow-mailcow-up").
 */
export function stepResourceName(component: string, step: string): string {
  return step.startsWith(`${component}-`) ? step : `${component}-${step}`;
}

/** The names a step's command had before stepResourceName, for its Pulumi aliases (none if unchanged). */
export function stepAliases(component: string, step: string): { readonly name: string }[] {
  const before = `${component}-${step}`;
  return stepResourceName(component, step) === before ? [] : [{ name: before }];
}

/** One step of the bring-up. */
export interface BringUpStep {
  /** Stable: part of the command's resource name (stepResourceName). */
  readonly name: string;
  readonly script: HostScript;
  /** The script holds secrets: it travels as a secret and its output is not logged. */
  readonly secret: boolean;
  /** What the step installs, for the plan's files/ view. */
  readonly files: readonly InstalledFile[];
  /**
   * How the step reaches the VM: over SSH as the deploy user (`sudo bash -s`), or through the
   * Proxmox guest agent from the node, for the step that creates that user and its sshd settings
   * (render/proxmox.ts guestStepScript). Guest-agent steps come first and hold no secrets.
   */
  readonly via: "ssh" | "guest-agent";
}

/**
 * The bring-up, in order. One install per concern, so that a change re-applies only its files and
 * restarts only the containers that read them. The TLS key is in place before mailcow first
 * starts, so the TLSA record matches from the first handshake (render/scripts/mailcow-tls-key.sh).
 */
export function bringUp(input: MailcowHostInput, secrets: HostSecrets, tlsKeyPem: string): BringUpStep[] {
  const root = MAILCOW_DIR;
  const hostStep = (script: HostScript, via: BringUpStep["via"] = "ssh"): BringUpStep => ({
    name: script.name,
    script,
    secret: false,
    files: script.files,
    via,
  });
  const install = (
    name: string,
    files: InstalledFile[],
    onChange: { restart: string[] } | "up",
    secret = false,
  ): BringUpStep => ({ name, files, secret, via: "ssh", script: installFilesScript(name, files, { root, onChange }) });
  const updates = {
    ...input.updates,
    hostname: input.hostname,
    mailcowRepository: input.mailcow.repository,
    pinnedTag: input.mailcow.version,
  };
  const [adminAccess, baseHardening, ...rest] = hostScripts(input);
  if (!adminAccess || !baseHardening) throw new Error("internal: host scripts missing");
  const steps: BringUpStep[] = [
    // The deploy user, its key and sshd's settings for it: through the guest agent, so a VM deployed
    // before that user existed gets it on its next `up` (and a broken sshd drop-in is repaired the
    // same way); every later step connects as that user.
    hostStep(adminAccess, "guest-agent"),
    // Secret, so not a first-boot script: until it runs, the admin has no password (and no sudo).
    {
      name: "admin-password",
      secret: true,
      via: "ssh",
      files: [],
      script: adminPasswordScript(input.admin.username, secrets.adminSudoPassword),
    },
    hostStep(baseHardening),
    hostStep(networkScript(netplanConfig(input.network))),
    ...rest.map((script) => hostStep(script)),
    {
      name: "tls-key",
      secret: true,
      via: "ssh",
      files: [
        { path: `${root}/data/assets/ssl/acme/key.pem`, mode: "0600", content: tlsKeyPem },
        { path: `${root}/data/assets/ssl/key.pem`, mode: "0600", content: tlsKeyPem },
      ],
      script: {
        name: "tls-key",
        files: [],
        content: renderScript("mailcow-tls-key", {
          MAILCOW_DIR: root,
          MAILCOW_HOSTNAME: input.hostname,
          TLS_KEY_B64: Buffer.from(tlsKeyPem).toString("base64"),
        }),
      },
    },
    install(
      "mailcow-conf",
      [{ path: `${root}/mailcow.conf`, mode: "0600", content: mailcowConf(input.mailcow.conf, secrets) }],
      "up",
      true,
    ),
    install(
      "postfix-tls",
      [
        {
          path: `${root}/data/conf/postfix/extra.cf`,
          mode: "0644",
          content: postfixExtraCf({
            hostname: input.hostname,
            minVersion: input.tlsMinVersion,
            limits: input.postfixLimits,
          }),
        },
        {
          path: `${root}/data/conf/postfix/openssl.cnf`,
          mode: "0644",
          content: postfixOpensslCnf(input.tlsMinVersion),
        },
      ],
      { restart: ["postfix-mailcow"] },
    ),
    install(
      "dovecot-tls",
      [{ path: `${root}/data/conf/dovecot/extra.conf`, mode: "0644", content: dovecotExtraConf(input.tlsMinVersion) }],
      { restart: ["dovecot-mailcow"] },
    ),
    install(
      "autoconfig",
      [
        { path: `${root}/data/conf/nginx/site.mailstack-autoconfig.custom`, mode: "0644", content: autoconfigNginx() },
        {
          path: `${root}/data/conf/nginx/mailstack-autoconfig.xml`,
          mode: "0644",
          content: autoconfigXml({
            hostname: input.hostname,
            domains: input.mailcow.domains,
            services: input.mailcow.conf.services,
            webmail: input.mailcow.conf.sogo,
          }),
        },
      ],
      { restart: ["nginx-mailcow"] },
    ),
    install(
      "compose-override",
      [{ path: `${root}/docker-compose.override.yml`, mode: "0644", content: composeOverride(input.mailcow.limits) }],
      "up",
    ),
    hostStep(updatesScript(updates)),
    hostStep(hostFilesScript("incident-report", incidentReportFiles())),
    // Last: mailcow answers (UI, API, the host's certificate) once the bring-up is done.
    hostStep(mailcowUpScript(root, input.hostname, input.mailcow.version)),
    // After mailcow is up: the Postfix exporter reads the queue in mailcow's Postfix volume.
    hostStep(vmMonitoringScript(input.monitoring)),
  ];
  return steps;
}

/** A rendered file for the plan's files/<host>/<path>. */
export interface RenderedFile {
  readonly host: string;
  readonly path: string;
  readonly content: string;
}

/** Every file the VM and the node receive, as the plan shows it (secrets as given, normally "[secret]"). */
export function renderedFiles(
  input: MailcowHostInput,
  secrets: HostSecrets,
  tlsKeyPem: string,
  hosts: {
    readonly vm: string;
    readonly node: string;
    readonly snippets: { readonly userData: string; readonly networkConfig: string };
  },
): RenderedFile[] {
  const init = cloudInit(input);
  const steps = bringUp(input, secrets, tlsKeyPem);
  return [
    { host: hosts.node, path: hosts.snippets.userData, content: init.userData },
    { host: hosts.node, path: hosts.snippets.networkConfig, content: init.networkConfig },
    // The bring-up installs every step's script but those holding secrets (they run from stdin only).
    ...steps
      .filter((step) => !step.secret)
      .map((step) => ({ host: hosts.vm, path: SCRIPT_PATH(step.name), content: step.script.content })),
    ...steps.flatMap((step) => step.files.map((file) => ({ host: hosts.vm, path: file.path, content: file.content }))),
  ];
}
