// Day-2 changes on top of the prod plan: for each change an operator makes, which resources the
// engine creates, updates, replaces or deletes (test/support/lifecycle.ts applies the providers'
// own replace rules), and that nothing is replaced or deleted that must live on: the VM, its disk
// image, its snippets, the keys the DNS publishes, the generated passwords, mailcow's objects.
import { beforeAll, describe, expect, it } from "vitest";
import type { PlanResult } from "../plan/run";
import { plain } from "../plan/engine";
import { dependencyClosure, planWithKeys } from "./plans";
import { planChanges, summary, type Step } from "./support/lifecycle";

const plainInputs = (inputs: unknown) => plain(inputs) as Record<string, unknown>;

let prod: PlanResult;
beforeAll(async () => {
  prod = (await planWithKeys()).result;
});

/** Resources no day-2 change may replace or delete (their loss is data loss or an outage). */
const KEEP = [
  /^mailcow-vm$/,
  /^mailcow-image$/,
  /^mailcow-(user-data|network-config)$/,
  /^mailcow-(deploy-key|db-password|db-root-password|redis-password|api-key|api-key-read-only|sogo-url-key|admin-sudo-password)$/,
  /^dkim-key-/,
  /^mailcow-tenants-(?!https-public$)(?!sogo-restart$)/,
  /-dnssec$/,
  /^backup-/,
];

async function change(overrides: Record<string, string>, secrets?: Record<string, string>): Promise<Step[]> {
  const after = (await planWithKeys(overrides, secrets ? { secrets } : {})).result;
  const before = secrets
    ? (await planWithKeys({}, { secrets: Object.fromEntries(Object.keys(secrets).map((k) => [k, "before"])) })).result
    : prod;
  return planChanges(before.run, after.run);
}

function expectKept(steps: readonly Step[], allowed: readonly string[] = []): void {
  for (const step of steps) {
    if (step.action !== "replace" && step.action !== "delete") continue;
    if (allowed.includes(step.name)) continue;
    for (const keep of KEEP)
      expect(keep.test(step.name), `${step.name} is ${step.action}d (${step.because.join(", ")})`).toBe(false);
  }
}

const OPS_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFSB1f8wkIt2S5RgAv5lXwfhALMeEiVictb/e4JOAnLL ops@xd-cloud.de";

/** mailstack:admin as Pulumi.prod.yaml has it, with another user name or more keys. */
const adminConfig = (username: string, sshKeys: readonly string[]) =>
  JSON.stringify({ username, email: "admin@xd-cloud.de", sshKeys, sshCidrs: ["10.3.0.0/24", "fd03::/64"] });

