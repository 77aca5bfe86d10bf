// The mail host's configuration as idempotent bash scripts (pure renderers). cloud-init runs
// each once at first boot, so the VM is hardened before anything else reaches it; the bring-up
// runs the same script again over SSH whenever its content changes, so later config changes
// (admin keys, ports, networks) reach the running VM. Every script passes shellcheck.

export interface HostScript {
  /** Stable name: the file name under /usr/local/sbin and part of the resource name. */
  readonly name: string;
  readonly content: string;
}

const DELIMITER = "MAILSTACK_EOF";

/** Shared settings at the top of every script. */
const PRELUDE = `set -euo pipefail
umask 022
export DEBIAN_FRONTEND=noninteractive

log() { echo "mailstack: $*"; }
`;

/** The atomic file writer, for scripts that install files. */
const WRITE_FILE = `# write_file PATH MODE < content: installs the content atomically; succeeds only when it changed.
write_file() {
  local path=$1 mode=$2 tmp
  install -d -m 0755 "$(dirname "$path")"
  tmp=$(mktemp "$(dirname "$path")/.mailstack.XXXXXX")
  cat >"$tmp"
  chmod "$mode" "$tmp"
  if [ -f "$path" ] && cmp -s "$tmp" "$path" && [ "$(stat -c %a "$tmp")" = "$(stat -c %a "$path")" ]; then
    rm -f "$tmp"
    return 1
  fi
  mv -f "$tmp" "$path"
  echo "changed $path"
}
`;

/** A quoted here-document: `opener` goes on the command line, `body` on the lines after it. */
function heredoc(content: string): { opener: string; body: string } {
  if (content.split("\n").includes(DELIMITER)) throw new Error(`content contains the heredoc delimiter ${DELIMITER}`);
  return { opener: `<<'${DELIMITER}'`, body: `${content.endsWith("\n") ? content : `${content}\n`}${DELIMITER}` };
}

/** The files a script installs with write_file (its here-documents), for the plan's file listing. */
export function scriptFiles(script: HostScript): { path: string; mode: string; content: string }[] {
  const pattern = new RegExp(
    `^(?:if )?write_file (\\S+) (\\d{3,4}) <<'${DELIMITER}'(?: \\|\\| true)?\n([\\s\\S]*?)^${DELIMITER}$`,
    "gm",
  );
  return [...script.content.matchAll(pattern)].map(([, path = "", mode = "", content = ""]) => ({
    path,
    mode,
    content,
  }));
}

/** `if write_file …; then <onChange>; fi` for a text file. */
export function fileStep(path: string, mode: string, content: string, onChange?: string): string {
  const { opener, body } = heredoc(content);
  return onChange
    ? `if write_file ${path} ${mode} ${opener}\n${body}\nthen\n  ${onChange}\nfi`
    : `write_file ${path} ${mode} ${opener} || true\n${body}`;
}

export function script(name: string, purpose: string, body: readonly string[]): HostScript {
  const helpers = body.some((line) => line.includes("write_file ")) ? [PRELUDE, WRITE_FILE] : [PRELUDE];
  return {
    name,
    content: [`#!/bin/bash`, `# mailstack ${name}: ${purpose}`, ...helpers, ...body, `log "${name} done"`, ""].join(
      "\n",
    ),
  };
}

// ---- admin access ------------------------------------------------------------------------

export interface AdminAccessInput {
  readonly username: string;
  readonly sshKeys: readonly string[];
  /** The key Pulumi's bring-up uses, accepted only from `deployFrom`. */
  readonly deployKey: string;
  readonly deployFrom: readonly string[];
}

export function sshdConfig(username: string): string {
  return [
    "# mailstack: SSH with keys only, no root login.",
    "PasswordAuthentication no",
    "KbdInteractiveAuthentication no",
    "PermitRootLogin no",
    "PubkeyAuthentication yes",
    "AuthenticationMethods publickey",
    `AllowUsers ${username}`,
    "MaxAuthTries 3",
    "LoginGraceTime 30",
    "X11Forwarding no",
    "AllowAgentForwarding no",
    "",
  ].join("\n");
}

