// The exposure and resilience rules of the mailstack-security pack, called with resources shaped
// like the planned stack's (out/<stack>/plan.json): what the stack renders complies, and every
// way of opening admin access, allowing SSH passwords or losing the mail VM is reported.
import { describe, expect, it } from "vitest";
import type { ResourceView } from "../policies/args";
import { adminPorts } from "../policies/exposure/admin-ports";
import { ruleLogging } from "../policies/exposure/rule-logging";
import { sshPasswords } from "../policies/exposure/ssh-passwords";
import { sshSources } from "../policies/exposure/ssh-sources";
import { TYPES, withEncodedPayloads } from "../policies/lib";
import { deletionProtection } from "../policies/resilience/deletion-protection";
import { offsiteBackup } from "../policies/resilience/offsite-backup";
import { pfSenseConfigBackup } from "../policies/resilience/pfsense-config-backup";
import { PFSENSE_BACKUP_PATHS, PFSENSE_CONFIG_XML, pfSenseBackupInstallScript } from "../render/pfsense-backup";
import { replicatedHa, singleNode } from "../policies/resilience/replicated-ha";
import { isDaily, vmBackup } from "../policies/resilience/vm-backup";
import { backupInstallScript } from "../render/backup";
import { userData } from "../render/cloud-init";
import { firewallPlan, type FirewallPlan } from "../render/firewall-plan";
import { DEPLOY_USER } from "../common/host-users";
import { deployAuthorizedKey, sshdConfig, sudoers } from "../render/host-files";
import { adminAccessScript, firewallScript, installAndRun, type HostScript } from "../render/host-scripts";
import { b64, renderScript } from "../render/shell";
import { snippetWriteScript } from "../render/proxmox";
import { stepResourceName, type MailcowHostInput } from "../render/mailcow-host";
import { mailHostInput, offsiteBackupInput } from "./fixtures";
import {
  mailHostCommands,
  resource,
  stackMessages,
  stackViolations,
  UNKNOWN_VALUE,
  violations,
} from "./support/policy";

// ---- fixtures -------------------------------------------------------------------------------

const ADMIN = "mailops";
const ADMIN_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFSB1f8wkIt2S5RgAv5lXwfhALMeEiVictb/e4JOAnLL ops@xd-cloud.de";
const DEPLOY_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAFxQ4sH7xsA0mCpNaqurdzKrxwnIPXhUrPRzN/599wh";
const ADMIN_NETWORKS = ["10.3.0.0/24", "fd03::/64"];
const PUBLIC_PORTS = [25, 80, 443, 465, 587, 993, 995];

const FIREWALL_RULE = TYPES.pfsenseRule;
const FIREWALL_ALIAS = `${TYPES.pfsensePrefix}FirewallAlias`;
const PORT_FORWARD = TYPES.pfsenseForward;

/** The pfSense plan of the prod stack. */
const PLAN: FirewallPlan = firewallPlan({
  namespace: "prod",
  wanInterface: "wan",
  lanInterface: "lan",
  hostIpv4: "10.3.0.4",
  hostPublicIpv6: "2a05:bec0:27:fd03::4",
  hostAddresses: ["10.3.0.4", "fd03::4", "2a05:bec0:27:fd03::4"],
  publicPorts: PUBLIC_PORTS,
});

/** The plan's pfSense objects as PfSenseRules declares them (spec without the plan's key). */
function pfsenseResources(plan: FirewallPlan): ResourceView[] {
  const object = (type: string, kind: string, key: string, spec: object) =>
    resource(type, `pfsense-${key}`, { connection: UNKNOWN_VALUE, kind, spec: { ...spec } });
  return [
    ...plan.aliases.map(({ key, ...spec }) => object(FIREWALL_ALIAS, "alias", key, spec)),
    ...plan.portForwards.map(({ key, ...spec }) => object(PORT_FORWARD, "port_forward", key, spec)),
    ...plan.rules.map(({ key, ...spec }) => object(FIREWALL_RULE, "rule", key, spec)),
  ];
}

/** A pass rule from the WAN to the mail host (prod's wan-mail-ipv4), with `spec` overriding fields. */
function wanRule(name: string, spec: Record<string, unknown> = {}): ResourceView {
  return resource(FIREWALL_RULE, name, {
    connection: UNKNOWN_VALUE,
    kind: "rule",
    placement: { group: [`[mailstack:prod:${name}]`], anchor: "last" },
    spec: {
      descr: `[mailstack:prod:${name}] ${name}`,
      destination: "10.3.0.4",
      destination_port: "ms_prod_mail_ports",
      interface: ["wan"],
      ipprotocol: "inet",
      log: true,
      protocol: "tcp",
      source: "any",
      type: "pass",
      ...spec,
    },
  });
}

function portAlias(name: string, address: readonly string[]): ResourceView {
  return resource(FIREWALL_ALIAS, `pfsense-alias-${name}`, {
    connection: UNKNOWN_VALUE,
    kind: "alias",
    spec: { address: [...address], descr: `[mailstack:prod:alias-${name}] ${name}`, name, type: "port" },
  });
}

/** prod's IPv4 port forward of the mail ports, with `spec` overriding fields. */
function portForward(name: string, spec: Record<string, unknown> = {}): ResourceView {
  return resource(PORT_FORWARD, name, {
    connection: UNKNOWN_VALUE,
    kind: "port_forward",
    spec: {
      associated_rule_id: "",
      descr: `[mailstack:prod:${name}] ${name}`,
      destination: "wan:ip",
      destination_port: "ms_prod_mail_ports",
      interface: "wan",
      ipprotocol: "inet",
      local_port: "ms_prod_mail_ports",
      natreflection: "purenat",
      protocol: "tcp",
      source: "any",
      target: "10.3.0.4",
      ...spec,
    },
  });
}