describe("day-2 changes on the prod stack", () => {
  it("an admin SSH key added: the host script runs again, the snippet is rewritten in place, the VM and the sudo password stay", async () => {
    const extraKey =
      "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFSB1f8wkIt2S5RgAv5lXwfhALMeEiVictb/e4JOAnLL ops2@xd-cloud.de";
    const steps = await change({ "mailstack:admin": adminConfig("mailops", [OPS_KEY, extraKey]) });
    const actions = summary(steps);
    expect(actions).toMatchObject({
      "mailcow-user-data": "update",
      "mailcow-admin-access": "replace",
    });
    expect(actions["mailcow-vm"]).toBeUndefined();
    // The admin's sudo password is neither regenerated nor set again (the admin may have changed it).
    expect(actions["mailcow-admin-sudo-password"]).toBeUndefined();
    expect(actions["mailcow-admin-password"]).toBeUndefined();
    expectKept(steps);
  });

  it("another admin user name: admin-access and the password step run again for the new user; the VM, the deploy identity and the password stay", async () => {
    const steps = await change({ "mailstack:admin": adminConfig("mailops2", [OPS_KEY]) });
    const actions = summary(steps);
    expect(actions).toMatchObject({
      "mailcow-user-data": "update",
      "mailcow-admin-access": "replace",
      "mailcow-admin-password": "replace",
    });
    for (const name of ["mailcow-vm", "mailcow-deploy-key", "mailcow-admin-sudo-password", "mailcow-cloud-init"])
      expect(actions[name], name).toBeUndefined();
    expectKept(steps);
  });

  it("a network edit (another resolver): the network config is rewritten in place and applied over SSH, the VM stays", async () => {
    const lan = JSON.stringify({
      bridge: "vmbr0",
      ipv4: "10.3.0.4/24",
      gateway4: "10.3.0.1",
      ipv6: "fd03::4/64",
      gateway6: "fd03::1",
      resolvers: ["10.3.0.1", "10.3.0.2"],
    });
    const steps = await change({ "mailstack:lan": lan });
    const actions = summary(steps);
    expect(actions).toMatchObject({ "mailcow-network-config": "update", "mailcow-network": "replace" });
    expect(actions["mailcow-vm"]).toBeUndefined();
    expectKept(steps);
  });

  it("a mailcow version bump: the release step upgrades, mailcow.conf is written again, mailcow restarts; nothing else", async () => {
    const before = (
      await planWithKeys({ "mailstack:mailcow": JSON.stringify({ version: "2026-07", clamav: true, sogo: true }) })
    ).result;
    const after = (
      await planWithKeys({ "mailstack:mailcow": JSON.stringify({ version: "2026-07a", clamav: true, sogo: true }) })
    ).result;
    const steps = await planChanges(before.run, after.run);
    const actions = summary(steps);
    expect(actions).toMatchObject({
      "mailcow-release": "replace",
      "mailcow-conf": "replace",
      "mailcow-up": "replace",
    });
    // The first-boot snippet carries the release script too: rewritten in place, never the VM.
    expect(actions["mailcow-user-data"]).toBe("update");
    expect(actions["mailcow-vm"]).toBeUndefined();
    expect(actions["mailcow-tls-key"]).toBeUndefined();
    expectKept(steps);
  });

  it("a DANE key rollover, step by step: publish next, switch, drop the old one", async () => {
    const slots = (tlsKey: object) => ({ "mailstack:tlsKey": JSON.stringify(tlsKey) });
    const publish = await change(slots({ active: "a", next: "b" }));
    expect(summary(publish)).toMatchObject({ "mail-tls-key-b": "create" });
    expect(summary(publish)["mailcow-tls-key"]).toBeUndefined(); // mailcow keeps serving key a
    expectKept(publish);

    const switched = await planChanges(
      (await planWithKeys(slots({ active: "a", next: "b" }))).result.run,
      (await planWithKeys(slots({ active: "b", next: "a" }))).result.run,
    );
    expect(summary(switched)).toMatchObject({ "mailcow-tls-key": "replace" });
    expect(summary(switched)["mail-tls-key-a"]).toBeUndefined();
    expect(summary(switched)["mail-tls-key-b"]).toBeUndefined();
    expectKept(switched);

    const dropped = await planChanges(
      (await planWithKeys(slots({ active: "b", next: "a" }))).result.run,
      (await planWithKeys(slots({ active: "b" }))).result.run,
    );
    expect(summary(dropped)["mail-tls-key-a"]).toBe("delete");
    expect(summary(dropped)["mail-tls-key-b"]).toBeUndefined();
    expect(summary(dropped)["mailcow-tls-key"]).toBeUndefined();
    expectKept(dropped);
  });

  it("a hosted domain added in the middle: only that domain's resources appear", async () => {
    const domains = JSON.parse(prod.stackConfig.values["mailstack:domains"] ?? "[]") as object[];
    const extra = { name: "xd-extra.de", zoneId: "0123456789abcdef0123456789abcdef", mailboxes: [] };
    const steps = await change({ "mailstack:domains": JSON.stringify([domains[0], extra, ...domains.slice(1)]) });
    for (const step of steps.filter((s) => s.action === "create")) expect(step.urn).toMatch(/xd-extra/);
    expectKept(steps);
  });

  it("a PBS password rotation: the storage is updated in place, its encryption key stays the stack's", async () => {
    const before = (await planWithKeys({}, { secrets: { "mailstack:pbsPassword": "pbs-password-1" } })).result;
    const after = (await planWithKeys({}, { secrets: { "mailstack:pbsPassword": "pbs-password-2" } })).result;
    const steps = await planChanges(before.run, after.run);
    expect(steps.find((s) => s.name === "backup-pbs")).toMatchObject({ action: "update", changed: ["password"] });
    expect(summary(steps)["backup-pbs-key"]).toBeUndefined();
    expect(summary(steps)["backup-vm"]).toBeUndefined();
    expectKept(steps);
  });

  it("a new update window or mailcow update mode: only the updates step runs again", async () => {
    for (const updates of [{ window: { start: "05:00", durationMinutes: 60 } }, { mailcow: "upgrade" }]) {
      const steps = await change({ "mailstack:updates": JSON.stringify(updates) });
      expect(summary(steps), JSON.stringify(updates)).toEqual({ "mailcow-updates": "replace" });
    }
  });

  it("another monitoring network: the pfSense alias is edited in place, the firewall step re-runs, the VM stays", async () => {
    const monitoring = JSON.parse(prod.stackConfig.values["mailstack:monitoring"] ?? "{}") as Record<string, unknown>;
    const steps = await change({
      "mailstack:monitoring": JSON.stringify({ ...monitoring, scrapeCidrs: ["10.3.5.0/24", "10.3.6.0/24"] }),
    });
    // The first-boot snippet carries the firewall script too: rewritten in place, never the VM.
    expect(summary(steps)).toEqual({
      "pfsense-alias-monitoring-sources": "update",
      "mailcow-firewall": "replace",
      "mailcow-user-data": "update",
    });
    expectKept(steps);
  });

  it("a logging change: only the logging step re-runs (and the first-boot snippet is rewritten in place)", async () => {
    const steps = await change({
      "mailstack:logging": JSON.stringify({ localOnly: { reason: "The collector is being replaced this quarter." } }),
    });
    expect(summary(steps)).toEqual({ "mailcow-logging": "replace", "mailcow-user-data": "update" });
    expectKept(steps);
  });

  it("pfSense's configuration backup turned on: its key, password, user and two host steps are created; nothing else changes", async () => {
    const pfsense = JSON.parse(prod.stackConfig.values["mailstack:pfsense"] ?? "{}") as { configBackup?: unknown };
    expect(pfsense.configBackup).toBeDefined();
    const without = (
      await planWithKeys({ "mailstack:pfsense": JSON.stringify({ ...pfsense, configBackup: undefined }) })
    ).result;
    const steps = await planChanges(without.run, prod.run);
    expect(summary(steps)).toEqual({
      "pfsense-config": "create",
      "pfsense-config-key": "create",
      "pfsense-config-password": "create",
      "pfsense-config-user": "create",
      "pfsense-config-secrets": "create",
      "pfsense-config-install": "create",
    });
    expectKept(steps);
  });

  it("another pfSense backup schedule: only the install step re-runs; the key, the user and its password stay", async () => {
    const pfsense = JSON.parse(prod.stackConfig.values["mailstack:pfsense"] ?? "{}") as {
      configBackup: Record<string, unknown>;
    };
    const steps = await change({
      "mailstack:pfsense": JSON.stringify({
        ...pfsense,
        configBackup: { ...pfsense.configBackup, schedule: "*-*-* 00:45" },
      }),
    });
    expect(summary(steps)).toEqual({ "pfsense-config-install": "replace" });
  });

  it("shows what does replace the VM: moving its snippets to another storage (a ForceNew file id)", async () => {
    const proxmox = JSON.parse(prod.stackConfig.values["mailstack:proxmox"] ?? "{}") as object;
    const steps = await change({ "mailstack:proxmox": JSON.stringify({ ...proxmox, snippetDatastore: "cephfs" }) });
    const vm = steps.find((s) => s.name === "mailcow-vm");
    expect(vm).toMatchObject({
      action: "replace",
      because: ["initialization.networkDataFileId", "initialization.userDataFileId"],
    });
  });
});

