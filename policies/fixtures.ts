// Per-rule fixtures: for every rule of the pack, changes to a planned stack (the resources the
// providers receive, in the engine's wire form) that the rule must refuse. They prove the rules
// on real plans (test/policy-fixtures.test.ts, with and without component inputs), and the pull
// request review runs them under the base branch's pack and the head's to list the rules whose
// behaviour a change to policies/ alters (scripts/policy-review.ts). Pure: no Pulumi import.
import { RULES } from "../common/policy-catalog";

/** A recorded resource as the plan's mock engine keeps it (plan/engine.ts RecordedResource). */
export interface FixtureResource {
  readonly urn: string;
  readonly type: string;
  readonly name: string;
  readonly custom: boolean;
  readonly inputs: Readonly<Record<string, unknown>>;
  readonly options: Readonly<Record<string, unknown>>;
  readonly [key: string]: unknown;
}

export interface FixtureRun {
  readonly resources: readonly FixtureResource[];
  readonly outputs: Readonly<Record<string, unknown>>;
}

export interface RuleFixture {
  /** Stable, for the review's table: "<rule>/<what>". */
  readonly name: string;
  /** The rule that must report a mandatory violation on the changed run. */
  readonly rule: string;
  readonly description: string;
  /** The change; undefined when the run has nothing it applies to (then the fixture is skipped). */
  readonly change: (run: FixtureRun) => FixtureRun | undefined;
}

// ---- wire-form edits ----------------------------------------------------------------------------

/** Every string in a wire value through `edit` (secret and output wrappers included). */
function mapStrings(value: unknown, edit: (text: string) => string): unknown {
  if (typeof value === "string") return edit(value);
  if (Array.isArray(value)) return value.map((item) => mapStrings(item, edit));
  if (value === null || typeof value !== "object") return value;
  return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, mapStrings(inner, edit)]));
}

/**
 * `edit` applied to a script and to what it carries base64-encoded (the here-documents fed to
 * `base64 -d`, `*_B64='…'` settings; see lib.ts withEncodedPayloads), re-encoded the same way.
 */
export function editScript(script: string, edit: (text: string) => string, depth = 0): string {
  if (depth >= 4) return edit(script);
  const recode = (encoded: string, wrap: boolean) => {
    const decoded = Buffer.from(encoded.replace(/\s+/g, ""), "base64").toString("utf8");
    const text = Buffer.from(editScript(decoded, edit, depth + 1)).toString("base64");
    return wrap ? (text.match(/.{1,76}/g) ?? [""]).join("\n") : text;
  };
  const heredocs = script.replace(
    /(base64 -d[^\n]*<<'([A-Za-z_]+)'[^\n]*\n)([A-Za-z0-9+/=\n]*?)(\n\2(?=\n|$))/g,
    (_, head: string, _delimiter: string, body: string, tail: string) => `${head}${recode(body, true)}${tail}`,
  );
  // Single values and lists: `readonly NAME_B64='…'` and `readonly NAME_B64=('…' '…')`.
  const settings = heredocs.replace(
    /^(readonly [A-Z0-9_]*_B64=\(?)((?:'[A-Za-z0-9+/=]*' ?)+)(\)?)$/gm,
    (_, head: string, values: string, tail: string) =>
      `${head}${values.replace(/'([A-Za-z0-9+/=]*)'/g, (__, body: string) => `'${recode(body, false)}'`)}${tail}`,
  );
  return edit(settings);
}

type ResourceEdit = (resource: FixtureResource) => FixtureResource | undefined;

/** The run with `edit` applied to the resources `select` picks; undefined when it picks none. */
function editResources(
  run: FixtureRun,
  select: (resource: FixtureResource) => boolean,
  edit: ResourceEdit,
): FixtureRun | undefined {
  if (!run.resources.some(select)) return undefined;
  const resources = run.resources.flatMap((resource) => {
    if (!select(resource)) return [resource];
    const edited = edit(resource);
    return edited ? [edited] : [];
  });
  return { ...run, resources };
}

const ofType = (type: string) => (resource: FixtureResource) => resource.type === type;
const named = (suffix: string) => (resource: FixtureResource) =>
  resource.name === suffix || resource.name.endsWith(`-${suffix}`);
const both =
  (...tests: ((resource: FixtureResource) => boolean)[]) =>
  (resource: FixtureResource) =>
    tests.every((test) => test(resource));
const removed: ResourceEdit = () => undefined;
const withInputs =
  (change: (inputs: Record<string, unknown>) => Record<string, unknown>): ResourceEdit =>
  (resource) => ({ ...resource, inputs: change({ ...resource.inputs }) });