/** The mail host's bring-up commands (the real renderers, prod's networks and ports) with `change` applied. */
function mailHost(change: (input: MailcowHostInput) => MailcowHostInput = (input) => input): ResourceView[] {
  const input = mailHostInput({ publicPorts: PUBLIC_PORTS, httpsEarlySources: ADMIN_NETWORKS });
  return mailHostCommands(change({ ...input, admin: { ...input.admin, networks: ADMIN_NETWORKS } }));
}
const withApiAllowFrom = (apiAllowFrom: string[]) => (input: MailcowHostInput) => ({
  ...input,
  mailcow: { ...input.mailcow, conf: { ...input.mailcow.conf, apiAllowFrom } },
});
const withNetworks = (networks: string[]) => (input: MailcowHostInput) => ({
  ...input,
  admin: { ...input.admin, networks },
});
const step = (commands: ResourceView[], name: string) => {
  const found = commands.find((c) => c.name === stepResourceName("mailcow", name));
  if (!found) throw new Error(`no step ${name}`);
  return found;
};
/** 223 networks of /8 (1.0.0.0/8 … 223.0.0.0/8): each one passes a per-entry check. */
const SLASH_EIGHTS = Array.from({ length: 223 }, (_, i) => `${i + 1}.0.0.0/8`);

/** A bring-up command running `script` on the mail host over SSH (`sudo bash -s`). */
function command(name: string, stdin: unknown): ResourceView {
  return resource(TYPES.command, name, {
    connection: UNKNOWN_VALUE,
    create: "sudo bash -s",
    logging: "stdoutAndStderr",
    stdin,
    triggers: ["ad57a5e2af843639792158bcbe0ae7b61d73c932d1ce86f8e0f4c90a7a4f13ce"],
  });
}

/** A cloud-init snippet on the Proxmox storage. */
function snippet(name: string, sourceRaw: unknown): ResourceView {
  return resource(TYPES.snippet, name, { contentType: "snippets", datastoreId: "local", nodeName: "pve", sourceRaw });
}

const adminAccess = () =>
  adminAccessScript({
    username: ADMIN,
    sshKeys: [ADMIN_KEY],
    deployUser: DEPLOY_USER,
    deployKey: DEPLOY_KEY,
    deployFrom: ADMIN_NETWORKS,
  });

const hostFirewall = (adminNetworks: readonly string[] = ADMIN_NETWORKS) =>
  firewallScript({ interface: "eth0", publicPorts: PUBLIC_PORTS, adminNetworks, httpsEarlySources: adminNetworks });

/** The mail VM's cloud-init user-data as the stack renders it. */
const cloudConfig = (adminNetworks: readonly string[] = ADMIN_NETWORKS) =>
  userData({
    hostname: "mail.xd-cloud.de",
    timezone: "Europe/Berlin",
    admin: { username: ADMIN, sshKeys: [ADMIN_KEY] },
    deploy: {
      username: DEPLOY_USER,
      authorizedKey: deployAuthorizedKey({ deployKey: DEPLOY_KEY, deployFrom: adminNetworks }),
    },
    scripts: [adminAccess(), hostFirewall(adminNetworks)],
  });

/** The admin-access script (render/scripts/admin-access.sh) installing `config` as the sshd drop-in. */
const sshdScript = (config: string) =>
  renderScript(
    "admin-access",
    {
      ADMIN_USER: ADMIN,
      AUTHORIZED_KEYS_B64: b64(`${ADMIN_KEY}\n`),
      SUDOERS_B64: b64(sudoers({ username: ADMIN, deployUser: DEPLOY_USER })),
      SSHD_CONFIG_B64: b64(config),
    },
    "host",
  );

/** A host script of `lines` (the policies read its commands). */
const shell = (name: string, lines: readonly string[]): HostScript => ({
  name,
  content: ["#!/bin/bash", `# mailstack ${name}: test`, ...lines, ""].join("\n"),
  files: [],
});

const VM_URN = "urn:pulumi:test::mailstack::proxmoxve:index/vmLegacy:VmLegacy::mailcow-vm";

function vm(props: Record<string, unknown> = {}, extra: Partial<ResourceView> = {}): ResourceView {
  return resource(
    TYPES.vm,
    "mailcow-vm",
    {
      description: "mailcow 2026-07a for mail.xd-cloud.de, managed by mailstack (production)",
      name: "mailcow",
      nodeName: "pve",
      onBoot: true,
      protection: true,
      started: true,
      tags: ["mailstack", "production"],
      vmId: 104,
      ...props,
    },
    { urn: VM_URN, protect: true, ...extra },
  );
}

function pbs(props: Record<string, unknown> = {}): ResourceView {
  return resource(TYPES.pbs, "backup-pbs", {
    kind: "pbsStorage",
    connection: { endpoint: "https://pve.xd-cloud.de:8006/", apiKey: "token" },
    datastore: "mailcow",
    fingerprint: "32:B2:3E:7F:05:0D:0D:13:13:37:7E:61:96:93:AA:C5:1B:2E:13:AF:04:C4:0A:CB:60:04:80:B9:17:65:18:5F",
    encryptionKey: '{"kdf":null,"created":"2026-01-01T00:00:00+00:00","data":"…"}',
    nodes: ["pve"],
    password: "pbs-password",
    storage: "pbs-mailcow",
    server: "pbs.xd-cloud.de",
    username: "mailstack@pbs",
    ...props,
  });
}

const PBS_URN = pbs().urn ?? "";

/** prod's backup job of VM 104, depending on the PBS storage and the VM. */
function backupJob(props: Record<string, unknown> = {}, extra: Partial<ResourceView> = {}): ResourceView {
  return resource(
    TYPES.backupJobResource,
    "backup-vm",
    {
      kind: "backupJob",
      connection: { endpoint: "https://pve.xd-cloud.de:8006/", apiKey: "token" },
      compress: "zstd",
      enabled: true,
      mailNotification: "failure",
      mailTo: ["admin@xd-cloud.de"],
      mode: "snapshot",
      pruneBackups: { "keep-daily": 7, "keep-monthly": 6, "keep-weekly": 4 },
      repeatMissed: true,
      jobId: "mailstack-prod-mailcow",
      schedule: "*-*-* 02:00",
      storage: "pbs-mailcow",
      vmids: [104],
      ...props,
    },
    { dependencies: [PBS_URN, VM_URN], ...extra },
  );
}

