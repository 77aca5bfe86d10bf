// BackupJob under the mock engine: the PBS job targets the mailcow VM with the configured schedule
// and retention, the encryption key and restic password stay secrets, and the off-site tools
// reach the VM after mailcow is up, their secrets only on SSH stdin.
import { describe, expect, it } from "vitest";
import { isSecret, plain, redact, type RecordedResource } from "../plan/engine";
import type { PlanResult } from "../plan/run";
import type { BackupOutputs } from "../outputs";
import { pruneBackups } from "../components/backup-job";
import { pbsKeyFileFingerprint } from "../render/pbs-key";
import { dependencyClosure, planWithKeys } from "./plans";
import { installedFiles } from "./support/scripts";

const find = (result: PlanResult, name: string): RecordedResource | undefined =>
  result.run.resources.find((r) => r.name === name);

function byName(result: PlanResult, name: string): RecordedResource {
  const found = find(result, name);
  if (!found) throw new Error(`no resource ${name}`);
  return found;
}

const SECRETS = {
  "mailstack:pbsPassword": "pbs-password-do-not-leak",
  "mailstack:offsiteAccessKeyId": "AKIA-do-not-leak",
  "mailstack:offsiteSecretAccessKey": "s3-secret-do-not-leak",
};

// Prod's pfSense without its configuration backup, which needs the off-site repository that the
// cases below leave out (config refuses it otherwise, naming mailstack:pfsense.configBackup).
const PFSENSE_WITHOUT_CONFIG_BACKUP = JSON.stringify({
  endpoint: "https://fw.xd-cloud.de/",
  wanInterface: "wan",
  lanInterface: "lan",
});

