// Everything the mail VM is given, assembled from plain values (pure): the cloud-init documents,
// the host configuration scripts and the mailcow file installs. MailcowVm renders it twice:
// with the real secrets for the VM, and with "[secret]" stand-ins for the plan's files/.
import { networkConfig, userData, type NetworkInput } from "./cloud-init";
import {
  adminAccessScript,
  baseHardeningScript,
  crowdsecScript,
  dockerScript,
  firewallScript,
  installFilesScript,
  mailcowFetchScript,
  mailcowUpScript,
  type HostScript,
  type InstalledFile,
  scriptFiles,
} from "./host-scripts";
import {
  composeOverride,
  dovecotExtraConf,
  MAILCOW_DIR,
  mailcowConf,
  postfixExtraCf,
  postfixOpensslCnf,
  type MailcowConfInput,
  type MailcowSecrets,
  type ServiceLimit,
  type TlsVersion,
} from "./mailcow";

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
  readonly network: NetworkInput;
  readonly mailcow: {
    readonly version: string;
    readonly conf: MailcowConfInput;
    readonly limits: Readonly<Partial<Record<string, ServiceLimit>>>;
  };
}

/** The host scripts, in the order they run. */
export function hostScripts(input: MailcowHostInput): HostScript[] {
  return [
    adminAccessScript({
      username: input.admin.username,
      sshKeys: input.admin.sshKeys,
      deployKey: input.deployKey,
      deployFrom: input.admin.networks,
    }),
    baseHardeningScript(input.admin.email),
    firewallScript({
      interface: input.network.interface,
      publicPorts: input.publicPorts,
      adminNetworks: input.admin.networks,
    }),
    dockerScript(),
    crowdsecScript(),
    mailcowFetchScript(MAILCOW_DIR, input.mailcow.version),
  ];
}

export function cloudInit(input: MailcowHostInput): { userData: string; networkConfig: string } {
  return {
    userData: userData({
      hostname: input.hostname,
      timezone: input.timezone,
      admin: input.admin,
      scripts: hostScripts(input),
    }),
    networkConfig: networkConfig(input.network),
  };
}

export interface FileInstall {
  readonly name: string;
  readonly files: readonly InstalledFile[];
  readonly script: HostScript;
  /** The files hold secrets: the script travels as a secret and its output is not logged. */
  readonly secret: boolean;
}

const SSL = `${MAILCOW_DIR}/data/assets/ssl`;

/**
 * One install per concern, so that a change re-applies only its files and restarts only the
 * containers that read them. The TLS key goes to acme/key.pem (kept across renewals) and to
 * ssl/key.pem before mailcow first starts, so the TLSA record matches from the first handshake.
 */
export function fileInstalls(input: MailcowHostInput, secrets: MailcowSecrets, tlsKeyPem: string): FileInstall[] {
  const root = MAILCOW_DIR;
  const install = (
    name: string,
    files: InstalledFile[],
    onChange: { restart: string[] } | "up",
    secret: boolean,
    tls?: { hostname: string },
  ): FileInstall => ({
    name,
    files,
    secret,
    script: installFilesScript(name, files, { root, onChange, ...(tls ? { tls } : {}) }),
  });
  return [
    install(
      "tls-key",
      [
        { path: `${SSL}/acme/key.pem`, mode: "0600", content: tlsKeyPem },
        { path: `${SSL}/key.pem`, mode: "0600", content: tlsKeyPem },
      ],
      { restart: ["acme-mailcow", "postfix-mailcow", "dovecot-mailcow", "nginx-mailcow"] },
      true,
      { hostname: input.hostname },
    ),
    install(
      "mailcow-conf",
      [{ path: `${root}/mailcow.conf`, mode: "0600", content: mailcowConf(input.mailcow.conf, secrets) }],
      "up",
      true,
    ),
    install(
      "postfix-tls",
      [
        { path: `${root}/data/conf/postfix/extra.cf`, mode: "0644", content: postfixExtraCf(input.tlsMinVersion) },
        {
          path: `${root}/data/conf/postfix/openssl.cnf`,
          mode: "0644",
          content: postfixOpensslCnf(input.tlsMinVersion),
        },
      ],
      { restart: ["postfix-mailcow"] },
      false,
    ),
    install(
      "dovecot-tls",
      [{ path: `${root}/data/conf/dovecot/extra.conf`, mode: "0644", content: dovecotExtraConf(input.tlsMinVersion) }],
      { restart: ["dovecot-mailcow"] },
      false,
    ),
    install(
      "compose-override",
      [{ path: `${root}/docker-compose.override.yml`, mode: "0644", content: composeOverride(input.mailcow.limits) }],
      "up",
      false,
    ),
  ];
}

export function mailcowUp(input: MailcowHostInput): HostScript {
  return mailcowUpScript(MAILCOW_DIR, input.hostname);
}

/** A rendered file for the plan's files/<host>/<path>. */
export interface RenderedFile {
  readonly host: string;
  readonly path: string;
  readonly content: string;
}

/** Every file the VM receives, as the plan shows it (secrets as given, normally "[secret]"). */
export function renderedFiles(
  input: MailcowHostInput,
  secrets: MailcowSecrets,
  tlsKeyPem: string,
  hosts: { readonly vm: string; readonly node: string; readonly snippetDir: string; readonly snippetPrefix: string },
): RenderedFile[] {
  const init = cloudInit(input);
  return [
    { host: hosts.node, path: `${hosts.snippetDir}/${hosts.snippetPrefix}-user-data.yaml`, content: init.userData },
    {
      host: hosts.node,
      path: `${hosts.snippetDir}/${hosts.snippetPrefix}-network-config.yaml`,
      content: init.networkConfig,
    },
    ...hostScripts(input).map((script) => ({
      host: hosts.vm,
      path: `/usr/local/sbin/mailstack-${script.name}`,
      content: script.content,
    })),
    // What the scripts install (sshd, sysctl, Docker, CrowdSec, …), so a review sees each file.
    ...hostScripts(input).flatMap((script) =>
      scriptFiles(script).map((file) => ({ host: hosts.vm, path: file.path, content: file.content })),
    ),
    ...fileInstalls(input, secrets, tlsKeyPem).flatMap((item) =>
      item.files.map((file) => ({ host: hosts.vm, path: file.path, content: file.content })),
    ),
  ];
}