const OFFSITE = offsiteBackupInput({
  repository: "s3:https://s3.eu-central-003.backblazeb2.com/xd-cloud-mail-backup/mailcow",
  host: "mail.xd-cloud.de",
});

const offsiteInstall = (repository: string = OFFSITE.repository) =>
  command("backup-offsite-install", backupInstallScript({ ...OFFSITE, repository }).content);

// ---- exposure ---------------------------------------------------------------------------------

describe("admin ports (mailstack-exposure-disallow-admin-ports)", () => {
  it("accepts the stack's own pfSense plan and mail host", async () => {
    expect(await stackMessages(adminPorts, [...pfsenseResources(PLAN), ...mailHost()])).toEqual([]);
  });

  it("reports SSH passed from the WAN by port number", async () => {
    const rule = wanRule("pfsense-wan-ssh", { destination_port: "22" });
    expect(await stackViolations(adminPorts, [rule])).toEqual([
      {
        message:
          "WAN rule pfsense-wan-ssh passes SSH (22) from the internet: remove the port, reach it over the LAN or a VPN",
        urn: rule.urn,
      },
    ]);
  });

  it("reports the Proxmox VE and PBS UIs passed from the WAN through a port range", async () => {
    expect(await stackMessages(adminPorts, [wanRule("pfsense-wan-range", { destination_port: "8000:8010" })])).toEqual([
      "WAN rule pfsense-wan-range passes the Proxmox VE UI/API (8006) from the internet: remove the port, reach it over the LAN or a VPN",
      "WAN rule pfsense-wan-range passes the Proxmox Backup Server UI/API (8007) from the internet: remove the port, reach it over the LAN or a VPN",
    ]);
  });

  it("reports SSH passed from the WAN through a port alias", async () => {
    const resources = [
      portAlias("ms_prod_admin_ports", ["25", "22"]),
      wanRule("pfsense-wan-admin", { destination_port: "ms_prod_admin_ports" }),
    ];
    expect(await stackMessages(adminPorts, resources)).toEqual([
      "WAN rule pfsense-wan-admin passes SSH (22) from the internet: remove the port, reach it over the LAN or a VPN",
    ]);
  });

  it.each([null, "", "any"])("reports every admin port passed from the WAN by a rule with port %j", async (port) => {
    const messages = await stackMessages(adminPorts, [wanRule("pfsense-wan-any", { destination_port: port })]);
    expect(messages).toEqual([
      expect.stringMatching(/passes SSH \(22\)/),
      expect.stringMatching(/passes the Proxmox VE UI\/API \(8006\)/),
      expect.stringMatching(/passes the Proxmox Backup Server UI\/API \(8007\)/),
    ]);
  });

  it.each(["(self)", "wan:ip", "any"])(
    "reports the pfSense web UI opened on the firewall itself (%s) on 443",
    async (self) => {
      const rule = wanRule("pfsense-wan-gui", { destination: self, destination_port: "443" });
      expect(await stackMessages(adminPorts, [rule])).toEqual([
        `WAN rule pfsense-wan-gui opens the pfSense web UI (443) on the firewall itself: give the rule the mail host as destination, not ${self}`,
      ]);
    },
  );

  it("reports a port forward of SSH from the WAN", async () => {
    const forward = portForward("pfsense-nat-ssh", { destination_port: "22", local_port: "22" });
    expect(await stackViolations(adminPorts, [forward])).toEqual([
      {
        message:
          "port forward pfsense-nat-ssh exposes SSH (22) to the internet: remove it and reach SSH (22) over the LAN or a VPN",
        urn: forward.urn,
      },
    ]);
  });

  it("reports a port forward that maps a public port to SSH on the mail host", async () => {
    // WAN 2222 → 10.3.0.4:22 with a NAT-only pass: SSH is reachable from the internet.
    const forward = portForward("pfsense-nat-ssh", {
      destination_port: "2222",
      local_port: "22",
      associated_rule_id: "pass",
    });
    expect(await stackMessages(adminPorts, [forward])).toEqual([expect.stringMatching(/pfsense-nat-ssh.*SSH \(22\)/)]);
  });

  it.each([22, 8006, 8007])(
    "reports port %d among the mail host's public ports (its firewall opens it)",
    async (port) => {
      const host = mailHost((input) => ({ ...input, publicPorts: [...PUBLIC_PORTS, port] }));
      const firewall = step(host, "firewall");
      expect(await stackViolations(adminPorts, host)).toEqual([
        {
          message: expect.stringMatching(
            new RegExp(
              `the mail host's firewall opens .* \\(${port}\\) to the internet \\("ufw allow log ${port}\\/tcp .*: remove the port`,
            ),
          ) as string,
          urn: firewall.urn,
        },
      ]);
    },
  );

  it.each(["0.0.0.0/0", "::/0"])(
    "reports mailcow's API open to keys from %s (mailcow.conf's API_ALLOW_FROM)",
    async (cidr) => {
      const host = mailHost(withApiAllowFrom(["10.3.0.0/24", cidr]));
      expect(await stackViolations(adminPorts, host)).toEqual([
        {
          message: `mailcow's API accepts keys from ${cidr}: limit mailstack:mailcow.apiAllowFrom to the admin networks`,
          urn: step(host, "mailcow-conf").urn,
        },
      ]);
    },
  );

  it.each([
    ["223 /8s", SLASH_EIGHTS, 4],
    ["two public /16s", ["134.255.0.0/16", "134.254.0.0/16"], 4],
    ["two IPv6 /48s", ["2001:db8::/48", "2001:db8:1::/48"], 6],
  ])("judges mailcow's API allow-list as a whole: %s", async (_, entries, family) => {
    const messages = await stackMessages(adminPorts, mailHost(withApiAllowFrom(entries)));
    expect(messages).toEqual([
      expect.stringMatching(
        new RegExp(
          `^mailcow's API accepts keys from .* of public IPv${family} .*limit mailstack:mailcow\\.apiAllowFrom`,
        ),
      ),
    ]);
  });

  it("does not report SSH passed on the LAN", async () => {
    const rule = wanRule("pfsense-lan-ssh", { interface: ["lan"], destination_port: "22", source: "10.3.0.0/24" });
    expect(await stackMessages(adminPorts, [...pfsenseResources(PLAN), rule])).toEqual([]);
  });

  it("does not report a WAN rule that blocks SSH", async () => {
    expect(
      await stackMessages(adminPorts, [wanRule("pfsense-wan-block-ssh", { type: "block", destination_port: "22" })]),
    ).toEqual([]);
  });

  it("does not report disabled rules and port forwards", async () => {
    const resources = [
      wanRule("pfsense-wan-ssh", { destination_port: "22", disabled: true }),
      portForward("pfsense-nat-ssh", { destination_port: "22", local_port: "22", disabled: true }),
    ];
    expect(await stackMessages(adminPorts, resources)).toEqual([]);
  });

  it("skips pfSense specs and mail host ports unknown during preview", async () => {
    const resources = [
      resource(FIREWALL_RULE, "pfsense-wan-later", { connection: UNKNOWN_VALUE, kind: "rule", spec: UNKNOWN_VALUE }),
      resource(PORT_FORWARD, "pfsense-nat-later", {
        connection: UNKNOWN_VALUE,
        kind: "port_forward",
        spec: UNKNOWN_VALUE,
      }),
      command("mailcow-conf", UNKNOWN_VALUE),
      command("mailcow-firewall", UNKNOWN_VALUE),
    ];
    expect(await stackMessages(adminPorts, resources)).toEqual([]);
  });

  it("skips a rule whose destination is unknown during preview and still checks the others", async () => {
    // prod's mail rule through the mail-ports alias, its destination (the host) not known yet.
    const resources = [
      ...pfsenseResources(PLAN).filter((r) => r.type === FIREWALL_ALIAS),
      wanRule("pfsense-wan-mail-later", { destination: UNKNOWN_VALUE }),
      wanRule("pfsense-wan-ssh", { destination_port: "22" }),
    ];
    expect(await stackMessages(adminPorts, resources)).toEqual([
      "WAN rule pfsense-wan-ssh passes SSH (22) from the internet: remove the port, reach it over the LAN or a VPN",
    ]);
  });
});