export function adminAccessScript(input: AdminAccessInput): HostScript {
  const user = input.username;
  const keys = [
    ...input.sshKeys,
    `from="${input.deployFrom.join(",")}",no-agent-forwarding,no-X11-forwarding ${input.deployKey.trim()} mailstack-deploy`,
  ];
  return script("admin-access", "the admin user (keys only, sudo), sshd without passwords or root", [
    `if ! id -u ${user} >/dev/null 2>&1; then`,
    `  useradd --create-home --shell /bin/bash ${user}`,
    "fi",
    // The docker group is root-equivalent: no human user belongs to it (errata 3.4).
    `if id -nG ${user} | tr ' ' '\\n' | grep -qx docker; then gpasswd -d ${user} docker; fi`,
    `passwd -l ${user} >/dev/null`,
    `install -d -m 0700 -o ${user} -g ${user} /home/${user}/.ssh`,
    fileStep(`/home/${user}/.ssh/authorized_keys`, "0600", `${keys.join("\n")}\n`),
    `chown ${user}:${user} /home/${user}/.ssh/authorized_keys`,
    fileStep("/etc/sudoers.d/90-mailstack", "0440", `${user} ALL=(ALL) NOPASSWD:ALL\n`),
    "visudo -cf /etc/sudoers.d/90-mailstack >/dev/null",
    fileStep("/etc/ssh/sshd_config.d/10-mailstack.conf", "0644", sshdConfig(user), "sshd -t && systemctl reload ssh"),
  ]);
}

// ---- base hardening ----------------------------------------------------------------------

/** The guide's network tuning (§20.3) plus the usual kernel hardening for a public host. */
export const SYSCTL = `# mailstack: network tuning (guide §20.3) and hardening.
net.core.rmem_max = 26214400
net.core.wmem_max = 26214400
net.ipv4.tcp_rmem = 4096 87380 6291456
net.ipv4.tcp_wmem = 4096 65536 6291456
net.ipv4.tcp_fastopen = 3
net.ipv4.tcp_syncookies = 1
net.ipv4.conf.all.rp_filter = 1
net.ipv4.conf.default.rp_filter = 1
net.ipv4.conf.all.accept_redirects = 0
net.ipv4.conf.default.accept_redirects = 0
net.ipv6.conf.all.accept_redirects = 0
net.ipv6.conf.default.accept_redirects = 0
net.ipv4.conf.all.send_redirects = 0
net.ipv4.conf.all.accept_source_route = 0
net.ipv6.conf.all.accept_source_route = 0
net.ipv4.conf.all.log_martians = 1
kernel.kptr_restrict = 2
kernel.dmesg_restrict = 1
`;

export const JOURNALD = `# mailstack: bounded persistent journal.
[Journal]
Storage=persistent
SystemMaxUse=2G
MaxRetentionSec=3month
`;

export function unattendedUpgrades(mailTo: string): string {
  return `// mailstack: security updates only; no automatic reboot (mail must not stop unannounced).
Unattended-Upgrade::Origins-Pattern {
        "origin=Debian,codename=\${distro_codename},label=Debian-Security";
        "origin=Debian,codename=\${distro_codename}-security,label=Debian-Security";
};
Unattended-Upgrade::Remove-Unused-Dependencies "true";
Unattended-Upgrade::Automatic-Reboot "false";
Unattended-Upgrade::Mail "${mailTo}";
Unattended-Upgrade::MailReport "on-change";
`;
}

export const AUTO_UPGRADES = `APT::Periodic::Update-Package-Lists "1";
APT::Periodic::Unattended-Upgrade "1";
APT::Periodic::AutocleanInterval "7";
`;

