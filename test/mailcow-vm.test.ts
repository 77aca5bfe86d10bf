// MailcowVm under the mock engine: the VM, its snippets, the bring-up chain and where secrets go.
import { describe, expect, it } from "vitest";
import { isSecret, plain, redact, type RecordedResource } from "../plan/engine";
import type { PlanResult } from "../plan/run";
import { dependencyClosure, planWithKeys, VM_HOST_KEY } from "./plans";
import { scriptSettings, withEncodedPayloads } from "../policies/lib";
import { CROWDSEC_NFT } from "../render/host-files";
import { stepResourceName } from "../render/mailcow-host";
import { rejection } from "./tools";
import { decoded, setting } from "./support/scripts";

/** The prod stack's Proxmox settings (the overrides replace the whole key). */
const PROD_PROXMOX = {
  endpoint: "https://pve.xd-cloud.de:8006/",
  node: "pve",
  sshHostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAFxQ4sH7xsA0mCpNaqurdzKrxwnIPXhUrPRzN/599wh root@pve",
  imageDatastore: "local",
};

const VM = "proxmoxve:index/vmLegacy:VmLegacy";
/** The prod stack's VM settings with `ha` (the override replaces the whole key). */
const vmWithHa = (ha: Record<string, unknown>) => JSON.stringify({ id: 104, cores: 8, memoryGiB: 16, diskGb: 100, ha });
const COMMAND = "command:remote:Command";

/** The snippet a node command writes (render/scripts/pve-snippet.sh carries it base64). */
function snippetContent(result: PlanResult, role: string): string {
  const stdin = String(plain(byName(result, `mailcow-${role}`).inputs.stdin));
  const encoded = /^readonly CONTENT_B64='([A-Za-z0-9+/=]+)'$/m.exec(stdin)?.[1] ?? "";
  return Buffer.from(encoded, "base64").toString();
}

/** The script a bring-up step installs and runs (installAndRun carries it base64). */
/** The script a bring-up step installs and runs (render/scripts/install-and-run.sh). */
function installedScript(stdin: string): string {
  return decoded(stdin, "SCRIPT_B64");
}

function byName(result: PlanResult, name: string): RecordedResource {
  const found = result.run.resources.find((r) => r.name === name);
  if (!found) throw new Error(`no resource ${name}`);
  return found;
}