describe("rule logging (mailstack-exposure-require-rule-logging)", () => {
  it("accepts every pfSense object of the stack's plan", async () => {
    for (const object of pfsenseResources(PLAN)) expect(await violations(ruleLogging, object)).toEqual([]);
  });

  it("accepts a port forward whose traffic passes a separate logged rule", async () => {
    expect(await violations(ruleLogging, portForward("pfsense-nat-mail-ipv4", { associated_rule_id: "" }))).toEqual([]);
  });

  it("accepts the mail host's rendered UFW rules and user-data, which all log", async () => {
    expect(await violations(ruleLogging, command("mailcow-firewall", hostFirewall().content))).toEqual([]);
    expect(await violations(ruleLogging, snippet("mailcow-user-data", { data: cloudConfig() }))).toEqual([]);
  });

  it.each([
    ["ufw allow proto tcp to any port 25", "an allow without log"],
    ["ufw limit proto tcp from 10.3.0.0/24 to any port 22", "a limit without log"],
    ["ufw insert 1 allow proto tcp to any port 443", "an inserted allow without log"],
    ["ufw logging off", "logging switched off"],
  ])("reports the host firewall command %j (%s)", async (line) => {
    const firewall = command("mailcow-firewall", shell("firewall", ["ufw allow log 25/tcp", line]).content);
    expect(await violations(ruleLogging, firewall)).toEqual([
      `mailcow-firewall: "${line}" does not log: add "log" after allow/limit, and keep "ufw logging low" or higher`,
    ]);
  });

  it("reports a port forward that makes pfSense create a linked filter rule the stack does not control", async () => {
    expect(await violations(ruleLogging, portForward("pfsense-nat-mail-ipv4", { associated_rule_id: "new" }))).toEqual([
      expect.stringMatching(/creates? a linked filter rule the stack does not control.*declare a logged pass rule/),
    ]);
  });

  it("reports a firewall rule with logging off", async () => {
    expect(await violations(ruleLogging, wanRule("pfsense-wan-mail-ipv4", { log: false }))).toEqual([
      "firewall rule pfsense-wan-mail-ipv4 does not log: set log true",
    ]);
  });

  it("reports a firewall rule that does not say it logs", async () => {
    const { log: _log, ...spec } = wanRule("pfsense-wan-mail-ipv4").props.spec as Record<string, unknown>;
    const rule = resource(FIREWALL_RULE, "pfsense-wan-mail-ipv4", { connection: UNKNOWN_VALUE, kind: "rule", spec });
    expect(await violations(ruleLogging, rule)).toEqual([expect.stringMatching(/does not log: set log true/)]);
  });

  it("reports a port forward that passes traffic without a filter rule", async () => {
    expect(await violations(ruleLogging, portForward("pfsense-nat-mail-ipv4", { associated_rule_id: "pass" }))).toEqual(
      [
        expect.stringMatching(
          /port forward pfsense-nat-mail-ipv4 passes traffic without a filter rule.*declare a logged pass rule/,
        ),
      ],
    );
  });

  it("skips a rule whose spec is unknown during preview", async () => {
    const rule = resource(FIREWALL_RULE, "pfsense-wan-later", {
      connection: UNKNOWN_VALUE,
      kind: "rule",
      spec: UNKNOWN_VALUE,
    });
    expect(await violations(ruleLogging, rule)).toEqual([]);
  });

  it("skips a rule whose log flag is unknown during preview", async () => {
    expect(await violations(ruleLogging, wanRule("pfsense-wan-later", { log: UNKNOWN_VALUE }))).toEqual([]);
  });
});