export function baseHardeningScript(adminEmail: string): HostScript {
  return script("base-hardening", "kernel tuning, journal limits, unattended security upgrades, time sync", [
    "apt-get install -y -q unattended-upgrades apt-listchanges chrony qemu-guest-agent >/dev/null",
    fileStep("/etc/sysctl.d/90-mailstack.conf", "0644", SYSCTL, "sysctl --system >/dev/null"),
    fileStep("/etc/systemd/journald.conf.d/90-mailstack.conf", "0644", JOURNALD, "systemctl restart systemd-journald"),
    fileStep("/etc/apt/apt.conf.d/52mailstack-unattended-upgrades", "0644", unattendedUpgrades(adminEmail)),
    fileStep("/etc/apt/apt.conf.d/20auto-upgrades", "0644", AUTO_UPGRADES),
    "systemctl enable --now unattended-upgrades.service chrony.service qemu-guest-agent.service",
  ]);
}

// ---- network -------------------------------------------------------------------------------

/** Where cloud-init's netplan renderer writes the first boot's network config (Debian's cloud images). */
export const NETPLAN_FILE = "/etc/netplan/50-cloud-init.yaml";

/**
 * A network edit reaches the running VM: cloud-init applies the network config only at first boot,
 * so the bring-up writes the same (version 2) document as netplan's file and applies it when it
 * changed. Changing the address the bring-up connects to (lan.ipv4) needs a console, see the README.
 */
export function networkScript(netplanYaml: string): HostScript {
  return script("network", "the VM's addresses, routes and resolvers (netplan), applied when they change", [
    "if ! command -v netplan >/dev/null; then",
    '  echo "mailstack: netplan is missing: this image does not render its network with netplan; apply network changes from the console" >&2',
    "  exit 1",
    "fi",
    fileStep(NETPLAN_FILE, "0600", netplanYaml, "netplan generate && netplan apply"),
  ]);
}

// ---- Docker --------------------------------------------------------------------------------

/** Docker's release signing key (https://download.docker.com/linux/debian/gpg). */
export const DOCKER_KEY_FINGERPRINT = "9DC858229FC7DD38854AE2D88D81803C0EBFCD88";

export const DOCKER_DAEMON_JSON = `${JSON.stringify(
  {
    "log-driver": "json-file",
    "log-opts": { "max-size": "50m", "max-file": "5" },
    ipv6: true,
    "fixed-cidr-v6": "fd00:dead:beef:c0::/80",
    ip6tables: true,
    "live-restore": false,
  },
  null,
  2,
)}\n`;

export function dockerScript(): HostScript {
  return script(
    "docker",
    "Docker CE and the Compose plugin from Docker's repository (key pinned), log rotation, no TCP socket",
    [
      `readonly FINGERPRINT=${DOCKER_KEY_FINGERPRINT}`,
      "readonly KEYRING=/etc/apt/keyrings/docker.gpg",
      "if ! docker compose version >/dev/null 2>&1; then",
      "  apt-get install -y -q ca-certificates curl gnupg >/dev/null",
      "  tmp=$(mktemp -d)",
      "  trap 'rm -rf \"$tmp\"' EXIT",
      '  curl -fsSL --proto "=https" --tlsv1.2 https://download.docker.com/linux/debian/gpg -o "$tmp/docker.asc"',
      '  actual=$(gpg --batch --show-keys --with-colons "$tmp/docker.asc" | awk -F: \'$1 == "fpr" { print $10; exit }\')',
      '  if [ "$actual" != "$FINGERPRINT" ]; then',
      '    echo "mailstack: Docker signing key $actual is not the pinned $FINGERPRINT" >&2',
      "    exit 1",
      "  fi",
      "  install -d -m 0755 /etc/apt/keyrings",
      '  gpg --batch --yes --dearmor -o "$KEYRING" "$tmp/docker.asc"',
      '  chmod 0644 "$KEYRING"',
      "  # shellcheck source=/dev/null",
      '  codename=$(. /etc/os-release && echo "$VERSION_CODENAME")',
      '  echo "deb [arch=$(dpkg --print-architecture) signed-by=$KEYRING] https://download.docker.com/linux/debian $codename stable" >/etc/apt/sources.list.d/docker.list',
      "  apt-get update -q",
      "  apt-get install -y -q docker-ce docker-ce-cli containerd.io docker-buildx-plugin docker-compose-plugin",
      "fi",
      fileStep("/etc/docker/daemon.json", "0644", DOCKER_DAEMON_JSON, "systemctl restart docker"),
      // The API stays on the Unix socket only.
      "if ss -ltn | grep -qE ':(2375|2376)\\b'; then",
      '  echo "mailstack: dockerd listens on TCP; remove -H tcp:// from its configuration" >&2',
      "  exit 1",
      "fi",
      "systemctl enable --now docker",
    ],
  );
}