describe("MailcowVm", () => {
  it("builds the VM from config: sizing, CPU type, VirtIO SCSI with iothread/discard/SSD, guest agent, start on boot, protection", async () => {
    const { result } = await planWithKeys();
    const vm = byName(result, "mailcow-vm");
    expect(vm.type).toBe(VM);
    expect(plain(vm.inputs)).toMatchObject({
      nodeName: "pve",
      vmId: 104,
      name: "mailcow",
      onBoot: true,
      started: true,
      protection: true,
      cpu: { cores: 8, type: "x86-64-v2-AES" },
      memory: { dedicated: 16384, floating: 0 },
      scsiHardware: "virtio-scsi-single",
      disks: [{ interface: "scsi0", datastoreId: "local-lvm", size: 100, iothread: true, discard: "on", ssd: true }],
      agent: { enabled: true },
    });
    expect(vm.options.protect).toBe(true);
    const image = byName(result, "mailcow-image");
    expect(image.inputs).toMatchObject({
      contentType: "import",
      checksumAlgorithm: "sha512",
      checksum: expect.stringMatching(/^[0-9a-f]{128}$/) as string,
    });
  });

  it("lets staging throw the VM away: no protection", async () => {
    const { result } = await planWithKeys({}, { stack: "staging" });
    const vm = byName(result, "mailcow-vm");
    expect(vm.inputs.protection).toBe(false);
    expect(vm.options.protect).toBeUndefined();
    expect(plain(vm.inputs)).toMatchObject({ cpu: { cores: 4 }, memory: { dedicated: 8192 } });
  });

  it("does not depend on DNS, and the bring-up depends on the VM", async () => {
    const { result } = await planWithKeys();
    const vm = byName(result, "mailcow-vm");
    for (const dependency of dependencyClosure(result.run, vm.urn)) expect(dependency).not.toMatch(/cloudflare/);
    const up = byName(result, "mailcow-up");
    const upDeps = dependencyClosure(result.run, up.urn);
    expect(upDeps.has(vm.urn)).toBe(true);
    const before = ["cloud-init", "admin-access", "base-hardening", "network", "firewall", "docker", "crowdsec"];
    const mailcow = ["mailcow-release", "tls-key", "mailcow-conf", "postfix-tls", "dovecot-tls", "autoconfig"];
    for (const step of [...before, ...mailcow, "compose-override"]) {
      expect(upDeps.has(byName(result, stepResourceName("mailcow", step)).urn), step).toBe(true);
    }
  });

  it("points the VM at fixed snippet volumes written in place on the node, so content changes never touch the VM", async () => {
    const { result } = await planWithKeys();
    const vm = byName(result, "mailcow-vm");
    expect(plain(vm.inputs.initialization)).toMatchObject({
      userDataFileId: "local:snippets/mailstack-prod-mailcow-user-data.yaml",
      networkDataFileId: "local:snippets/mailstack-prod-mailcow-network-config.yaml",
    });
    for (const role of ["user-data", "network-config"]) {
      const snippet = byName(result, `mailcow-${role}`);
      expect(snippet.type).toBe(COMMAND);
      // No triggers: a new content is an in-place update that writes the file again (no replace,
      // no delete of the file the VM refers to).
      expect(snippet.inputs.triggers).toBeUndefined();
      expect(plain(snippet.inputs.delete)).toBe(
        `f=$(pvesm path 'local:snippets/mailstack-prod-mailcow-${role}.yaml') && rm -f -- "$f"`,
      );
      expect(vm.dependencies).toContain(snippet.urn);
    }
    expect(snippetContent(result, "user-data")).toMatch(/^#cloud-config/);
    expect(byName(result, "mailcow-image").inputs.fileName).toBe(
      "mailstack-prod-debian-13-genericcloud-amd64-20250924-2245.qcow2",
    );
  });

  it("verifies the VM's SSH host key through the node, whose key is pinned", async () => {
    const { result } = await planWithKeys();
    const hostKey = byName(result, "mailcow-host-key");
    expect(plain(hostKey.inputs.connection)).toMatchObject({
      host: "pve.xd-cloud.de",
      user: "root",
      hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAFxQ4sH7xsA0mCpNaqurdzKrxwnIPXhUrPRzN/599wh root@pve",
    });
    expect(plain(hostKey.inputs.create)).toBe("bash -s");
    expect(setting(String(plain(hostKey.inputs.stdin)), "VM_ID")).toBe("104");
    // The VM's key is only known after apply; outside a preview the connection shows its parts.
    expect(redact(byName(result, "mailcow-conf").inputs.connection)).toBe("[unknown]");
    // Outside a preview the node answers with the VM's host key (played by the test helper).
    const { result: applied } = await planWithKeys({}, { preview: false });
    const connection = byName(applied, "mailcow-conf").inputs.connection;
    expect(isSecret(connection)).toBe(true); // it carries the deploy key
    expect(plain(connection)).toMatchObject({ host: "10.3.0.4", user: "mailstack-deploy", hostKey: VM_HOST_KEY });
  });

  it("keeps every secret out of the snippets and out of every non-secret input", async () => {
    const { result, keys } = await planWithKeys();
    const secrets: string[] = [];
    for (const [name, values] of keys) {
      for (const [field, value] of Object.entries(values)) {
        if (typeof value !== "string") continue;
        if (field === "result" || /private/i.test(field))
          secrets.push(name.includes("key") ? (value.split("\n")[1] ?? value) : value);
      }
    }
    expect(secrets.length).toBeGreaterThanOrEqual(8);
    expect(snippetContent(result, "user-data")).toMatch(/^#cloud-config/);
    for (const resource of result.run.resources) {
      const visible = JSON.stringify(redact(resource.inputs));
      for (const secret of secrets) expect(visible.includes(secret), `${resource.name} shows a secret`).toBe(false);
    }
  });

  it("sends secret-bearing files as secret stdin, never logged", async () => {
    const { result } = await planWithKeys();
    for (const step of ["tls-key", "mailcow-conf"]) {
      const command = byName(result, stepResourceName("mailcow", step));
      expect(command.type).toBe(COMMAND);
      expect(isSecret(command.inputs.stdin)).toBe(true);
      expect(command.inputs.logging).toBe("none");
      expect(command.options.additionalSecretOutputs).toEqual(expect.arrayContaining(["stdout", "stderr"]));
      expect(command.inputs.create).toBe("sudo bash -s");
    }
    const postfix = byName(result, "mailcow-postfix-tls");
    expect(isSecret(postfix.inputs.stdin)).toBe(false);
    const installed = installedScript(String(plain(postfix.inputs.stdin)));
    expect(scriptSettings(installed)).toMatchObject({ ON_CHANGE: "restart" });
    expect(installed).toContain("readonly RESTART=('postfix-mailcow')");
  });

  it("re-runs a file install exactly when its content changes (content hash as trigger)", async () => {
    const before = (await planWithKeys()).result;
    const after = (await planWithKeys({ "mailstack:tlsMinVersion": "1.3" })).result;
    const trigger = (result: PlanResult, name: string) => JSON.stringify(plain(byName(result, name).inputs.triggers));
    expect(trigger(after, "mailcow-postfix-tls")).not.toBe(trigger(before, "mailcow-postfix-tls"));
    expect(trigger(after, "mailcow-dovecot-tls")).not.toBe(trigger(before, "mailcow-dovecot-tls"));
    for (const unchanged of [
      "mailcow-compose-override",
      "mailcow-firewall",
      "mailcow-docker",
      "mailcow-conf",
      "mailcow-tls-key",
    ]) {
      expect(trigger(after, unchanged), unchanged).toBe(trigger(before, unchanged));
    }
  });

  it("refuses HA on node-local storage, or without the VM's own node", async () => {
    const error = await rejection(planWithKeys({ "mailstack:vm": vmWithHa({ nodes: { pve2: 2, pve3: 1 } }) }));
    expect(error.message).toContain('mailstack:proxmox.vmDatastore = "local-lvm": "local-lvm" is node-local storage');
    expect(error.message).toContain('mailstack:proxmox.snippetDatastore = "local"');
    expect(error.message).toMatch(/mailstack:vm\.ha\.nodes .*the VM's node pve is not in the HA group/);
  });

  it("adds Proxmox HA when configured", async () => {
    const { result } = await planWithKeys({
      "mailstack:vm": vmWithHa({ nodes: { pve: 2, pve2: 1 } }),
      "mailstack:proxmox": JSON.stringify({ ...PROD_PROXMOX, vmDatastore: "ceph-vm", snippetDatastore: "cephfs" }),
    });
    expect(redact(byName(result, "mailcow-ha").inputs)).toMatchObject({
      resourceId: "vm:104",
      state: "started",
      maxRestart: 2,
      maxRelocate: 1,
    });
    expect(byName(result, "mailcow-ha").options).toMatchObject({
      replaceOnChanges: ["resourceId"],
      deleteBeforeReplace: true,
    });
    expect(redact(byName(result, "mailcow-ha-nodes").inputs)).toMatchObject({
      type: "node-affinity",
      rule: "mailstack-prod-mailcow",
      resources: ["vm:104"],
      nodes: { pve: 2, pve2: 1 },
    });
    expect(result.run.resources.some((r) => r.name === "mailcow-replication")).toBe(false);
    expect(
      result.policy.findings.filter((f) => f.policy.startsWith("mailstack-resilience-")).map((f) => f.policy),
    ).toEqual([]);
    const { result: withoutHa } = await planWithKeys();
    expect(withoutHa.run.resources.some((r) => r.name === "mailcow-ha")).toBe(false);
    expect(withoutHa.run.resources.some((r) => r.name === "mailcow-replication")).toBe(false);
  });

  it("replicates the VM's ZFS disks to the second HA node when configured, and the policy accepts it", async () => {
    const { result } = await planWithKeys({
      "mailstack:vm": vmWithHa({ nodes: { pve: 2, pve2: 1 }, replication: { target: "pve2", rateMBps: 200 } }),
      "mailstack:proxmox": JSON.stringify({ ...PROD_PROXMOX, vmDatastore: "local-zfs", snippetDatastore: "cephfs" }),
    });
    const job = byName(result, "mailcow-replication");
    expect(job.type).toBe("proxmoxve:index/replication:Replication");
    expect(redact(job.inputs)).toEqual({
      resourceId: "104-0",
      type: "local",
      target: "pve2",
      schedule: "*:0/15",
      rate: 200,
      disable: false,
      comment: "mailstack production: mailcow to pve2",
    });
    // A new VM id is a new job; PVE turns the job around after a failover (the target is left to it).
    expect(job.options).toMatchObject({ deleteBeforeReplace: true, ignoreChanges: ["target"] });
    expect(job.dependencies).toContain(byName(result, "mailcow-vm").urn);
    expect(result.policy.mandatory).toEqual([]);
  });

  it("refuses replication to the VM's own node, to a node outside HA, or from storage that is not ZFS", async () => {
    const vm = (replication: Record<string, unknown>) => vmWithHa({ nodes: { pve: 2, pve2: 1 }, replication });
    const proxmox = (vmDatastore: string, snippetDatastore = "cephfs") =>
      JSON.stringify({ ...PROD_PROXMOX, vmDatastore, snippetDatastore });
    const own = await rejection(
      planWithKeys({ "mailstack:vm": vm({ target: "pve" }), "mailstack:proxmox": proxmox("local-zfs") }),
    );
    expect(own.message).toMatch(/mailstack:vm\.ha\.replication\.target .*replicate to another node of vm\.ha\.nodes/);
    const outside = await rejection(
      planWithKeys({ "mailstack:vm": vm({ target: "pve3" }), "mailstack:proxmox": proxmox("local-zfs") }),
    );
    expect(outside.message).toMatch(/mailstack:vm\.ha\.replication\.target .*add it to vm\.ha\.nodes/);
    const lvm = await rejection(
      planWithKeys({ "mailstack:vm": vm({ target: "pve2" }), "mailstack:proxmox": proxmox("local-lvm", "local") }),
    );
    expect(lvm.message).toContain('mailstack:proxmox.vmDatastore = "local-lvm": "local-lvm" is not ZFS storage');
    expect(lvm.message).toMatch(
      /mailstack:proxmox\.snippetDatastore = "local": .*PVE reads the cloud-init snippets at every start/,
    );
    const schedule = await rejection(
      planWithKeys({
        "mailstack:vm": vm({ target: "pve2", schedule: "*/15" }),
        "mailstack:proxmox": proxmox("local-zfs"),
      }),
    );
    expect(schedule.message).toContain("mailstack:vm.ha.replication.schedule");
  });

  it("uses a Proxmox provider that verifies TLS", async () => {
    const { result } = await planWithKeys();
    const provider = result.run.resources.find((r) => r.type === "pulumi:providers:proxmoxve");
    expect(redact(provider?.inputs)).toMatchObject({
      endpoint: "https://pve.xd-cloud.de:8006/",
      insecure: "false",
      apiToken: "[secret]",
    });
  });

  it("shows every rendered file in the plan, secrets as [secret]", async () => {
    const { result, keys } = await planWithKeys();
    const files = new Map(result.files.map((f) => [f.path, f.content]));
    const conf = files.get("files/mailcow-vm/opt/mailcow-dockerized/mailcow.conf") ?? "";
    expect(conf).toMatch(/^DBPASS=\[secret\]$/m);
    expect(conf).toMatch(/^API_KEY=\[secret\]$/m);
    expect(conf).toMatch(/^MAILCOW_HOSTNAME=mail\.xd-cloud\.de$/m);
    expect(files.get("files/mailcow-vm/opt/mailcow-dockerized/data/conf/postfix/extra.cf")).toMatch(
      /smtpd_tls_protocols = >=TLSv1\.2/,
    );
    // Every file a host script installs is listed too, exactly as the script carries it.
    const scripts = [...files].filter(([path]) => path.startsWith("files/mailcow-vm/usr/local/sbin/mailstack-"));
    const carried = new Set(scripts.flatMap(([, content]) => withEncodedPayloads(content)));
    for (const path of [
      "/etc/ssh/sshd_config.d/10-mailstack.conf",
      "/etc/sysctl.d/90-mailstack.conf",
      "/etc/docker/daemon.json",
      "/etc/mailstack/crowdsec.nft",
      "/etc/netplan/50-cloud-init.yaml",
    ]) {
      const shown = files.get(`files/mailcow-vm${path}`);
      expect(shown, path).toBeDefined();
      expect(carried.has(shown ?? ""), path).toBe(true);
    }
    expect(files.get("files/mailcow-vm/etc/mailstack/crowdsec.nft")).toBe(CROWDSEC_NFT);
    expect(files.get("files/mailcow-vm/etc/ssh/sshd_config.d/10-mailstack.conf")).toMatch(
      /^PasswordAuthentication no$/m,
    );
    expect(files.get("files/pve/var/lib/vz/snippets/mailstack-prod-mailcow-user-data.yaml")).toMatch(/^#cloud-config/);
    expect(files.get("files/pve/var/lib/vz/snippets/mailstack-prod-mailcow-network-config.yaml")).toContain(
      "2a05:bec0:27:fd03::4/64",
    );
    expect(files.has("files/mailcow-vm/usr/local/sbin/mailstack-mailcow-conf")).toBe(false); // secret steps run from stdin only
    const everything = [...files.values()].join("\n");
    for (const values of keys.values()) {
      if (typeof values.result === "string") expect(everything).not.toContain(values.result);
      if (typeof values.privateKeyPem === "string")
        expect(everything).not.toContain(values.privateKeyPem.split("\n")[1]);
    }
  });
});