describe("Proxmox HA added to the running prod stack", () => {
  it("creates the HA resource, its rule and the replication job; the VM is replaced only because its snippets move to shared storage", async () => {
    const vm = JSON.parse(prod.stackConfig.values["mailstack:vm"] ?? "{}") as object;
    const proxmox = JSON.parse(prod.stackConfig.values["mailstack:proxmox"] ?? "{}") as object;
    const steps = await change({
      "mailstack:vm": JSON.stringify({ ...vm, ha: { nodes: { pve: 2, pve2: 1 }, replication: { target: "pve2" } } }),
      "mailstack:proxmox": JSON.stringify({ ...proxmox, vmDatastore: "local-zfs", snippetDatastore: "cephfs" }),
    });
    const byName = new Map(steps.map((step) => [step.name, step]));
    for (const name of ["mailcow-ha", "mailcow-ha-nodes", "mailcow-replication"])
      expect(byName.get(name)?.action, name).toBe("create");
    // HA needs the snippets on shared storage (PVE reads them at every start): a new file id,
    // ForceNew on bpg's VM, which `protect` refuses in prod. Move them before the first boot.
    expect(byName.get("mailcow-vm")).toMatchObject({
      action: "replace",
      because: ["initialization.networkDataFileId", "initialization.userDataFileId"],
    });
  });
});