describe("SSH passwords (mailstack-exposure-disallow-ssh-passwords)", () => {
  it("accepts the rendered sshd config, admin-access script and cloud-init user-data", async () => {
    expect(
      await violations(sshPasswords, command("mailcow-sshd", sshdConfig({ username: ADMIN, deployUser: DEPLOY_USER }))),
    ).toEqual([]);
    expect(await violations(sshPasswords, command("mailcow-admin-access", adminAccess().content))).toEqual([]);
    expect(
      await violations(sshPasswords, snippet("mailcow-user-data", { data: cloudConfig(), fileName: "user-data.yaml" })),
    ).toEqual([]);
  });

  it("reports a command that turns PasswordAuthentication on", async () => {
    const config = sshdConfig({ username: ADMIN, deployUser: DEPLOY_USER }).replace(
      "PasswordAuthentication no",
      "PasswordAuthentication yes",
    );
    expect(await violations(sshPasswords, command("mailcow-admin-access", sshdScript(config)))).toEqual([
      "mailcow-admin-access: sshd allows password login",
      "mailcow-admin-access: it configures sshd without PasswordAuthentication no",
    ]);
  });

  it("reports a command that turns KbdInteractiveAuthentication on", async () => {
    const config = sshdConfig({ username: ADMIN, deployUser: DEPLOY_USER }).replace(
      "KbdInteractiveAuthentication no",
      "KbdInteractiveAuthentication yes",
    );
    expect(await violations(sshPasswords, command("mailcow-admin-access", sshdScript(config)))).toEqual([
      "mailcow-admin-access: sshd allows password login",
    ]);
  });

  it("reports an sshd_config write without PasswordAuthentication no", async () => {
    const config = sshdConfig({ username: ADMIN, deployUser: DEPLOY_USER }).replace("PasswordAuthentication no\n", "");
    expect(await violations(sshPasswords, command("mailcow-admin-access", sshdScript(config)))).toEqual([
      "mailcow-admin-access: it configures sshd without PasswordAuthentication no",
    ]);
  });

  it("reports cloud-init user-data that turns ssh_pwauth on", async () => {
    const data = cloudConfig().replace("ssh_pwauth: false", "ssh_pwauth: true");
    expect(data).toContain("ssh_pwauth: true");
    expect(await violations(sshPasswords, snippet("mailcow-user-data", { data, fileName: "user-data.yaml" }))).toEqual([
      "mailcow-user-data: cloud-init turns SSH password login on (ssh_pwauth)",
    ]);
  });

  it("skips scripts and snippets unknown during preview", async () => {
    expect(await violations(sshPasswords, command("mailcow-later", UNKNOWN_VALUE))).toEqual([]);
    expect(await violations(sshPasswords, snippet("mailcow-user-data", UNKNOWN_VALUE))).toEqual([]);
    expect(await violations(sshPasswords, snippet("mailcow-user-data", { data: UNKNOWN_VALUE }))).toEqual([]);
  });
});