describe("BackupJob", () => {
  it("backs up the mailcow VM to PBS nightly through the PVE API: snapshot mode, zstd, schedule and retention from config, mail on failure", async () => {
    const { result } = await planWithKeys();
    const job = byName(result, "backup-vm");
    expect(job.type).toBe("pulumi-nodejs:dynamic/proxmox:BackupJob");
    expect(plain(job.inputs)).toMatchObject({
      jobId: "mailstack-prod-mailcow",
      vmids: [104],
      mode: "snapshot",
      compress: "zstd",
      schedule: "*-*-* 02:00",
      pruneBackups: { "keep-daily": 7, "keep-weekly": 4, "keep-monthly": 6 },
      mailNotification: "failure",
      mailTo: ["admin@xd-cloud.de"],
      enabled: true,
      comment: "mailstack prod: the mail VM mailcow",
    });
    expect(plain(job.inputs.pruneBackups)).not.toHaveProperty("keep-yearly");
    const storage = byName(result, "backup-pbs");
    expect(job.dependencies).toEqual(expect.arrayContaining([storage.urn, byName(result, "mailcow-vm").urn]));
    expect(plain(job.inputs.connection)).toMatchObject({ endpoint: "https://pve.xd-cloud.de:8006/" });
    expect(isSecret(job.inputs.connection)).toBe(true);
  });

  it("takes schedule and retention from the stack config", async () => {
    const { result } = await planWithKeys({
      "mailstack:pfsense": PFSENSE_WITHOUT_CONFIG_BACKUP,
      "mailstack:backup": JSON.stringify({
        schedule: "Mon..Fri *-*-* 01:15",
        retention: { daily: 8, weekly: 0, monthly: 2, yearly: 1 },
        pbs: {
          server: "pbs.example.org",
          datastore: "mail",
          username: "mailstack@pbs",
          fingerprint: Array.from({ length: 32 }, () => "AB").join(":"),
        },
      }),
    });
    expect(plain(byName(result, "backup-vm").inputs)).toMatchObject({
      schedule: "Mon..Fri *-*-* 01:15",
      pruneBackups: { "keep-daily": 8, "keep-monthly": 2, "keep-yearly": 1 },
      storage: "mailstack-prod",
    });
    expect(find(result, "backup-offsite-install")).toBeUndefined();
  });

  it("encrypts with a key the stack generates and keeps: a secret output, and a file in every off-site snapshot", async () => {
    const { result, keys } = await planWithKeys({}, { preview: false, secrets: SECRETS });
    const storage = byName(result, "backup-pbs");
    expect(storage.type).toBe("pulumi-nodejs:dynamic/proxmox:PbsStorage");
    expect(plain(storage.inputs)).toMatchObject({
      storage: "pbs-mailcow",
      server: "pbs.xd-cloud.de",
      datastore: "mailcow",
      username: "mailstack@pbs",
      nodes: ["pve"],
      fingerprint: expect.stringMatching(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/) as string,
    });
    expect(isSecret(storage.inputs.password)).toBe(true);
    expect(isSecret(storage.inputs.encryptionKey)).toBe(true);
    const key = String(plain(storage.inputs.encryptionKey));
    const bytes = String(keys.get("backup-pbs-key")?.base64);
    expect(JSON.parse(key)).toMatchObject({ kdf: null, data: bytes });
    expect(pbsKeyFileFingerprint(key)).toMatch(/^([0-9a-f]{2}:){31}[0-9a-f]{2}$/);
    const outputs = result.run.outputs as unknown as { backup: Record<string, Record<string, unknown>> };
    expect(isSecret(outputs.backup.pbs?.encryptionKey)).toBe(true);
    expect(plain(outputs.backup.pbs?.encryptionKey)).toBe(key);
    // The off-site backup keeps it too (render/backup.ts PBS_KEY_FILE), written over SSH stdin only.
    const secretsScript = String(plain(byName(result, "backup-offsite-secrets").inputs.stdin));
    expect(installedFiles(secretsScript).get("/etc/mailstack/pbs-encryption-key.json")).toEqual({
      mode: "0600",
      content: `${key}\n`,
    });
  });

  it("keeps the restic password and S3 credentials secret: SSH stdin only, never logged, never in the plan files", async () => {
    const { result, keys } = await planWithKeys({}, { secrets: SECRETS });
    const secrets = byName(result, "backup-offsite-secrets");
    expect(isSecret(secrets.inputs.stdin)).toBe(true);
    expect(secrets.inputs.logging).toBe("none");
    expect(secrets.options.additionalSecretOutputs).toEqual(expect.arrayContaining(["stdout", "stderr"]));
    const script = String(plain(secrets.inputs.stdin));
    const resticPassword = String(keys.get("backup-restic-password")?.result);
    expect(resticPassword).toMatch(/^[A-Za-z0-9]{48}$/);
    const files = installedFiles(script);
    expect(files.get("/etc/mailstack/restic-password")).toEqual({ mode: "0600", content: `${resticPassword}\n` });
    expect([...files.values()].map((file) => file.content).join("")).toContain(
      "AWS_SECRET_ACCESS_KEY='s3-secret-do-not-leak'",
    );

    const install = byName(result, "backup-offsite-install");
    expect(isSecret(install.inputs.stdin)).toBe(false);
    expect(install.inputs.create).toBe("sudo bash -s");
    const exposed = JSON.stringify([
      redact(result.run.resources.map((r) => r.inputs)),
      result.files,
      redact(result.run.outputs),
    ]);
    for (const value of [...Object.values(SECRETS), String(resticPassword)]) expect(exposed).not.toContain(value);
    const planned = new Map(result.files.map((file) => [file.path, file.content]));
    expect(planned.get("files/mailcow-vm/etc/mailstack/restic-password")).toBe("[secret]\n");
    expect(planned.get("files/mailcow-vm/etc/mailstack/backup.conf")).toContain(
      "RESTIC_REPOSITORY='s3:https://s3.eu-central-003.backblazeb2.com/xd-cloud-mail-backup/mailcow'",
    );
    const outputs = result.run.outputs as unknown as { backup: Record<string, Record<string, unknown>> };
    expect(isSecret(outputs.backup.offsite?.resticPassword)).toBe(true);
  });

  it("installs the off-site backup after mailcow is up, with its own schedule and retention", async () => {
    const { result } = await planWithKeys();
    const install = byName(result, "backup-offsite-install");
    const dependencies = dependencyClosure(result.run, install.urn);
    expect(dependencies.has(byName(result, "mailcow-up").urn)).toBe(true);
    expect(dependencies.has(byName(result, "backup-offsite-secrets").urn)).toBe(true);
    const planned = new Map(result.files.map((file) => [file.path, file.content]));
    expect(planned.get("files/mailcow-vm/etc/systemd/system/mailstack-backup.timer")).toContain(
      "OnCalendar=*-*-* 03:30",
    );
    expect(planned.get("files/mailcow-vm/etc/systemd/system/mailstack-backup-check.timer")).toContain(
      "OnCalendar=Sun *-*-* 05:00",
    );
    expect(planned.get("files/mailcow-vm/etc/mailstack/backup.conf")).toMatch(
      /KEEP_DAILY='14'\nKEEP_WEEKLY='8'\nKEEP_MONTHLY='12'\nKEEP_YEARLY='0'/,
    );
    const outputs = redact(result.run.outputs) as { backup: BackupOutputs };
    expect(outputs.backup.offsite).toMatchObject({
      schedule: "*-*-* 03:30",
      restoreCommand: "sudo mailstack-restore --list",
    });
  });

  it("uses the password of an existing repository when the stack is given one", async () => {
    const { result } = await planWithKeys(
      {},
      { secrets: { ...SECRETS, "mailstack:offsiteRepositoryPassword": "existing-repo-password" } },
    );
    expect(find(result, "backup-restic-password")).toBeUndefined();
    const script = String(plain(byName(result, "backup-offsite-secrets").inputs.stdin));
    expect(installedFiles(script).get("/etc/mailstack/restic-password")?.content).toBe("existing-repo-password\n");
  });

  it("declares no backup resources when the stack configures no target, and only PBS in staging", async () => {
    const none = await planWithKeys({
      "mailstack:pfsense": PFSENSE_WITHOUT_CONFIG_BACKUP,
      "mailstack:backup": JSON.stringify({}),
    });
    expect(none.result.run.resources.filter((r) => r.name.startsWith("backup"))).toEqual([]);
    const staging = await planWithKeys({}, { stack: "staging" });
    expect(find(staging.result, "backup-vm")).toBeDefined();
    expect(find(staging.result, "backup-offsite-install")).toBeUndefined();
  });

  it("maps retention to Proxmox prune keys, leaving out what is not kept", () => {
    expect(pruneBackups({ daily: 7, weekly: 0, monthly: 6, yearly: 0 })).toEqual({
      "keep-daily": 7,
      "keep-monthly": 6,
    });
  });
});