/** Replaces `from` by `to` in every string input, scripts and their encoded payloads included. */
const replacing = (from: string | RegExp, to: string): ResourceEdit =>
  withInputs((inputs) => mapStrings(inputs, (text) => editScript(text, (t) => t.replace(from, to))) as never);
/** A wire value with one nested field set (`path` through plain objects and secret wrappers). */
function setIn(value: unknown, path: readonly string[], next: unknown): unknown {
  if (path.length === 0) return next;
  const object = value !== null && typeof value === "object" ? (value as Record<string, unknown>) : {};
  const [head = "", ...rest] = path;
  return { ...object, [head]: setIn(object[head], rest, next) };
}
const setting = (path: readonly string[], next: unknown): ResourceEdit =>
  withInputs((inputs) => setIn(inputs, path, next) as Record<string, unknown>);

const TYPE = {
  command: "command:remote:Command",
  dnsRecord: "cloudflare:index/dnsRecord:DnsRecord",
  zoneSetting: "cloudflare:index/zoneSetting:ZoneSetting",
  zoneDnssec: "cloudflare:index/zoneDnssec:ZoneDnssec",
  worker: "cloudflare:index/workersScript:WorkersScript",
  proxmoxProvider: "pulumi:providers:proxmoxve",
  vm: "proxmoxve:index/vmLegacy:VmLegacy",
  privateKey: "tls:index/privateKey:PrivateKey",
  pfsenseRule: "pulumi-nodejs:dynamic/pfsense:FirewallRule",
  mailbox: "pulumi-nodejs:dynamic/mailcow:Mailbox",
  mailcowAdmin: "pulumi-nodejs:dynamic/mailcow:Admin",
  backupJob: "pulumi-nodejs:dynamic/proxmox:BackupJob",
  rateLimit: "pulumi-nodejs:dynamic/mailcow:RateLimit",
  haResource: "proxmoxve:index/haresource:Haresource",
  haRule: "proxmoxve:index/harule:Harule",
  replication: "proxmoxve:index/replication:Replication",
} as const;

/**
 * The run with the VM under Proxmox HA as MailcowVm declares it (an HA resource for `vm:<vmid>`,
 * a node-affinity rule over `nodes`, a replication job to `replicateTo`); undefined without a VM.
 */
function underHa(
  run: FixtureRun,
  nodes: Readonly<Record<string, number>>,
  replicateTo?: string,
): FixtureRun | undefined {
  const vm = run.resources.find(ofType(TYPE.vm));
  const id = vm?.inputs.vmId;
  if (!vm || (typeof id !== "number" && typeof id !== "string")) return undefined;
  const vmId = String(id);
  const added = (type: string, name: string, inputs: Record<string, unknown>, dependencies: string[]) => ({
    urn: `urn:pulumi:fixture::mailstack::${type}::${name}`,
    type,
    name,
    custom: true,
    inputs,
    options: {},
    dependencies,
    propertyDependencies: {},
    generated: false,
  });
  const ha = added(TYPE.haResource, "fixture-ha", { resourceId: `vm:${vmId}`, state: "started" }, [vm.urn]);
  const rule = added(
    TYPE.haRule,
    "fixture-ha-nodes",
    { rule: "fixture", type: "node-affinity", resources: [`vm:${vmId}`], nodes: { ...nodes }, strict: false },
    [vm.urn, ha.urn],
  );
  const jobs =
    replicateTo === undefined
      ? []
      : [
          added(
            TYPE.replication,
            "fixture-replication",
            { resourceId: `${vmId}-0`, type: "local", target: replicateTo },
            [vm.urn],
          ),
        ];
  return { ...run, resources: [...run.resources, ha, rule, ...jobs] };
}

/** A DNS record whose (redacted) content or type matches. */
const record = (type: string, content?: RegExp) => (resource: FixtureResource) =>
  resource.type === TYPE.dnsRecord &&
  resource.inputs.type === type &&
  (content === undefined || (typeof resource.inputs.content === "string" && content.test(resource.inputs.content)));

const fixture = (
  rule: { readonly name: string },
  what: string,
  description: string,
  change: RuleFixture["change"],
): RuleFixture => ({ name: `${rule.name}/${what}`, rule: rule.name, description, change });

