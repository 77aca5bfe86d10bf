// pfSense's configuration backup (pure renderers): the mail host downloads the firewall's config.xml
// over SSH as a pfSense user that may do nothing else, and stores it with restic in the off-site
// repository (tag pfsense-config, its own retention group), beside mailcow's snapshots.
//
// Why SSH and this user, from the sources (pfsense/pfsense@9363ac5b, pfrest/pfSense-pkg-RESTAPI@v2.10.0):
// - pfrest has no endpoint that returns config.xml: ConfigHistoryRevision lists and deletes
//   revisions only; the one way through the API is CommandPrompt (POST /api/v2/diagnostics/
//   command_prompt, a root shell, privilege page-diagnostics-command "standard-warning-root").
//   The GUI's download (diag_backup.php) needs page-diagnostics-backup-restore, which can also
//   restore any configuration: root in effect as well.
// - The user gets one privilege, user-copy-files: auth.inc local_user_set then makes its login shell
//   /usr/local/bin/scponly (no shell) and writes its authorized keys verbatim, so the key below
//   carries `command="scp -f /cf/conf/config.xml",restrict,from="<mail host>"`: whatever the client
//   asks for, sshd runs only the download of that one file, from the mail host's address, with no
//   forwarding and no terminal. (pfSense marks user-copy-files "standard-warning-root" too, because a
//   password login could copy files; the password is random, never known to anyone, and the key is
//   bound to the forced command.)
// - scponly lets that forced command through (scponly/scponly@3aab916, the last upstream commit):
//   sshd runs it as `scponly -c "scp -f …"`, substitute_known_path (helper.c) maps `scp` to its
//   compiled path, valid_arg_vector allows scp with arguments, and dangerous_args (scponly.c)
//   refuses only scp's -S, -o and -F. The lab's login shell is bash, not scponly (not in Debian).
// - config.xml is written by safe_write_file (config.lib.inc: fopen of a temporary file, rename),
//   with no chmod of the file or of /cf/conf anywhere in the source: its mode is the writer's umask
//   (0644 under FreeBSD's default 022), which is what lets the uid-2000 user read it. Should a
//   pfSense build tighten that, the download fails and the run reports it; nothing is stored.
// - The client is `scp -O` (the original scp protocol): the forced command speaks it, an SFTP
//   session would not. pfSense's host key is pinned (mailstack:pfsense.configBackup.hostKey) in a
//   known_hosts file of its own under a HostKeyAlias; a different key ends the run before any byte.
import type { HostScript, InstalledFile } from "./host-scripts";
import { BACKUP_CONFIG_FILE, BIN_DIR, fileSettings, type Unit } from "./backup";
import { b64, renderScript } from "./shell";

/** Where pfSense keeps its configuration (config.lib.inc: g_get('cf_conf_path') . '/config.xml'). */
export const PFSENSE_CONFIG_XML = "/cf/conf/config.xml";
/** The one pfSense privilege the backup user holds (priv/user.priv.inc). */
export const BACKUP_USER_PRIVILEGE = "user-copy-files";
/** The snapshots' tag in the off-site repository. */
export const SNAPSHOT_TAG = "pfsense-config";
export const TOOL_NAME = "mailstack-pfsense-backup";
const HOST_KEY_ALIAS = "pfsense-config-backup";

export interface PfSenseBackupPaths {
  readonly backupConfigFile: string;
  readonly keyFile: string;
  readonly knownHostsFile: string;
  /** The last run's result (key=value), read by mailstack-metrics. */
  readonly statusFile: string;
  /** Where config.xml is staged for restic (0700; emptied after every run). */
  readonly stagingDir: string;
}

export const PFSENSE_BACKUP_PATHS: PfSenseBackupPaths = {
  backupConfigFile: BACKUP_CONFIG_FILE,
  keyFile: "/etc/mailstack/pfsense-backup-key",
  knownHostsFile: "/etc/mailstack/pfsense-known-hosts",
  statusFile: "/var/lib/mailstack/pfsense-config.status",
  stagingDir: "/var/backups/mailstack-pfsense",
};