// ---- firewall ------------------------------------------------------------------------------

export interface FirewallInput {
  /** The LAN interface (named by the network config). */
  readonly interface: string;
  /** TCP ports open to everyone (mail, HTTP/HTTPS). */
  readonly publicPorts: readonly number[];
  /** Networks allowed to reach SSH. */
  readonly adminNetworks: readonly string[];
  /**
   * Until the stack has secured mailcow's admin account (HTTPS_PUBLIC_MARKER exists), 443 answers
   * only these networks: mailcow starts with the default admin `admin`/`moohoo`
   * (data/web/inc/init_db.inc.php:1365-1375 at mailcow 2026-07a), which must never face the internet.
   */
  readonly httpsEarlySources: readonly string[];
}

/** Exists once the admin account has the stack's password and 2FA: 443 is then open to everyone. */
export const HTTPS_PUBLIC_MARKER = "/var/lib/mailstack/https-public";
const HTTPS = 443;

/**
 * Rules for Docker's DOCKER-USER chain (iptables-restore format): Docker-published ports bypass
 * UFW's INPUT rules, so new connections from the LAN interface to containers are dropped unless
 * they target a public port (matched on the original, pre-DNAT port). With `httpsPublic` false,
 * 443 is public only for `httpsEarlySources` of the given family.
 */
export function dockerUserRules(input: FirewallInput, httpsPublic = true, family: 4 | 6 = 4): string {
  const early = input.httpsEarlySources.filter((cidr) => cidr.includes(":") === (family === 6));
  const open = (port: number, source?: string) =>
    `-A DOCKER-USER${source ? ` -s ${source}` : ""} -p tcp -m conntrack --ctorigdstport ${port} --ctdir ORIGINAL -j RETURN`;
  return [
    "*filter",
    ":DOCKER-USER - [0:0]",
    "-F DOCKER-USER",
    "-A DOCKER-USER -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN",
    `-A DOCKER-USER ! -i ${input.interface} -j RETURN`,
    ...input.publicPorts.flatMap((port) =>
      port === HTTPS && !httpsPublic ? early.map((source) => open(port, source)) : [open(port)],
    ),
    '-A DOCKER-USER -m limit --limit 6/min -j LOG --log-prefix "[mailstack DOCKER-USER] "',
    "-A DOCKER-USER -j DROP",
    "COMMIT",
    "",
  ].join("\n");
}

export function firewallScript(input: FirewallInput): HostScript {
  const block = (httpsPublic: boolean, family: 4 | 6) =>
    heredoc(`# BEGIN mailstack DOCKER-USER\n${dockerUserRules(input, httpsPublic, family)}# END mailstack DOCKER-USER`);
  const append = (file: string, family: 4 | 6) => {
    const published = block(true, family);
    const early = block(false, family);
    return [
      `if [ -f ${HTTPS_PUBLIC_MARKER} ]; then`,
      `  cat >>${file} ${published.opener}`,
      published.body,
      "else",
      `  cat >>${file} ${early.opener}`,
      early.body,
      "fi",
    ];
  };
  return script("firewall", "UFW default-deny, public mail ports, SSH from the admin networks, DOCKER-USER", [
    "apt-get install -y -q ufw >/dev/null",
    "ufw --force reset >/dev/null",
    "ufw default deny incoming",
    "ufw default allow outgoing",
    // Every rule logs new connections (ufw's [UFW ALLOW]); blocked ones log through "logging low".
    ...input.publicPorts.map((port) => `ufw allow log proto tcp to any port ${port} comment 'mailstack public'`),
    ...input.adminNetworks.map(
      (network) => `ufw allow log proto tcp from ${network} to any port 22 comment 'mailstack admin ssh'`,
    ),
    "ufw logging low",
    `# DOCKER-USER rules appended to UFW's after-rules; 443 opens to everyone once ${HTTPS_PUBLIC_MARKER} exists.`,
    ...append("/etc/ufw/after.rules", 4),
    ...append("/etc/ufw/after6.rules", 6),
    "ufw --force enable",
    "ufw reload",
  ]);
}