describe("SSH sources (mailstack-exposure-restrict-ssh-sources)", () => {
  it("accepts the mail host's bring-up, its host firewall and its user-data", async () => {
    for (const item of mailHost()) expect(await violations(sshSources, item), item.name).toEqual([]);
    expect(await violations(sshSources, command("mailcow-firewall", hostFirewall().content))).toEqual([]);
    expect(await violations(sshSources, snippet("mailcow-user-data", { data: cloudConfig() }))).toEqual([]);
  });

  it("accepts ufw allowing SSH from an admin network", async () => {
    const line = "ufw allow proto tcp from 10.3.0.0/24 to any port 22";
    expect(await violations(sshSources, command("mailcow-firewall", shell("firewall", [line]).content))).toEqual([]);
  });

  it("accepts pfSense rules for SSH from an admin network, and rules for other ports", async () => {
    const lanRule = (spec: Record<string, unknown>) =>
      resource(FIREWALL_RULE, "pfsense-lan-ssh", {
        kind: "rule",
        spec: { type: "pass", interface: ["lan"], protocol: "tcp", log: true, ...spec },
      });
    expect(await violations(sshSources, lanRule({ source: "10.3.0.0/24", destination_port: "22" }))).toEqual([]);
    expect(await violations(sshSources, lanRule({ source: "any", destination_port: "443" }))).toEqual([]);
    expect(await violations(sshSources, lanRule({ source: "any", destination_port: "22", type: "block" }))).toEqual([]);
    expect(await violations(sshSources, lanRule({ source: "any", destination_port: "22", protocol: "udp" }))).toEqual(
      [],
    );
  });

  it.each([
    ["22", "any"],
    ["20-25", "0.0.0.0/0"],
    ["any", "::/0"],
    ["", "any"],
  ])("reports a pfSense pass rule with ports %j from %s, on any interface", async (port, source) => {
    const rule = resource(FIREWALL_RULE, "pfsense-opt-ssh", {
      kind: "rule",
      spec: { type: "pass", interface: ["opt1"], protocol: "tcp", source, destination_port: port, log: true },
    });
    expect(await violations(sshSources, rule)).toEqual([
      `pfSense rule pfsense-opt-ssh passes SSH (22) from ${source}: limit its source to the admin networks (mailstack:admin.sshCidrs)`,
    ]);
  });

  it.each(["0.0.0.0/0", "::/0", "64.0.0.0/4"])("reports SSH to the mail host allowed from %s", async (cidr) => {
    const firewall = step(mailHost(withNetworks(["10.3.0.0/24", cidr])), "firewall");
    expect(await violations(sshSources, firewall)).toEqual([
      `mailcow-firewall: "ufw allow log from ${cidr} to any port 22 proto tcp comment 'mailstack-admin-ssh'" opens SSH to everyone`,
    ]);
  });

  it.each([
    ["223 /8s", SLASH_EIGHTS, 4],
    ["two public /16s", ["134.255.0.0/16", "134.254.0.0/16"], 4],
    [
      "300 IPv6 /56s",
      Array.from({ length: 300 }, (_, i) => `2001:db8:${i >> 8}:${((i & 255) << 8).toString(16)}::/56`),
      6,
    ],
  ])("judges the SSH allow-list as a whole: %s", async (_, networks, family) => {
    const firewall = step(mailHost(withNetworks(networks)), "firewall");
    const messages = await violations(sshSources, firewall);
    expect(messages.filter((m) => !m.includes("opens SSH to everyone"))).toEqual([
      expect.stringMatching(
        new RegExp(
          `^mailcow-firewall: its SSH rules together admit .* of public IPv${family} .*limit mailstack:admin\\.sshCidrs`,
        ),
      ),
    ]);
  });

  it.each([
    "ufw allow 22",
    "ufw allow ssh",
    "ufw allow proto tcp to any port 22",
    "ufw allow proto tcp from 0.0.0.0/0 to any port 22",
  ])("reports the host firewall command %j, which opens SSH to everyone", async (line) => {
    const stdin = shell("firewall", ["ufw default deny incoming", line]).content;
    expect(await violations(sshSources, command("mailcow-firewall", stdin))).toEqual([
      `mailcow-firewall: "${line}" opens SSH to everyone`,
    ]);
  });

  it("sees what the bring-up and the node snippet really install (base64 inside the wrappers)", async () => {
    const open = shell("firewall", ["ufw default deny incoming", "ufw allow 22"]);
    expect(await violations(sshSources, command("mailcow-firewall", installAndRun(open)))).toEqual([
      `mailcow-firewall: "ufw allow 22" opens SSH to everyone`,
    ]);
    const snippetWrite = snippetWriteScript("local:snippets/user-data.yaml", cloudConfig(["0.0.0.0/0"]));
    expect(await violations(sshSources, command("mailcow-user-data", snippetWrite))).toEqual([
      expect.stringMatching(
        /^mailcow-user-data: "ufw allow log from 0\.0\.0\.0\/0 to any port 22 proto tcp.*" opens SSH to everyone$/,
      ),
    ]);
    const config = sshdConfig({ username: ADMIN, deployUser: DEPLOY_USER }).replace(
      "PasswordAuthentication no",
      "PasswordAuthentication yes",
    );
    const adminStep = { name: "admin-access", content: sshdScript(config), files: [] };
    expect(await violations(sshPasswords, command("mailcow-admin-access", installAndRun(adminStep)))).toEqual([
      "mailcow-admin-access: sshd allows password login",
      "mailcow-admin-access: it configures sshd without PasswordAuthentication no",
    ]);
  });

  it("reports cloud-init user-data whose host firewall opens SSH to everyone", async () => {
    const data = cloudConfig(["0.0.0.0/0"]);
    expect(await violations(sshSources, snippet("mailcow-user-data", { data }))).toEqual([
      expect.stringMatching(
        /^mailcow-user-data: "ufw allow log from 0\.0\.0\.0\/0 to any port 22 proto tcp.*" opens SSH to everyone$/,
      ),
    ]);
  });

  it("skips admin networks and scripts unknown during preview", async () => {
    expect(await violations(sshSources, command("mailcow-firewall", UNKNOWN_VALUE))).toEqual([]);
    expect(await violations(sshSources, snippet("mailcow-user-data", { data: UNKNOWN_VALUE }))).toEqual([]);
  });
});

// ---- resilience -------------------------------------------------------------------------------

describe("isDaily", () => {
  it.each(["daily", "02:00", "*-*-* 02:00", "*-*-* 02:00:00", "*-*-* 02,14:00", " *-*-* 2:30 "])(
    "counts %j as every day",
    (schedule) => {
      expect(isDaily(schedule)).toBe(true);
    },
  );

  it.each(["Sun *-*-* 02:00", "sun 02:00", "weekly", "monthly", "*-*-01 02:00", "Mon..Fri 02:00"])(
    "does not count %j as every day",
    (schedule) => {
      expect(isDaily(schedule)).toBe(false);
    },
  );
});

describe("VM backup (mailstack-resilience-require-vm-backup)", () => {
  it("accepts a daily job of the VM, found by its dependency, to an encrypted PBS", async () => {
    expect(await stackMessages(vmBackup, [vm(), pbs(), backupJob({ vmids: [] })])).toEqual([]);
  });

  it("accepts a daily job of the VM, found by its vmids, to an encrypted PBS", async () => {
    expect(await stackMessages(vmBackup, [vm(), pbs(), backupJob({}, { dependencies: [] })])).toEqual([]);
  });

  it("reports a VM without a backup job, at the VM", async () => {
    expect(await stackViolations(vmBackup, [vm(), pbs()])).toEqual([
      { message: "VM mailcow-vm has no backup job: configure mailstack:backup.pbs", urn: VM_URN },
    ]);
  });

  it("reports a VM whose only job backs up another VM", async () => {
    const other = backupJob({ vmids: [105] }, { dependencies: [PBS_URN] });
    expect(await stackMessages(vmBackup, [vm(), pbs(), other])).toEqual([
      "VM mailcow-vm has no backup job: configure mailstack:backup.pbs",
    ]);
  });

  it("reports a disabled backup job, at the job", async () => {
    const job = backupJob({ enabled: false });
    expect(await stackViolations(vmBackup, [vm(), pbs(), job])).toEqual([
      { message: "backup job backup-vm is disabled: enable it (the stack declares it enabled)", urn: job.urn },
    ]);
  });

  it("reports a weekly backup schedule", async () => {
    expect(await stackMessages(vmBackup, [vm(), pbs(), backupJob({ schedule: "Sun *-*-* 02:00" })])).toEqual([
      'backup job backup-vm runs "Sun *-*-* 02:00", not every day: use e.g. "*-*-* 02:00"',
    ]);
  });

  it("reports a job that keeps no daily backups", async () => {
    const job = backupJob({ pruneBackups: { "keep-monthly": 6, "keep-weekly": 4 } });
    expect(await stackMessages(vmBackup, [vm(), pbs(), job])).toEqual([
      expect.stringMatching(/backup job backup-vm keeps no daily backups: set mailstack:backup\.retention\.daily/),
    ]);
  });

  it("reports a job writing to a storage that is not a PBS the stack manages", async () => {
    expect(await stackMessages(vmBackup, [vm(), pbs(), backupJob({ storage: "local" })])).toEqual([
      "backup job backup-vm writes to local, not to a Proxmox Backup Server the stack manages: configure mailstack:backup.pbs",
    ]);
  });

  it("reports an unencrypted PBS storage, at the storage", async () => {
    const storage = pbs({ encryptionKey: "" });
    expect(await stackViolations(vmBackup, [vm(), storage, backupJob()])).toEqual([
      {
        message: expect.stringMatching(
          /PBS storage pbs-mailcow stores backups unencrypted: give it the stack's encryption key/,
        ) as string,
        urn: PBS_URN,
      },
    ]);
  });

  it("skips a VM id, schedule, retention, storage and encryption unknown during preview", async () => {
    const resources = [
      vm({ vmId: UNKNOWN_VALUE }),
      pbs({ encryptionKey: UNKNOWN_VALUE }),
      backupJob({
        enabled: UNKNOWN_VALUE,
        schedule: UNKNOWN_VALUE,
        pruneBackups: UNKNOWN_VALUE,
        storage: UNKNOWN_VALUE,
        vmids: UNKNOWN_VALUE,
      }),
    ];
    expect(await stackMessages(vmBackup, resources)).toEqual([]);
  });

  it("skips a daily retention count unknown during preview", async () => {
    const job = backupJob({ pruneBackups: { "keep-daily": UNKNOWN_VALUE, "keep-weekly": 4 } });
    expect(await stackMessages(vmBackup, [vm(), pbs(), job])).toEqual([]);
  });
});