export interface PfSenseBackupInput {
  /** pfSense's sshd as the mail host reaches it. */
  readonly address: string;
  readonly port: number;
  readonly user: string;
  /** pfSense's SSH host key line ("ssh-ed25519 AAAA… [comment]"). */
  readonly hostKey: string;
  /** The file the forced command sends (PFSENSE_CONFIG_XML on pfSense). */
  readonly configPath: string;
  /** systemd calendar expression. */
  readonly schedule: string;
  readonly paths: PfSenseBackupPaths;
}

/**
 * The authorized_keys line of the backup user: only the download of `configPath`, only from
 * `from` (the mail host's address), no forwarding, no terminal.
 */
export function backupAuthorizedKey(publicKey: string, configPath: string, from: string, comment: string): string {
  const [type = "", key = ""] = publicKey.trim().split(/\s+/);
  return `command="scp -f ${configPath}",restrict,from="${from}" ${type} ${key} ${comment}\n`;
}

/** The pinned host key, under the alias the tool connects with. */
export function knownHosts(hostKey: string): string {
  const [type = "", key = ""] = hostKey.trim().split(/\s+/);
  return `${HOST_KEY_ALIAS} ${type} ${key}\n`;
}

export function pfSenseBackupTool(input: PfSenseBackupInput): string {
  return renderScript(
    TOOL_NAME,
    {
      BACKUP_CONFIG_DEFAULT: input.paths.backupConfigFile,
      PFSENSE_ADDRESS: input.address,
      PFSENSE_PORT: String(input.port),
      PFSENSE_USER: input.user,
      PFSENSE_CONFIG_PATH: input.configPath,
      SSH_KEY_FILE: input.paths.keyFile,
      KNOWN_HOSTS_FILE: input.paths.knownHostsFile,
      HOST_KEY_ALIAS,
      PFSENSE_STAGING_DIR: input.paths.stagingDir,
      PFSENSE_STATUS_FILE: input.paths.statusFile,
      SNAPSHOT_TAG,
    },
    "backup",
  );
}

export function pfSenseBackupUnits(input: PfSenseBackupInput, binDir = BIN_DIR): Unit[] {
  return [
    {
      name: `${TOOL_NAME}.service`,
      content: `[Unit]
Description=mailstack: pfSense's config.xml to the off-site restic repository
Documentation=file://${binDir}/${TOOL_NAME}
Wants=network-online.target
After=network-online.target

[Service]
Type=oneshot
ExecStart=${binDir}/${TOOL_NAME} run
Nice=10
TimeoutStartSec=3h
PrivateTmp=yes
`,
    },
    {
      name: `${TOOL_NAME}.timer`,
      content: `[Unit]
Description=mailstack: daily backup of pfSense's configuration

[Timer]
OnCalendar=${input.schedule}
RandomizedDelaySec=10min
Persistent=true

[Install]
WantedBy=timers.target
`,
    },
  ];
}

/** The non-secret files: the tool, the pinned host key, the units. */
export function pfSenseBackupFiles(input: PfSenseBackupInput): InstalledFile[] {
  return [
    { path: `${BIN_DIR}/${TOOL_NAME}`, mode: "0755", content: pfSenseBackupTool(input) },
    { path: input.paths.knownHostsFile, mode: "0644", content: knownHosts(input.hostKey) },
    ...pfSenseBackupUnits(input).map((unit) => ({
      path: `/etc/systemd/system/${unit.name}`,
      mode: "0644",
      content: unit.content,
    })),
  ];
}

/** The private key file, root only (travels as a secret on SSH stdin). */
export function pfSenseKeyScript(input: PfSenseBackupInput, privateKey: string): HostScript {
  const content = privateKey.endsWith("\n") ? privateKey : `${privateKey}\n`;
  return {
    name: "pfsense-backup-key",
    content: renderScript("pfsense-backup-key", { KEY_FILE: input.paths.keyFile, KEY_B64: b64(content) }, "host"),
    files: [{ path: input.paths.keyFile, mode: "0600", content }],
  };
}

/** Installs the files, enables the timer and downloads config.xml once (`init`: nothing stored). */
export function pfSenseBackupInstallScript(input: PfSenseBackupInput): HostScript {
  const files = pfSenseBackupFiles(input);
  return {
    name: "pfsense-backup-install",
    content: renderScript(
      "pfsense-backup-install",
      { ...fileSettings(files), TIMER: `${TOOL_NAME}.timer`, TOOL: `${BIN_DIR}/${TOOL_NAME}` },
      "host",
    ),
    files,
  };
}