/** Opens 443 to everyone (after the admin account is secured): the marker, then the firewall again. */
export function httpsPublicScript(): HostScript {
  return script("https-public", "443 for everyone, now that mailcow's admin account is the stack's", [
    `install -D -m 0644 /dev/null ${HTTPS_PUBLIC_MARKER}`,
    `${SCRIPT_PATH("firewall")}`,
  ]);
}

/** Where every host script is installed on the VM (cloud-init and the bring-up keep it current). */
export const SCRIPT_PATH = (name: string) => `/usr/local/sbin/mailstack-${name}`;

/**
 * The bring-up's form of a host script: it installs the script at SCRIPT_PATH (so the host can run
 * it again by itself, as https-public does) and runs it. The script travels base64-encoded, so no
 * content can end the here-document.
 */
export function installAndRun(hostScript: HostScript): string {
  const path = SCRIPT_PATH(hostScript.name);
  const encoded = Buffer.from(hostScript.content)
    .toString("base64")
    .replace(/(.{76})/g, "$1\n")
    .trimEnd();
  return [
    "#!/bin/bash",
    `# mailstack: install ${path} and run it.`,
    "set -euo pipefail",
    "umask 077",
    `install -d -m 0755 ${SCRIPT_DIR_PATH}`,
    `base64 -d >${path}.new <<'${DELIMITER}'`,
    encoded,
    DELIMITER,
    `chmod 0700 ${path}.new`,
    `mv -f ${path}.new ${path}`,
    `exec ${path}`,
    "",
  ].join("\n");
}
const SCRIPT_DIR_PATH = "/usr/local/sbin";

// ---- CrowdSec ------------------------------------------------------------------------------

/** CrowdSec reads mailcow's logs from Docker, and sshd from the journal. */
export const CROWDSEC_ACQUISITION = `# mailstack: mailcow's container logs and sshd.
source: docker
container_name_regexp:
  - ".*postfix-mailcow.*"
  - ".*dovecot-mailcow.*"
labels:
  type: syslog
---
source: docker
container_name_regexp:
  - ".*nginx-mailcow.*"
labels:
  type: nginx
---
source: journalctl
journalctl_filter:
  - "_SYSTEMD_UNIT=ssh.service"
labels:
  type: syslog
`;

export const CROWDSEC_COLLECTIONS = [
  "crowdsecurity/linux",
  "crowdsecurity/sshd",
  "crowdsecurity/postfix",
  "crowdsecurity/dovecot",
  "crowdsecurity/nginx",
] as const;

/** The nftables sets the bouncer fills, in tables of their own (names are the bouncer's defaults). */
export const CROWDSEC_SETS = {
  ipv4: { table: "mailstack-crowdsec", set: "crowdsec-blacklists" },
  ipv6: { table: "mailstack-crowdsec6", set: "crowdsec6-blacklists" },
} as const;

/**
 * The tables that drop banned sources, loaded before the bouncer starts (idempotent: the tables
 * are replaced, the bouncer refills the sets at start). Both hooks matter: outside traffic to
 * mailcow's containers is DNATed and forwarded by Docker and never passes input, so a ban that
 * only hooks input would protect sshd and nothing of the mail server. Priority -10 runs before
 * Docker's and UFW's chains (priority 0), and a drop in any table is final.
 */