/** Every rule's fixtures. A rule without one here is listed by the review as not covered. */
export const FIXTURES: readonly RuleFixture[] = [
  fixture(RULES.mailTls, "postfix-tls1", "Postfix's extra.cf accepts TLS 1.0", (run) =>
    editResources(run, both(ofType(TYPE.command), named("postfix-tls")), replacing(/>=TLSv1\.[23]/g, ">=TLSv1")),
  ),
  fixture(RULES.mailTls, "no-dovecot-minimum", "the step that sets Dovecot's TLS minimum is gone", (run) =>
    editResources(run, both(ofType(TYPE.command), named("dovecot-tls")), removed),
  ),
  fixture(RULES.zoneTls, "tls10", "a zone accepts TLS 1.0 at Cloudflare's edge", (run) =>
    editResources(
      run,
      (r) => r.type === TYPE.zoneSetting && r.inputs.settingId === "min_tls_version",
      setting(["value"], "1.0"),
    ),
  ),
  fixture(RULES.verifiedConnections, "proxmox-insecure", "the Proxmox provider skips TLS verification", (run) =>
    editResources(run, ofType(TYPE.proxmoxProvider), setting(["insecure"], "true")),
  ),
  fixture(RULES.verifiedConnections, "pfsense-http", "pfSense is reached over plain HTTP", (run) =>
    editResources(run, ofType(TYPE.pfsenseRule), replacing(/^https:\/\//i, "http://")),
  ),
  fixture(RULES.rateLimits, "zero", "a mailbox's sending limit is 0 (unbounded in mailcow)", (run) =>
    editResources(run, ofType(TYPE.rateLimit), setting(["value"], 0)),
  ),
  fixture(RULES.mtaSts, "testing", "the served MTA-STS policy is in testing mode", (run) =>
    editResources(run, ofType(TYPE.worker), replacing("mode: enforce", "mode: testing")),
  ),
  fixture(RULES.dnssec, "disabled", "DNSSEC of a zone is disabled", (run) =>
    editResources(run, ofType(TYPE.zoneDnssec), setting(["status"], "disabled")),
  ),
  fixture(RULES.tlsaForMx, "no-tlsa", "the TLSA record of the MX host is gone", (run) =>
    editResources(run, record("TLSA"), removed),
  ),
  fixture(RULES.tlsaNeedsDnssec, "unsigned", "TLSA is published in a zone without DNSSEC", (run) =>
    editResources(run, ofType(TYPE.zoneDnssec), removed),
  ),
  fixture(RULES.dsOutput, "no-ds", "a signed zone's DS is missing from the stack outputs", (run) => {
    const zones = run.outputs.zones;
    if (zones === null || typeof zones !== "object") return undefined;
    const emptied = Object.fromEntries(Object.entries(zones).map(([name, zone]) => [name, setIn(zone, ["ds"], "")]));
    return { ...run, outputs: { ...run.outputs, zones: emptied } };
  }),
  fixture(RULES.mailboxTfa, "no-tfa", "a mailbox need not enrol a second factor", (run) =>
    editResources(run, ofType(TYPE.mailbox), setting(["spec", "forceTfa"], false)),
  ),
  fixture(RULES.adminTfa, "no-admin", "no admin resource enforces the mailcow admin's 2FA", (run) =>
    editResources(run, ofType(TYPE.mailcowAdmin), removed),
  ),
  fixture(RULES.cloudflareTfa, "account", "a managed Cloudflare account does not enforce 2FA", (run) => ({
    ...run,
    resources: [
      ...run.resources,
      {
        urn: "urn:pulumi:fixture::mailstack::cloudflare:index/account:Account::fixture-account",
        type: "cloudflare:index/account:Account",
        name: "fixture-account",
        custom: true,
        inputs: { name: "fixture", settings: { enforceTwofactor: false } },
        options: {},
        dependencies: [],
        propertyDependencies: {},
        generated: false,
      },
    ],
  })),
  fixture(RULES.proxmoxTfa, "no-realm-tfa", "the command that puts the admin realm under TFA is gone", (run) =>
    editResources(run, both(ofType(TYPE.command), named("realm-tfa")), removed),
  ),
  fixture(RULES.spf, "softfail", "SPF ends in ~all", (run) =>
    editResources(run, record("TXT", /v=spf1/), replacing(/-all/g, "~all")),
  ),
  fixture(RULES.dmarc, "none", "DMARC asks for nothing (p=none)", (run) =>
    editResources(run, record("TXT", /v=DMARC1; p=/), replacing(/p=(reject|quarantine)/, "p=none")),
  ),
  fixture(RULES.dkimKeySize, "rsa1024", "a DKIM key of 1024 bits", (run) =>
    editResources(run, (r) => r.type === TYPE.privateKey && r.name.startsWith("dkim-key-"), setting(["rsaBits"], 1024)),
  ),
  fixture(RULES.tlsRpt, "no-tls-rpt", "a mail domain asks for no TLS reports", (run) =>
    editResources(run, record("TXT", /v=TLSRPTv1/), removed),
  ),
  fixture(RULES.adminPorts, "wan-ssh", "a WAN rule passes SSH", (run) =>
    editResources(
      run,
      both(ofType(TYPE.pfsenseRule), named("wan-mail-ipv4")),
      setting(["spec", "destination_port"], "22"),
    ),
  ),
  fixture(RULES.adminPorts, "api-world", "mailcow's API accepts keys from the whole internet", (run) =>
    editResources(
      run,
      both(ofType(TYPE.command), named("mailcow-conf")),
      replacing(/^API_ALLOW_FROM=.*$/m, "API_ALLOW_FROM=0.0.0.0/1,128.0.0.0/1"),
    ),
  ),
  fixture(RULES.ruleLogging, "unlogged", "a pfSense rule does not log", (run) =>
    editResources(run, ofType(TYPE.pfsenseRule), setting(["spec", "log"], false)),
  ),
  fixture(RULES.sshPasswords, "password-login", "sshd accepts passwords", (run) =>
    editResources(
      run,
      both(ofType(TYPE.command), named("admin-access")),
      replacing(/^PasswordAuthentication no$/m, "PasswordAuthentication yes"),
    ),
  ),
  fixture(RULES.sshSources, "world", "the host firewall opens SSH to everyone", (run) =>
    editResources(
      run,
      both(ofType(TYPE.command), named("firewall")),
      replacing(/from \S+ to any port 22\b/g, "from 0.0.0.0/0 to any port 22"),
    ),
  ),
  fixture(RULES.sshSources, "union", "the host firewall's SSH sources add up to the internet", (run) =>
    editResources(
      run,
      both(ofType(TYPE.command), named("firewall")),
      replacing(
        /^ufw allow log (?:proto tcp )?from \S+ to any port 22\b.*$/m,
        Array.from({ length: 32 }, (_, i) => `ufw allow log from ${i + 1}.0.0.0/8 to any port 22 proto tcp`).join("\n"),
      ),
    ),
  ),
  fixture(RULES.vmBackup, "weekly", "the VM backup runs once a week", (run) =>
    editResources(run, ofType(TYPE.backupJob), setting(["schedule"], "sun 02:00")),
  ),
  fixture(RULES.offsiteBackup, "none", "no off-site backup is installed", (run) =>
    editResources(run, both(ofType(TYPE.command), named("offsite-install")), removed),
  ),
  fixture(RULES.deletionProtection, "unprotected", "the VM has no Proxmox deletion protection", (run) =>
    editResources(run, ofType(TYPE.vm), setting(["protection"], false)),
  ),
  fixture(RULES.replicatedHa, "one-node", "the VM is under HA with one node in its affinity rule", (run) =>
    underHa(run, { pve: 1 }, "pve2"),
  ),
  fixture(
    RULES.replicatedHa,
    "local-disks",
    "the VM is under HA on two nodes, its disks node-local, not replicated",
    (run) => underHa(run, { pve: 2, pve2: 1 }),
  ),
  fixture(
    RULES.replicatedHa,
    "replica-elsewhere",
    "the VM's disks are replicated to a node HA may not start it on",
    (run) => underHa(run, { pve: 2, pve2: 1 }, "pve3"),
  ),
  fixture(RULES.logShipping, "no-reason", "the logging step forwards nothing and gives no reason", (run) =>
    editResources(
      run,
      both(ofType(TYPE.command), named("logging")),
      replacing(/^readonly LOCAL_ONLY_REASON='.*'$/m, "readonly LOCAL_ONLY_REASON=''"),
    ),
  ),
  fixture(RULES.logRetention, "journal-forever", "journald's drop-in has no time bound", (run) =>
    editResources(run, both(ofType(TYPE.command), named("logging")), replacing(/^MaxRetentionSec=.*\n/m, "")),
  ),
  fixture(RULES.logRetention, "docker-json-file", "Docker logs to unbounded json-file copies", (run) =>
    editResources(
      run,
      both(ofType(TYPE.command), named("docker")),
      replacing('"log-driver": "journald"', '"log-driver": "json-file"'),
    ),
  ),
  fixture(RULES.exporterSources, "every-address", "the exporters listen on every address, the public IPv6 too", (run) =>
    editResources(
      run,
      both(ofType(TYPE.command), named("monitoring")),
      replacing(/^readonly LISTEN_ADDRESS='.*'$/m, "readonly LISTEN_ADDRESS='0.0.0.0'"),
    ),
  ),
];