describe("two stacks on one Proxmox cluster", () => {
  it("share no cluster-wide name: storage ids, files on the node, backup jobs, HA rules, VM ids and names", async () => {
    const staging = (await planWithKeys({}, { stack: "staging" })).result;
    const names = (result: PlanResult) => {
      const found = new Set<string>();
      for (const resource of result.run.resources) {
        const inputs = plainInputs(resource.inputs);
        const add = (what: string, value: unknown) => {
          if (typeof value === "string" || typeof value === "number") found.add(`${what}=${String(value)}`);
        };
        if (resource.type === "proxmoxve:download/file:File")
          add("file", `${String(inputs.datastoreId)}:${String(inputs.fileName)}`);
        if (resource.type === "proxmoxve:index/vmLegacy:VmLegacy") {
          add("vmid", inputs.vmId);
          add("vmname", inputs.name);
          const init = inputs.initialization as Record<string, unknown>;
          add("file", init.userDataFileId);
          add("file", init.networkDataFileId);
        }
        if (resource.type === "proxmoxve:index/harule:Harule") add("harule", inputs.rule);
        if (resource.type === "proxmoxve:index/haresource:Haresource") add("haresource", inputs.resourceId);
        if (resource.type === "proxmoxve:index/replication:Replication") add("replication", inputs.resourceId);
        if (resource.type.endsWith("/proxmox:PbsStorage")) add("storage", inputs.storage);
        if (resource.type.endsWith("/proxmox:BackupJob")) add("backupjob", inputs.jobId);
      }
      return found;
    };
    const prodNames = names(prod);
    const stagingNames = names(staging);
    expect([...prodNames].map((name) => name.split("=")[0])).toEqual(
      expect.arrayContaining(["file", "vmid", "vmname", "storage", "backupjob"]),
    );
    expect([...prodNames].filter((name) => stagingNames.has(name))).toEqual([]);
  });
});