export const CROWDSEC_NFT = (["ipv4", "ipv6"] as const)
  .map((family) => {
    const { table, set } = CROWDSEC_SETS[family];
    const nft =
      family === "ipv4"
        ? { family: "ip", type: "ipv4_addr", match: "ip" }
        : { family: "ip6", type: "ipv6_addr", match: "ip6" };
    const chain = (hook: string) =>
      [
        `  chain ${hook} {`,
        `    type filter hook ${hook} priority -10; policy accept;`,
        `    ${nft.match} saddr @${set} counter drop`,
        "  }",
      ].join("\n");
    return [
      `table ${nft.family} ${table} {}`,
      `delete table ${nft.family} ${table}`,
      `table ${nft.family} ${table} {`,
      `  set ${set} {`,
      `    type ${nft.type}`,
      "    flags timeout",
      "  }",
      chain("input"),
      chain("forward"),
      "}",
    ].join("\n");
  })
  .join("\n")
  .concat("\n");

/**
 * The bouncer's settings, written as the package's `.yaml.local` override (merged over the
 * packaged file, which the package's own install step also edits). Set-only mode: the bouncer
 * only maintains the sets of CROWDSEC_NFT, which works the same with every bouncer release
 * (hooking forward itself needs a newer one than some distributions ship). The API key is
 * appended on the host and never leaves it.
 */
export const CROWDSEC_BOUNCER_SETTINGS = `mode: nftables
update_frequency: 10s
deny_action: DROP
supported_decisions_types:
  - ban
blacklists_ipv4: ${CROWDSEC_SETS.ipv4.set}
blacklists_ipv6: ${CROWDSEC_SETS.ipv6.set}
nftables:
  ipv4:
    enabled: true
    set-only: true
    table: ${CROWDSEC_SETS.ipv4.table}
  ipv6:
    enabled: true
    set-only: true
    table: ${CROWDSEC_SETS.ipv6.table}
`;

const CROWDSEC_NFT_PATH = "/etc/mailstack/crowdsec.nft";

export function crowdsecScript(): HostScript {
  return script("crowdsec", "CrowdSec reading mailcow's container logs, with the nftables firewall bouncer", [
    "apt-get install -y -q crowdsec crowdsec-firewall-bouncer nftables >/dev/null",
    fileStep("/etc/crowdsec/acquis.d/mailstack.yaml", "0644", CROWDSEC_ACQUISITION),
    "cscli hub update",
    `for collection in ${CROWDSEC_COLLECTIONS.join(" ")}; do`,
    '  cscli collections install "$collection"',
    "done",
    fileStep(CROWDSEC_NFT_PATH, "0644", CROWDSEC_NFT),
    fileStep(
      "/etc/systemd/system/crowdsec-firewall-bouncer.service.d/mailstack.conf",
      "0644",
      `[Service]\nExecStartPre=/usr/sbin/nft -f ${CROWDSEC_NFT_PATH}\n`,
      "systemctl daemon-reload",
    ),
    "# Without a bouncer CrowdSec only detects: register one with its own key (the key stays on the host).",
    "readonly BOUNCER_LOCAL=/etc/crowdsec/bouncers/crowdsec-firewall-bouncer.yaml.local",
    "key=''",
    `if [[ -f "$BOUNCER_LOCAL" ]] && cscli bouncers list -o raw | grep -q '^mailstack-firewall,'; then`,
    `  key=$(sed -n 's/^api_key: //p' "$BOUNCER_LOCAL")`,
    "fi",
    'if [[ -z "$key" ]]; then',
    "  cscli bouncers delete mailstack-firewall >/dev/null 2>&1 || true",
    "  key=$(cscli bouncers add mailstack-firewall -o raw)",
    "fi",
    "umask 077",
    "{",
    "  cat <<'MAILSTACK_BOUNCER'",
    CROWDSEC_BOUNCER_SETTINGS.trimEnd(),
    "MAILSTACK_BOUNCER",
    `  printf 'api_key: %s\\n' "$key"`,
    '} > "$BOUNCER_LOCAL.new"',
    'mv "$BOUNCER_LOCAL.new" "$BOUNCER_LOCAL"',
    "umask 022",
    "systemctl enable crowdsec crowdsec-firewall-bouncer",
    "systemctl restart crowdsec crowdsec-firewall-bouncer",
    "# A bouncer that does not start leaves every ban without effect: fail the bring-up instead.",
    "systemctl is-active --quiet crowdsec-firewall-bouncer",
  ]);
}