describe("off-site backup (mailstack-resilience-require-offsite-backup)", () => {
  it("accepts the rendered backup install script with an S3 repository", async () => {
    const install = offsiteInstall();
    expect(String(install.props.stdin)).toMatch(/^# mailstack backup-install:/m);
    expect(withEncodedPayloads(String(install.props.stdin)).join("\n")).toContain(
      `RESTIC_REPOSITORY='${OFFSITE.repository}'`,
    );
    expect(await stackMessages(offsiteBackup, [vm(), install])).toEqual([]);
  });

  it("reports a VM without an off-site backup, at the VM", async () => {
    const others = [
      command("mailcow-admin-access", adminAccess().content),
      command("mailcow-firewall", hostFirewall().content),
    ];
    expect(await stackViolations(offsiteBackup, [vm(), ...others])).toEqual([
      { message: "no encrypted off-site backup of mailcow: configure mailstack:backup.offsite", urn: VM_URN },
    ]);
  });

  it("reports a restic repository on the mail host itself", async () => {
    expect(await stackMessages(offsiteBackup, [vm(), offsiteInstall("/srv/restic")])).toEqual([
      expect.stringMatching(/no encrypted off-site backup of mailcow/),
    ]);
  });

  it("does not apply to a stack without a VM", async () => {
    expect(await stackMessages(offsiteBackup, [command("mailcow-firewall", hostFirewall().content)])).toEqual([]);
    expect(await stackMessages(offsiteBackup, [])).toEqual([]);
  });

  it("skips command scripts unknown during preview next to the install script", async () => {
    expect(
      await stackMessages(offsiteBackup, [vm(), command("mailcow-later", UNKNOWN_VALUE), offsiteInstall()]),
    ).toEqual([]);
  });

  it("does not report a missing off-site backup while a command's script is unknown during preview", async () => {
    expect(await stackMessages(offsiteBackup, [vm(), command("backup-offsite-install", UNKNOWN_VALUE)])).toEqual([]);
  });
});

describe("pfSense configuration backup (mailstack-resilience-report-pfsense-config-backup, advisory)", () => {
  const input = {
    address: "10.3.0.1",
    port: 22,
    user: "mailstack-backup",
    hostKey: DEPLOY_KEY,
    configPath: PFSENSE_CONFIG_XML,
    schedule: "*-*-* 01:30",
    paths: PFSENSE_BACKUP_PATHS,
  };
  const user = () =>
    resource(TYPES.pfsenseUser, "pfsense-config-user", { connection: UNKNOWN_VALUE, spec: UNKNOWN_VALUE });
  const install = () => command("pfsense-config-install", pfSenseBackupInstallScript(input).content);

  it("is advisory: pfSense may be backed up where the stack cannot see", () => {
    expect(pfSenseConfigBackup.enforcementLevel).toBe("advisory");
  });

  it("accepts the backup user with the rendered install script", async () => {
    expect(await stackMessages(pfSenseConfigBackup, [...pfsenseResources(PLAN), user(), install()])).toEqual([]);
  });

  it("reports a stack that drives pfSense without backing its configuration up, at a pfSense object", async () => {
    const found = await stackViolations(pfSenseConfigBackup, [vm(), ...pfsenseResources(PLAN)]);
    expect(found).toHaveLength(1);
    expect(found[0]?.message).toMatch(
      /pfSense's configuration is not backed up by the stack: set mailstack:pfsense\.configBackup/,
    );
    expect(found[0]?.urn).toMatch(/pulumi-nodejs:dynamic\/pfsense:/);
    // A user without the install (or the install without its user) is not a backup either.
    expect(await stackMessages(pfSenseConfigBackup, [...pfsenseResources(PLAN), user()])).toHaveLength(1);
  });

  it("does not apply to a stack without pfSense objects", async () => {
    expect(await stackMessages(pfSenseConfigBackup, [vm()])).toEqual([]);
  });
});

describe("replicated HA (mailstack-resilience-require-replicated-ha, -report-single-node)", () => {
  const disks = (datastoreId: string) => ({
    disks: [{ interface: "scsi0", datastoreId, size: 100 }],
    initialization: { datastoreId },
  });
  const haResource = (props: Record<string, unknown> = {}, dependencies = [VM_URN]) =>
    resource(TYPES.haResource, "mailcow-ha", { resourceId: "vm:104", state: "started", ...props }, { dependencies });
  const haRule = (nodes: Record<string, number>, props: Record<string, unknown> = {}) =>
    resource(
      TYPES.haRule,
      "mailcow-ha-nodes",
      { rule: "mailstack-prod-mailcow", type: "node-affinity", resources: ["vm:104"], nodes, strict: false, ...props },
      { dependencies: [VM_URN, haResource().urn ?? ""] },
    );
  const replication = (target: string, props: Record<string, unknown> = {}) =>
    resource(TYPES.replication, "mailcow-replication", {
      resourceId: "104-0",
      type: "local",
      target,
      disable: false,
      ...props,
    });
  const TWO = { pve: 2, pve2: 1 };

  it("accepts HA on two nodes with shared storage, or with node-local ZFS replicated to the other node", async () => {
    expect(await stackMessages(replicatedHa, [vm(disks("ceph-vm")), haResource(), haRule(TWO)])).toEqual([]);
    expect(
      await stackMessages(replicatedHa, [vm(disks("local-zfs")), haResource(), haRule(TWO), replication("pve2")]),
    ).toEqual([]);
  });

  it("finds the VM's HA resource by its vm:<vmid> id when the dependency is not recorded", async () => {
    const messages = await stackMessages(replicatedHa, [vm(disks("ceph-vm")), haResource({}, []), haRule({ pve: 1 })]);
    expect(messages).toEqual([expect.stringContaining("its node-affinity rule names only pve")]);
  });

  it("refuses HA with one node, or with no node-affinity rule", async () => {
    expect(await stackViolations(replicatedHa, [vm(disks("ceph-vm")), haResource(), haRule({ pve: 1 })])).toEqual([
      {
        message:
          "VM mailcow-vm is under HA (mailcow-ha) but its node-affinity rule names only pve: name at least two nodes in mailstack:vm.ha.nodes",
        urn: haResource().urn,
      },
    ]);
    expect(await stackMessages(replicatedHa, [vm(disks("ceph-vm")), haResource()])).toEqual([
      expect.stringContaining("no node-affinity rule names it"),
    ]);
  });

  it("refuses node-local disks without replication, or replicated to the VM's own node, a node outside HA, or disabled", async () => {
    const local = (extra: readonly ReturnType<typeof resource>[]) =>
      stackMessages(replicatedHa, [vm(disks("local-zfs")), haResource(), haRule(TWO), ...extra]);
    const refused =
      "VM mailcow-vm is under HA (mailcow-ha) with its disks on node-local storage local-zfs and no replication job to another of its HA nodes: another node has nothing to start; use shared storage (mailstack:proxmox.vmDatastore) or set mailstack:vm.ha.replication";
    expect(await local([])).toEqual([refused]);
    expect(await local([replication("pve")])).toEqual([refused]);
    expect(await local([replication("pve3")])).toEqual([refused]);
    expect(await local([replication("pve2", { disable: true })])).toEqual([refused]);
    // The cloud-init drive counts too.
    expect(
      await stackMessages(replicatedHa, [
        vm({ ...disks("ceph-vm"), initialization: { datastoreId: "local-lvm" } }),
        haResource(),
        haRule(TWO),
      ]),
    ).toEqual([expect.stringContaining("node-local storage local-lvm")]);
  });

  it("skips what a preview cannot know yet, and VMs without HA", async () => {
    expect(
      await stackMessages(replicatedHa, [
        vm({ disks: UNKNOWN_VALUE, initialization: UNKNOWN_VALUE }),
        haResource(),
        haRule(TWO),
      ]),
    ).toEqual([]);
    expect(
      await stackMessages(replicatedHa, [vm(disks("ceph-vm")), haResource(), haRule(TWO, { nodes: UNKNOWN_VALUE })]),
    ).toEqual([]);
    expect(await stackMessages(replicatedHa, [vm(disks("local-lvm"))])).toEqual([]);
  });

  it("reports a VM without HA as advisory, and not one under HA", async () => {
    expect(singleNode.enforcementLevel).toBe("advisory");
    expect(await stackMessages(singleNode, [vm(disks("local-lvm"))])).toEqual([
      "VM mailcow-vm runs on pve only (no Proxmox HA): when pve is lost, mail is down until the node-loss drill restores it (README)",
    ]);
    expect(await stackMessages(singleNode, [vm(disks("ceph-vm")), haResource(), haRule(TWO)])).toEqual([]);
  });
});

describe("deletion protection (mailstack-resilience-require-deletion-protection)", () => {
  it("accepts a VM with Proxmox protection and Pulumi protect", async () => {
    expect(await violations(deletionProtection, vm())).toEqual([]);
  });

  it("reports a VM without Proxmox deletion protection", async () => {
    expect(await violations(deletionProtection, vm({ protection: false }))).toEqual([
      "VM mailcow-vm has no Proxmox deletion protection: set mailstack:vm.protection true",
    ]);
  });

  it("reports a VM that does not set Proxmox deletion protection", async () => {
    const { protection: _protection, ...props } = vm().props;
    expect(await violations(deletionProtection, vm({}, { props }))).toEqual([
      expect.stringMatching(/no Proxmox deletion protection: set mailstack:vm\.protection true/),
    ]);
  });

  it("reports a VM not protected in Pulumi", async () => {
    expect(await violations(deletionProtection, vm({}, { protect: false }))).toEqual([
      "VM mailcow-vm is not protected in Pulumi: a mistaken change could delete it; declare it with protect: true",
    ]);
  });

  it("skips Proxmox protection unknown during preview", async () => {
    expect(await violations(deletionProtection, vm({ protection: UNKNOWN_VALUE }))).toEqual([]);
  });

  it("ignores resources other than VMs", async () => {
    expect(await violations(deletionProtection, pbs())).toEqual([]);
  });
});
