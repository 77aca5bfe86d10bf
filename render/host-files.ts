// The files the mail host's scripts install, rendered from plain values (pure): sshd, sysctl,
// journald, unattended-upgrades, Docker's daemon.json, CrowdSec's settings and tables, UFW's rule
// list and the DOCKER-USER blocks. The scripts (render/scripts/*.sh, built in host-scripts.ts)
// receive them as base64 settings; the plan shows each one at its path.

export interface AdminAccessInput {
  /** The humans' account: their keys, sudo with the stack's password. */
  readonly username: string;
  readonly sshKeys: readonly string[];
  /** The bring-up's own account (common/host-users.ts DEPLOY_USER). */
  readonly deployUser: string;
  /** The key Pulumi's bring-up uses, accepted only from `deployFrom` and only for the deploy user. */
  readonly deployKey: string;
  readonly deployFrom: readonly string[];
}

/** The admins' authorized_keys: their keys only (the deploy key has its own user). */
export function authorizedKeys(input: AdminAccessInput): string {
  return `${input.sshKeys.join("\n")}\n`;
}

/**
 * The deploy user's authorized_keys line. `restrict` turns off port, agent and X11 forwarding, the
 * pty and ~/.ssh/rc (and every such permission added by later OpenSSH releases); `from=` accepts it
 * only from the admin networks (sshd(8) AUTHORIZED_KEYS FILE FORMAT, openssh-portable V_9_2_P1
 * auth-options.c sshauthopt_parse: "restrict" clears permit_port_forwarding_flag, agent, x11, pty
 * and user_rc). cloud-init writes it as given (cloudinit/ssh_util.py AuthKeyLineParser keeps options).
 */
export function deployAuthorizedKey(input: Pick<AdminAccessInput, "deployKey" | "deployFrom">): string {
  return `restrict,from="${input.deployFrom.join(",")}" ${input.deployKey.trim()} mailstack-deploy`;
}

/**
 * The humans get sudo with their password (no NOPASSWD); the deploy user may run exactly
 * `sudo bash -s` without one: the form every bring-up command uses (a script on stdin). That is
 * root-equivalent by design; what it removes is the interactive shell, forwarding and a shared key.
 * sudo looks `bash` up in Debian's secure_path (/usr/bin first) and matches by path and arguments.
 */
export function sudoers(input: Pick<AdminAccessInput, "username" | "deployUser">): string {
  return [
    "# mailstack: admins with their password; the deploy identity only for scripts on stdin.",
    `${input.username} ALL=(ALL:ALL) ALL`,
    `${input.deployUser} ALL=(root) NOPASSWD: /usr/bin/bash -s`,
    "",
  ].join("\n");
}

export function sshdConfig(input: Pick<AdminAccessInput, "username" | "deployUser">): string {
  return [
    "# mailstack: SSH with keys only, no root login.",
    "PasswordAuthentication no",
    "KbdInteractiveAuthentication no",
    "PermitRootLogin no",
    "PubkeyAuthentication yes",
    "AuthenticationMethods publickey",
    `AllowUsers ${input.username} ${input.deployUser}`,
    "MaxAuthTries 3",
    "LoginGraceTime 30",
    "X11Forwarding no",
    "AllowAgentForwarding no",
    "# The deploy identity runs commands only (its key also carries `restrict`): no forwarding of any",
    "# kind (mailcow's services listen on loopback), no tunnel, no pty.",
    `Match User ${input.deployUser}`,
    "    DisableForwarding yes",
    "    AllowTcpForwarding no",
    "    AllowStreamLocalForwarding no",
    "    PermitTunnel no",
    "    X11Forwarding no",
    "    AllowAgentForwarding no",
    "    PermitTTY no",
    "    PermitUserRC no",
    "",
  ].join("\n");
}

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

/** Docker's release signing key (https://download.docker.com/linux/debian/gpg). */
export const DOCKER_KEY_FINGERPRINT = "9DC858229FC7DD38854AE2D88D81803C0EBFCD88";

/** daemon.json; the log settings come from render/logging.ts (journald driver, bounded cache). */
export const dockerDaemonJson = (logging: { "log-driver": string; "log-opts": Record<string, string> }): string =>
  `${JSON.stringify(
    {
      ...logging,
      ipv6: true,
      "fixed-cidr-v6": "fd00:dead:beef:c0::/80",
      ip6tables: true,
      "live-restore": false,
    },
    null,
    2,
  )}\n`;

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
  /** The exporters' ports (render/monitoring.ts), open only to the networks Prometheus scrapes from. */
  readonly monitoring?: { readonly sources: readonly string[]; readonly ports: readonly number[] };
  /** pfSense's syslog (UDP) to the log receiver, from pfSense's LAN address only (render/logging.ts). */
  readonly pfsenseSyslog?: { readonly source: string; readonly port: number };
}

/** Exists once the admin account has the stack's password and 2FA: 443 is then open to everyone. */
export const HTTPS_PUBLIC_MARKER = "/var/lib/mailstack/https-public";
const HTTPS = 443;

/**
 * UFW's rules, one per line, exactly as `ufw show added` lists them (ufw 0.36.2 prints
 * `ufw allow log 25/tcp comment '…'` for a port, and moves `proto tcp` after the port when there is
 * a source): firewall.sh removes every listed rule that is not one of these lines. Every rule logs
 * new connections (ufw's [UFW ALLOW]).
 */
export function ufwRules(input: FirewallInput): string {
  return [
    ...input.publicPorts.map((port) => `ufw allow log ${port}/tcp comment 'mailstack-public'`),
    ...input.adminNetworks.map(
      (network) => `ufw allow log from ${network} to any port 22 proto tcp comment 'mailstack-admin-ssh'`,
    ),
    ...(input.monitoring?.sources ?? []).flatMap((network) =>
      (input.monitoring?.ports ?? []).map(
        (port) => `ufw allow log from ${network} to any port ${port} proto tcp comment 'mailstack-monitoring'`,
      ),
    ),
    ...(input.pfsenseSyslog
      ? [
          `ufw allow log from ${input.pfsenseSyslog.source} to any port ${input.pfsenseSyslog.port} proto udp comment 'mailstack-pfsense-syslog'`,
        ]
      : []),
    "",
  ].join("\n");
}

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

/** The DOCKER-USER block appended to UFW's after.rules (IPv4) or after6.rules (IPv6). */
export function dockerUserBlock(input: FirewallInput, httpsPublic: boolean, family: 4 | 6): string {
  return `# BEGIN mailstack DOCKER-USER\n${dockerUserRules(input, httpsPublic, family)}# END mailstack DOCKER-USER\n`;
}

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

export const CROWDSEC_NFT_PATH = "/etc/mailstack/crowdsec.nft";

/** The bouncer loads CROWDSEC_NFT before it starts. */
export const CROWDSEC_BOUNCER_DROPIN = `[Service]\nExecStartPre=/usr/sbin/nft -f ${CROWDSEC_NFT_PATH}\n`;

/** Where cloud-init's netplan renderer writes the first boot's network config (Debian's cloud images). */
export const NETPLAN_FILE = "/etc/netplan/50-cloud-init.yaml";