describe("a stack deployed before the deploy identity (main f1e1c1f), on its next `up`", () => {
  // What that code registered for the mail host, in the new plan's terms: every VM command
  // connected as the admin (`mailops`, the deploy key in the admin's authorized_keys, NOPASSWD
  // sudo), admin-access was one of those SSH commands, there was neither the admin-password step nor
  // its generated password, SOGo was restarted by a command line, and the first-boot snippet had no
  // deploy user. Contents that changed are stand-ins: only that they differ matters to the engine.
  const VM_ADDRESS = "10.3.0.4";
  let after: PlanResult;
  let steps: Step[];
  const isVmCommand = (inputs: Record<string, unknown>) =>
    (inputs.connection as { host?: unknown } | undefined)?.host === VM_ADDRESS;

  beforeAll(async () => {
    // Applied plans: the VM connection carries the host key the node read, as in the state.
    after = (await planWithKeys({}, { preview: false })).result;
    const vmConnection = after.run.resources.map((r) => plainInputs(r.inputs)).find((inputs) => isVmCommand(inputs))
      ?.connection as Record<string, unknown>;
    const oldInputs = (name: string, inputs: Record<string, unknown>): Record<string, unknown> | undefined => {
      if (name === "mailcow-admin-password" || name === "mailcow-admin-sudo-password") return undefined;
      if (name === "mailcow-admin-access")
        return {
          connection: { ...vmConnection, user: "mailops" },
          create: "sudo bash -s",
          stdin: "[f1e1c1f admin-access: mailops with the deploy key, NOPASSWD sudo, AllowUsers mailops]",
          triggers: ["[its hash]"],
          logging: "stdoutAndStderr",
        };
      if (name === "mailcow-user-data") return { ...inputs, stdin: "[f1e1c1f user-data: no deploy user]" };
      if (!isVmCommand(inputs)) return inputs;
      const asAdmin: Record<string, unknown> = {
        ...inputs,
        connection: { ...(inputs.connection as object), user: "mailops" },
      };
      if (name === "mailcow-tenants-sogo-restart") {
        const { stdin: _stdin, ...rest } = asAdmin;
        return { ...rest, create: "cd /opt/mailcow-dockerized && sudo docker compose restart sogo-mailcow" };
      }
      return asAdmin;
    };
    const before = {
      ...after.run,
      resources: after.run.resources.flatMap((r) => {
        const inputs = oldInputs(r.name, plainInputs(r.inputs));
        return inputs ? [{ ...r, inputs: inputs }] : [];
      }),
    };
    steps = await planChanges(before, after.run);
  });

  const urnOf = (name: string) => {
    const found = after.run.resources.find((r) => r.name === name);
    if (!found) throw new Error(`no resource ${name}`);
    return found.urn;
  };

  it("keeps the VM (and everything that must live on); admin-access is replaced by the guest-agent step on the node", () => {
    const actions = summary(steps);
    expect(actions["mailcow-vm"]).toBeUndefined();
    expect(actions["mailcow-image"]).toBeUndefined();
    expect(actions["mailcow-network-config"]).toBeUndefined();
    expect(actions).toMatchObject({
      "mailcow-user-data": "update",
      "mailcow-admin-access": "replace",
      "mailcow-admin-password": "create",
      "mailcow-admin-sudo-password": "create",
    });
    expectKept(steps);
    const adminAccess = after.run.resources.find((r) => r.name === "mailcow-admin-access");
    const inputs = plainInputs(adminAccess?.inputs) as {
      connection: { host: string; user: string };
      create: string;
      stdin: string;
    };
    const hostKey = after.run.resources.find((r) => r.name === "mailcow-host-key");
    // The node's connection (the one that reads the VM's host key), never an SSH identity in the VM.
    expect(inputs.connection).toEqual((plainInputs(hostKey?.inputs) as { connection: unknown }).connection);
    expect(inputs.connection.host).not.toBe(VM_ADDRESS);
    expect(inputs.create).toBe("bash -s");
    expect(inputs.stdin).toMatch(/qm guest exec "\$VM_ID" --timeout "\$STEP_TIMEOUT" --pass-stdin 1 -- bash -s/);
  });

  it("re-runs every deploy-user step in place (connection changed, not replaced), each after admin-access", () => {
    const vmSteps = steps.filter((s) => {
      const resource = after.run.resources.find((r) => r.urn === s.urn);
      return resource !== undefined && isVmCommand(plainInputs(resource.inputs));
    });
    expect(vmSteps.map((s) => s.name)).toEqual(
      expect.arrayContaining(["mailcow-cloud-init", "mailcow-base-hardening", "mailcow-up"]),
    );
    // mailcow-up was mailcow-mailcow-up in that release: matched by its alias, so updated, not created.
    expect(vmSteps.find((s) => s.name === "mailcow-up")).toMatchObject({ action: "update" });
    const adminAccess = urnOf("mailcow-admin-access");
    for (const step of vmSteps) {
      expect(["update", "replace", "create"], step.name).toContain(step.action);
      if (step.action === "update") expect(step.changed, step.name).toContain("connection.user");
      // The engine runs a resource after everything it depends on.
      expect(dependencyClosure(after.run, step.urn).has(adminAccess), step.name).toBe(true);
    }
    // The cloud-init check and the first-boot-only steps are not replaced (their triggers stay).
    expect(vmSteps.find((s) => s.name === "mailcow-cloud-init")).toMatchObject({ action: "update" });
  });
});