// ---- mailcow ------------------------------------------------------------------------------

/** mailcow's repository, written exactly as update.sh wants it (update.sh:411-428 resets any other URL). */
export const MAILCOW_REPOSITORY = "https://github.com/mailcow/mailcow-dockerized";

export interface InstalledFile {
  readonly path: string;
  readonly mode: string;
  readonly content: string;
}

export interface InstallFilesOptions {
  /** The mailcow directory (files must lie below it). */
  readonly root: string;
  /** When a file changed and mailcow runs: restart these services, or recreate with `up -d`. */
  readonly onChange: { readonly restart: readonly string[] } | "up";
}

/**
 * Installs files (content carried base64 in the script, so any secret stays in the script that
 * travels on SSH stdin) and restarts only what the change affects.
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
  const running = `[ -n "$(cd "$ROOT" && docker compose ps -q 2>/dev/null)" ]`;
  const onChange =
    options.onChange === "up"
      ? ['(cd "$ROOT" && docker compose up -d)']
      : [`(cd "$ROOT" && docker compose restart ${options.onChange.restart.join(" ")})`];
  return script(name, `installs ${files.map((f) => f.path.slice(options.root.length + 1)).join(", ")}`, [
    `readonly ROOT=${options.root}`,
    "changed=0",
    ...files.map((file) => {
      const { opener, body } = heredoc(
        Buffer.from(file.content)
          .toString("base64")
          .replace(/(.{76})/g, "$1\n")
          .trimEnd(),
      );
      return `if base64 -d ${opener} | write_file ${file.path} ${file.mode}; then changed=1; fi\n${body}`;
    }),
    `if [ "$changed" -eq 1 ] && ${running}; then`,
    ...onChange.map((line) => `  ${line}`),
    "fi",
  ]);
}

export function mailcowUpScript(root: string, hostname: string, version: string): HostScript {
  return script("mailcow-up", `pull and start mailcow ${version}, then wait until the UI and the API answer`, [
    `cd ${root}`,
    "docker compose pull --quiet",
    "docker compose up -d",
    "ready=false",
    "for attempt in $(seq 1 90); do",
    `  ui=$(curl -sk -o /dev/null -w '%{http_code}' --resolve ${hostname}:443:127.0.0.1 https://${hostname}/ || true)`,
    `  api=$(curl -sk -o /dev/null -w '%{http_code}' --resolve ${hostname}:443:127.0.0.1 https://${hostname}/api/v1/get/status/version || true)`,
    "  # Without a key the API answers 200 with an empty body (json_api.php:449 at mailcow 2026-07a), a",
    "  # refused key 401: either means it is up.",
    '  if [ "$ui" = 200 ] && { [ "$api" = 401 ] || [ "$api" = 200 ]; }; then',
    "    ready=true",
    "    break",
    "  fi",
    "  sleep 10",
    "done",
    'if [ "$ready" != true ]; then',
    '  echo "mailstack: mailcow did not answer within 15 minutes (UI $ui, API $api)" >&2',
    "  exit 1",
    "fi",
    'log "mailcow answers (UI $ui, API $api) after $attempt checks"',
    "# The API is used with TLS verified: wait for the ACME certificate (same key, so DANE holds).",
    "verified=false",
    "for attempt in $(seq 1 120); do",
    `  if curl -s -o /dev/null --resolve ${hostname}:443:127.0.0.1 https://${hostname}/; then`,
    "    verified=true",
    "    break",
    "  fi",
    "  sleep 10",
    "done",
    'if [ "$verified" != true ]; then',
    `  echo "mailstack: no valid certificate for ${hostname} after 20 minutes: check its A/AAAA records and that port 80 reaches it (ACME HTTP-01)" >&2`,
    "  exit 1",
    "fi",
    'log "the certificate for the host verifies"',
  ]);
}
