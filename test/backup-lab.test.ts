// The off-site backup pipeline for real: the rendered mailstack-backup and mailstack-restore run
// against a restic repository on disk, over a realistic mailcow tree (maildirs, a database dump,
// a redis dump, the TLS key, data/conf, mailcow.conf). Only mailcow's Docker-bound
// backup_and_restore.sh is replaced (test/lab-fixtures). Failure mail goes through a real Postfix.
// One repository and one Postfix serve the whole file; the cases build on each other in order.
import { createHash, generateKeyPairSync, randomBytes } from "node:crypto";
import {
  chmodSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { backupConf, backupSecretFiles, backupTool, restoreTool, type OffsiteBackupInput } from "../render/backup";
import { mailcowConf, type MailcowSecrets } from "../render/mailcow";
import { renderedFiles } from "../render/mailcow-host";
import { mailHostInput, offsiteBackupInput } from "./fixtures";
import { freePort, startPostfix, waitFor } from "./lab";
import { run as runCommand } from "./support/exec";
import { pbsKeyFile } from "../render/pbs-key";
import { requireTool } from "./tools";

const dir = mkdtempSync(join(tmpdir(), "mailstack-backup-lab-"));
const mailcowDir = join(dir, "opt", "mailcow-dockerized");
const volumes = join(dir, "volumes");
const repository = join(dir, "repository");
const bin = join(dir, "bin");
const callLog = join(dir, "calls.log");
const inbox = join(dir, "mail", "inbox", "new");
const HOST = "mail.example.org";
const PASSWORD = randomBytes(24).toString("base64url");
let stopPostfix: (() => Promise<void>) | undefined;

function input(overrides: { mailcowDir?: string; smtpPort?: number; repository?: string; name?: string }) {
  const name = overrides.name ?? "main";
  const value = offsiteBackupInput({
    repository: overrides.repository ?? repository,
    host: HOST,
    retention: { daily: 3, weekly: 2, monthly: 1, yearly: 0 },
    checkSubset: "100%",
    notifyEmail: "postmaster@example.org",
    notifySmtpUrl: `smtp://127.0.0.1:${overrides.smtpPort ?? 25}`,
    paths: {
      mailcowDir: overrides.mailcowDir ?? mailcowDir,
      stagingDir: join(dir, "staging"),
      statusFile: join(dir, "state", name === "wrong" ? "wrong.status" : "backup.status"),
      lockFile: join(dir, "backup.lock"),
      cacheDir: join(dir, "cache"),
      passwordFile: join(dir, "etc", `restic-password-${name}`),
      credentialsFile: join(dir, "etc", "credentials.env"),
      pbsKeyFile: join(dir, "etc", "pbs-encryption-key.json"),
      mailcowBackupScript: join(overrides.mailcowDir ?? mailcowDir, "helper-scripts", "backup_and_restore.sh"),
    },
  });
  return value;
}

/** Writes the rendered settings and secrets for a variant; returns the config path. */
function configure(variant: OffsiteBackupInput, name: string, password = PASSWORD): string {
  for (const file of backupSecretFiles(variant, {
    resticPassword: password,
    accessKeyId: "AKIA",
    secretAccessKey: "s",
    pbsEncryptionKey: PBS_KEY,
  })) {
    writeFileSync(file.path, file.content, { mode: 0o600 });
  }
  const path = join(dir, "etc", `backup-${name}.conf`);
  writeFileSync(path, backupConf(variant));
  return path;
}

let config = "";
const PBS_KEY = pbsKeyFile(Buffer.alloc(32, 7).toString("base64"));

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

async function tool(
  name: "mailstack-backup" | "mailstack-restore",
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<Run> {
  const result = await runCommand(join(bin, name), args, {
    env: {
      ...process.env,
      MAILSTACK_BACKUP_CONFIG: config,
      LAB_VOLUMES: volumes,
      LAB_CALL_LOG: callLog,
      ...env,
    },
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

async function restic(args: string[]): Promise<Run> {
  const result = await runCommand("restic", args, {
    env: {
      ...process.env,
      RESTIC_REPOSITORY: repository,
      RESTIC_PASSWORD: PASSWORD,
      RESTIC_CACHE_DIR: join(dir, "cache"),
    },
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function status(): Record<string, string> {
  const file = join(dir, "state", "backup.status");
  if (!existsSync(file)) return {};
  return Object.fromEntries(
    readFileSync(file, "utf8")
      .split("\n")
      .filter((line) => line.includes("="))
      .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
  );
}

async function snapshotTimes(): Promise<string[]> {
  const run = await restic(["snapshots", "--json", "--host", HOST, "--tag", "mailstack"]);
  expect(run.status, run.stderr).toBe(0);
  return (JSON.parse(run.stdout) as { time: string }[]).map((s) => s.time.slice(0, 10)).sort();
}

/** Every file and directory below `root` with its type, mode and content hash. */
function tree(root: string): Map<string, string> {
  const entries = new Map<string, string>();
  const walk = (path: string) => {
    for (const name of readdirSync(path)) {
      const full = join(path, name);
      const stat = lstatSync(full);
      const key = relative(root, full);
      const mode = (stat.mode & 0o7777).toString(8);
      if (stat.isDirectory()) {
        entries.set(key, `dir ${mode}`);
        walk(full);
      } else {
        entries.set(key, `file ${mode} ${createHash("sha256").update(readFileSync(full)).digest("hex")}`);
      }
    }
  };
  walk(root);
  return entries;
}

function mail(index: number, body: string): string {
  return [
    `Return-Path: <sender${index}@example.net>`,
    `From: Sender ${index} <sender${index}@example.net>`,
    "To: alice@example.org",
    `Subject: Lab message ${index} – Grüße`,
    `Message-ID: <${index}.lab@example.net>`,
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=utf-8",
    "",
    body,
    "",
  ].join("\r\n");
}

/**
 * A mailcow installation and its "Docker volumes": 800 mails (16 MB, mostly incompressible, so
 * restic's ~1 MiB chunks are small against the data, as with real mailboxes).
 */
/** mailcow.conf's secrets: the stack keeps them in its state, so a rebuilt VM gets the same. */
const MAILCOW_SECRETS: MailcowSecrets = {
  dbPass: "dbpass-lab",
  dbRoot: "dbroot-lab",
  redisPass: "redis-lab",
  apiKey: "API-KEY-LAB",
  apiKeyReadOnly: "API-RO-LAB",
  sogoUrlEncryptionKey: "sogo-lab-key-123",
};

function buildMailcow(root: string, volumeRoot: string, tlsKey: string): void {
  const secrets = MAILCOW_SECRETS;
  const files: Record<string, string | Buffer> = {
    "mailcow.conf": mailcowConf(
      {
        version: "2026-07a",
        hostname: HOST,
        timezone: "Europe/Berlin",
        clamav: true,
        sogo: true,
        fullTextSearch: false,
        apiAllowFrom: ["10.3.0.0/24"],
        watchdogEmail: "admin@example.org",
        services: { submission: true, pop3s: false, imap: true, pop3: false, sieve: true },
      },
      secrets,
    ),
    "docker-compose.override.yml": "services:\n  clamd-mailcow:\n    mem_limit: 1536m\n",
    "data/conf/postfix/extra.cf": "smtpd_tls_mandatory_protocols = >=TLSv1.2\n",
    "data/conf/dovecot/extra.conf": "ssl_min_protocol = TLSv1.2\n",
    "data/conf/rspamd/local.d/dkim_signing.conf": "allow_username_mismatch = true;\n",
    "data/conf/rspamd/override.d/worker-controller-password.inc": 'enable_password = "$2$lab";\n',
    "data/assets/ssl/key.pem": tlsKey,
    "data/assets/ssl/acme/key.pem": tlsKey,
    "data/assets/ssl/cert.pem": "-----BEGIN CERTIFICATE-----\nlab\n-----END CERTIFICATE-----\n",
  };
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(root, path, ".."), { recursive: true });
    writeFileSync(join(root, path), content, { mode: path.endsWith("key.pem") ? 0o600 : 0o644 });
  }
  mkdirSync(join(root, "helper-scripts"), { recursive: true });
  cpSync(
    join(__dirname, "lab-fixtures", "backup_and_restore.sh"),
    join(root, "helper-scripts", "backup_and_restore.sh"),
  );
  chmodSync(join(root, "helper-scripts", "backup_and_restore.sh"), 0o755);

  for (const user of ["alice", "bob"]) {
    const maildir = join(volumeRoot, "vmail", "example.org", user, "Maildir");
    for (const sub of ["cur", "new", "tmp", ".Sent/cur", ".Sent/new", ".Sent/tmp"]) {
      mkdirSync(join(maildir, sub), { recursive: true });
    }
    for (let index = 0; index < 400; index++) {
      const name = `${1767225600 + index}.M${index}P${index}.mail,S=${20000 + index}:2,S`;
      const folder = index % 4 === 0 ? ".Sent/cur" : "cur";
      writeFileSync(join(maildir, folder, name), mail(index, randomBytes(15_000).toString("base64")));
    }
    writeFileSync(join(maildir, "dovecot-uidlist"), "3 V1767225600 N401\n");
  }
  const volumeFiles: Record<string, Buffer | string> = {
    "crypt/ecprivkey.pem": generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({
      type: "pkcs8",
      format: "pem",
    }),
    "redis/dump.rdb": Buffer.concat([Buffer.from("REDIS0011"), randomBytes(200_000)]),
    "rspamd/rspamd.history": randomBytes(50_000),
    "postfix/sasl_passwd.db": randomBytes(4_096),
    "mysql/mailcow.sql": Array.from(
      { length: 3000 },
      (_, i) => `INSERT INTO mailbox VALUES ('user${i}@example.org','${randomBytes(16).toString("hex")}');`,
    ).join("\n"),
  };
  for (const [path, content] of Object.entries(volumeFiles)) {
    mkdirSync(join(volumeRoot, path, ".."), { recursive: true });
    writeFileSync(join(volumeRoot, path), content);
  }
}

function installTools(): void {
  mkdirSync(bin, { recursive: true });
  writeFileSync(join(bin, "mailstack-backup"), backupTool(), { mode: 0o755 });
  writeFileSync(join(bin, "mailstack-restore"), restoreTool(), { mode: 0o755 });
}

const rsaKeyPem = () =>
  generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ type: "pkcs8", format: "pem" }).toString();
const tlsKey = rsaKeyPem();
let smtpPort = 0;

beforeAll(async () => {
  requireTool("restic");
  requireTool("curl");
  mkdirSync(join(dir, "etc"), { recursive: true });
  buildMailcow(mailcowDir, volumes, tlsKey);
  installTools();
  smtpPort = await freePort();
  // Postfix's processes and its delivery agent (as nobody) must be able to enter the lab.
  chmodSync(dir, 0o755);
  mkdirSync(join(dir, "postfix-run"));
  const mailRoot = join(dir, "mail");
  mkdirSync(mailRoot, { recursive: true });
  chmodSync(mailRoot, 0o755);
  await runCommand("chown", ["nobody:nogroup", mailRoot]);
  const postfix = await startPostfix(join(dir, "postfix-run"), smtpPort, [
    "virtual_mailbox_domains=example.org",
    `virtual_mailbox_base=${mailRoot}`,
    "virtual_mailbox_maps=static:inbox/",
    "virtual_uid_maps=static:65534",
    "virtual_gid_maps=static:65534",
    "virtual_minimum_uid=100",
  ]);
  stopPostfix = postfix.stop;
  config = configure(input({ smtpPort }), "main");
});

afterAll(async () => {
  await stopPostfix?.();
  rmSync(dir, { recursive: true, force: true });
});

const seenMail = new Set<string>();

/** The next message Postfix delivered to the inbox. */
function nextMail(what: string): Promise<string> {
  return waitFor(what, () => {
    const fresh = (existsSync(inbox) ? readdirSync(inbox) : []).find((name) => !seenMail.has(name));
    if (fresh === undefined) return undefined;
    seenMail.add(fresh);
    return readFileSync(join(inbox, fresh), "utf8");
  });
}

const backupAt = (day: string, env: NodeJS.ProcessEnv = {}) =>
  tool("mailstack-backup", ["run"], { MAILSTACK_BACKUP_TIME: `${day} 03:30:00`, ...env });

describe("mailstack-backup and mailstack-restore against a real restic repository", () => {
  it("creates the repository on first use and backs up mailcow's archives with the TLS key, data/conf and mailcow.conf", async () => {
    expect(existsSync(repository)).toBe(false);
    const run = await backupAt("2026-01-01");
    expect(run.status, run.stderr + run.stdout).toBe(0);
    expect(existsSync(join(repository, "config"))).toBe(true);
    expect(readFileSync(callLog, "utf8")).toMatch(
      new RegExp(`^backup all location=${dir}/staging/mailcow cwd=${mailcowDir}$`, "m"),
    );
    const state = status();
    expect(state).toMatchObject({ backup_last_result: "success", backup_last_error: "" });
    expect(state.backup_last_snapshot).toMatch(/^[0-9a-f]{8,64}$/);
    expect(Number(state.backup_last_added_bytes)).toBeGreaterThan(3_000_000);
    // The staging copy (with the database) does not stay on the host.
    expect(readdirSync(join(dir, "staging"))).toEqual([]);
    expect(statSync(join(dir, "staging")).mode & 0o777).toBe(0o700);
    // What the snapshot holds.
    const ls = await restic(["ls", "latest", "--host", HOST]);
    expect(ls.stdout).toContain(`${mailcowDir}/data/assets/ssl/key.pem`);
    expect(ls.stdout).toContain(`${mailcowDir}/data/conf/postfix/extra.cf`);
    expect(ls.stdout).toContain(`${mailcowDir}/mailcow.conf`);
    expect(ls.stdout).toContain(`${mailcowDir}/docker-compose.override.yml`);
    expect(ls.stdout).toMatch(/\/staging\/mailcow\/mailcow-[0-9-]+\/backup_vmail\.tar\.gz/);
    // The PBS key travels with every snapshot: the VM backups on PBS stay restorable without the node.
    const key = await restic(["dump", "latest", join(dir, "etc", "pbs-encryption-key.json"), "--host", HOST]);
    expect(key.stdout).toBe(`${PBS_KEY}\n`);
  });

  it("restores into an empty directory byte for byte: mail, database, redis, TLS key, data/conf, mailcow.conf", async () => {
    const target = join(dir, "restore-rehearsal");
    const run = await tool("mailstack-restore", ["--snapshot", "latest", "--target", target]);
    expect(run.status, run.stderr + run.stdout).toBe(0);
    expect(run.stdout).toMatch(/snapshot verified: mailcow backup mailcow-[0-9-]+ \(mailcow unknown\)/);
    expect(run.stdout).toContain("rehearsal complete");

    const saved = join(target, mailcowDir);
    for (const part of ["data/conf", "data/assets/ssl"]) {
      expect(tree(join(saved, part)), part).toEqual(tree(join(mailcowDir, part)));
    }
    for (const file of ["mailcow.conf", "docker-compose.override.yml", "data/assets/ssl/key.pem"]) {
      expect(readFileSync(join(saved, file)).equals(readFileSync(join(mailcowDir, file))), file).toBe(true);
    }
    // Unpack mailcow's archives the way its restore does and compare with the volumes.
    const runDir = readdirSync(join(target, dir, "staging", "mailcow"))[0] ?? "";
    const unpacked = join(dir, "unpacked");
    mkdirSync(unpacked);
    for (const dataset of ["vmail", "crypt", "redis", "rspamd", "postfix", "mariadb"]) {
      const archive = join(target, dir, "staging", "mailcow", runDir, `backup_${dataset}.tar.gz`);
      expect((await runCommand("tar", ["-C", unpacked, "-xzf", archive])).status, dataset).toBe(0);
    }
    expect(tree(unpacked)).toEqual(tree(volumes));
    expect(tree(unpacked).size).toBeGreaterThan(800);
  });

  it("deduplicates: an unchanged mailcow adds almost nothing, new mail does not upload everything again", async () => {
    const first = Number(status().backup_last_added_bytes);
    const unchanged = await backupAt("2026-01-02");
    expect(unchanged.status, unchanged.stderr).toBe(0);
    const second = Number(status().backup_last_added_bytes);
    expect(second).toBeLessThan(first * 0.05);

    const maildir = join(volumes, "vmail", "example.org", "alice", "Maildir", "new");
    for (let index = 0; index < 5; index++) {
      writeFileSync(
        join(maildir, `1767312000.M${index}.mail:2,`),
        mail(1000 + index, randomBytes(15_000).toString("base64")),
      );
    }
    const withNewMail = await backupAt("2026-01-03");
    expect(withNewMail.status, withNewMail.stderr).toBe(0);
    const third = Number(status().backup_last_added_bytes);
    expect(third).toBeGreaterThan(5 * 15_000);
    // restic splits the changed mail archive into content-defined chunks (0.5–8 MiB): around the
    // new mail a few chunks are new, the rest of the archive is reused. How many depends on the
    // repository's random chunker polynomial (1.7–7.7 MB of 12 MB in trials), so the bound is
    // "not a full upload"; the restore tests prove the new mail is in the snapshot.
    expect(third).toBeLessThan(first * 0.9);
  });

  it("applies the retention from the settings: 3 daily, 2 weekly, 1 monthly snapshots", async () => {
    for (const day of ["2026-01-08", "2026-01-09", "2026-01-10"]) {
      const run = await backupAt(day);
      expect(run.status, run.stderr).toBe(0);
    }
    // Daily: Jan 10, 9, 8. Weekly (ISO weeks): Jan 10 (week 2) and Jan 3 (week 1). Monthly: Jan 10.
    expect(await snapshotTimes()).toEqual(["2026-01-03", "2026-01-08", "2026-01-09", "2026-01-10"]);
    const check = await restic(["check"]);
    expect(check.status, check.stderr).toBe(0);
  });

  it("reports a healthy status to monitoring", async () => {
    const run = await tool("mailstack-backup", ["status"]);
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^backup_last_result=success$/m);
  });

  it("restores a chosen snapshot into a fresh mailcow with --apply: TLS key and data/conf back, mailcow's restore of all datasets", async () => {
    const freshDir = join(dir, "fresh", "opt", "mailcow-dockerized");
    const freshVolumes = join(dir, "fresh", "volumes");
    buildMailcow(freshDir, join(dir, "fresh", "empty-volumes"), rsaKeyPem());
    rmSync(join(freshDir, "data", "conf", "rspamd"), { recursive: true });
    const snapshots = JSON.parse((await restic(["snapshots", "--json", "--host", HOST])).stdout) as {
      id: string;
      time: string;
    }[];
    const chosen = snapshots.find((s) => s.time.startsWith("2026-01-08"));
    if (!chosen) throw new Error("no snapshot of 2026-01-08");

    const freshConfig = configure(input({ smtpPort, mailcowDir: freshDir }), "fresh");
    const run = await tool(
      "mailstack-restore",
      ["--snapshot", chosen.id.slice(0, 8), "--target", join(dir, "restore-apply"), "--apply"],
      {
        MAILSTACK_BACKUP_CONFIG: freshConfig,
        LAB_RESTORED_VOLUMES: freshVolumes,
      },
    );
    expect(run.status, run.stderr + run.stdout).toBe(0);
    // The DANE key is the backed-up one again, and data/conf is complete.
    expect(readFileSync(join(freshDir, "data/assets/ssl/key.pem"), "utf8")).toBe(tlsKey);
    expect(tree(join(freshDir, "data", "conf"))).toEqual(tree(join(mailcowDir, "data", "conf")));
    // mailcow's restore ran once, non-interactively: restore point 1, all datasets (0).
    const calls = readFileSync(callLog, "utf8").split("\n");
    expect(calls).toContain("answers point=1 dataset=0");
    expect(calls.find((line) => line.startsWith("restore "))).toMatch(
      new RegExp(`^restore location=${join(dir, "restore-apply")}.*/staging/mailcow cwd=${freshDir}$`),
    );
    // The "volumes" it unpacked are the mail as of Jan 8: everything, including the mail of Jan 3.
    expect(tree(freshVolumes)).toEqual(tree(volumes));
  });

  it("node-loss drill: a fresh VM from the plan's host files, then the off-site restore brings mail, database and DANE key back", async () => {
    // What `pulumi up` writes on a rebuilt VM (README, "Node-loss drill"): every file the plan
    // shows under files/mailcow-vm/, rendered with the secrets and TLS key the stack holds, laid
    // out in an empty root. mailcow's own checkout (its helper scripts) comes from the release
    // step's git clone; the lab puts its stand-in for backup_and_restore.sh there.
    const root = join(dir, "plan-vm");
    const planned = renderedFiles(
      mailHostInput({ hostname: HOST }),
      { ...MAILCOW_SECRETS, adminSudoPassword: "sudo-lab" },
      tlsKey,
      {
        vm: "mailcow-vm",
        node: "pve",
        snippets: {
          userData: "/var/lib/vz/snippets/user-data.yaml",
          networkConfig: "/var/lib/vz/snippets/network.yaml",
        },
      },
    ).filter((file) => file.host === "mailcow-vm");
    for (const file of planned) {
      mkdirSync(join(root, file.path, ".."), { recursive: true });
      writeFileSync(join(root, file.path), file.content, { mode: file.path.endsWith(".pem") ? 0o600 : 0o644 });
    }
    const freshDir = join(root, "opt", "mailcow-dockerized");
    const inMailcow = (path: string) => path.startsWith("/opt/mailcow-dockerized/");
    // The plan has the pieces the restore relies on: mailcow.conf and the stack's TLS key.
    expect(readFileSync(join(freshDir, "mailcow.conf"), "utf8")).toContain("DBPASS=dbpass-lab");
    expect(readFileSync(join(freshDir, "data/assets/ssl/key.pem"), "utf8")).toBe(tlsKey);
    mkdirSync(join(freshDir, "helper-scripts"), { recursive: true });
    cpSync(
      join(__dirname, "lab-fixtures", "backup_and_restore.sh"),
      join(freshDir, "helper-scripts", "backup_and_restore.sh"),
    );
    chmodSync(join(freshDir, "helper-scripts", "backup_and_restore.sh"), 0o755);
    const plannedConf = readFileSync(join(freshDir, "mailcow.conf"), "utf8");

    const freshVolumes = join(root, "volumes");
    const freshConfig = configure(input({ smtpPort, mailcowDir: freshDir }), "plan-vm");
    const run = await tool(
      "mailstack-restore",
      ["--snapshot", "latest", "--target", join(dir, "restore-plan-vm"), "--apply"],
      {
        MAILSTACK_BACKUP_CONFIG: freshConfig,
        LAB_RESTORED_VOLUMES: freshVolumes,
      },
    );
    expect(run.status, run.stderr + run.stdout).toBe(0);
    // Mail, database, redis, rspamd, postfix and crypt as of the latest backup, byte for byte.
    expect(tree(freshVolumes)).toEqual(tree(volumes));
    // The DANE key is the one the TLSA record pins (the stack's, and the backup's).
    expect(readFileSync(join(freshDir, "data/assets/ssl/key.pem"), "utf8")).toBe(tlsKey);
    // mailcow.conf stays the plan's (its secrets are the ones in the stack's state).
    expect(readFileSync(join(freshDir, "mailcow.conf"), "utf8")).toBe(plannedConf);
    // data/conf is the backup's: every backed-up file is back, the plan's others are kept.
    const restoredConf = tree(join(freshDir, "data", "conf"));
    for (const [path, entry] of tree(join(mailcowDir, "data", "conf")))
      expect(restoredConf.get(path), path).toBe(entry);
    for (const file of planned.filter((f) => inMailcow(f.path) && f.path.includes("/data/conf/"))) {
      const relativePath = file.path.replace("/opt/mailcow-dockerized/data/conf/", "");
      if (!existsSync(join(mailcowDir, "data", "conf", relativePath)))
        expect(readFileSync(join(freshDir, "data", "conf", relativePath), "utf8"), relativePath).toBe(file.content);
    }
  });

  it("refuses a non-empty target and a malformed snapshot id", async () => {
    const taken = await tool("mailstack-restore", ["--target", join(dir, "restore-rehearsal")]);
    expect(taken.status).toBe(1);
    expect(taken.stderr).toMatch(/is not empty; choose another --target/);
    const bad = await tool("mailstack-restore", ["--snapshot", "yesterday; rm -rf /"]);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/--snapshot takes latest or a snapshot id/);
  });

  it("fails loudly when mailcow's backup misses a dataset: exit 1, journal, status, mail; the last success stays", async () => {
    const before = status();
    const snapshotsBefore = await snapshotTimes();
    const run = await backupAt("2026-01-11", { LAB_BREAK: "vmail" });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/FAILED while checking mailcow's backup .*has no vmail archive/);
    const after = status();
    expect(after.backup_last_result).toBe("failure");
    expect(after.backup_last_error).toMatch(/no vmail archive/);
    expect(after.backup_last_success).toBe(before.backup_last_success);
    expect(await snapshotTimes()).toEqual(snapshotsBefore);
    const health = await tool("mailstack-backup", ["status"]);
    expect(health.status).toBe(1);
    expect(health.stderr).toMatch(/the last backup failed/);

    const delivered = await nextMail("the failure mail");
    expect(delivered).toMatch(/^Subject: \[mailstack\] mail\.example\.org: backup run FAILED$/m);
    expect(delivered).toMatch(/^To: postmaster@example\.org/m);
    expect(delivered).toContain("no vmail archive");
  });

  it("refuses to open the repository with a wrong password, and says so by mail", async () => {
    const configBefore = readFileSync(join(repository, "config"));
    const wrong = configure(input({ smtpPort, name: "wrong" }), "wrong", "not-the-password");
    const run = await tool("mailstack-backup", ["init"], { MAILSTACK_BACKUP_CONFIG: wrong });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/cannot open .*repository: check the repository password and the S3 credentials/);
    expect(readFileSync(join(repository, "config")).equals(configBefore)).toBe(true);
    expect(await nextMail("the init failure mail")).toMatch(
      /^Subject: \[mailstack\] mail\.example\.org: backup init FAILED$/m,
    );
    const missing = await tool("mailstack-backup", ["run"], {
      MAILSTACK_BACKUP_CONFIG: join(dir, "etc", "nothing.conf"),
    });
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/cannot read .*nothing\.conf/);
  });

  it("detects a corrupted pack file: restic check and mailstack-backup check fail, the failure is mailed", async () => {
    const healthy = await tool("mailstack-backup", ["check"]);
    expect(healthy.status, healthy.stderr).toBe(0);
    expect(status().check_last_result).toBe("success");

    const packs = readdirSync(join(repository, "data"), { recursive: true, withFileTypes: true })
      .filter((entry) => entry.isFile())
      .map((entry) => join(entry.parentPath, entry.name))
      .sort((a, b) => statSync(b).size - statSync(a).size);
    const pack = packs[0] ?? "";
    chmodSync(pack, 0o600);
    const bytes = readFileSync(pack);
    bytes.fill(0x42, Math.floor(bytes.length / 2), Math.floor(bytes.length / 2) + 64);
    writeFileSync(pack, bytes);

    expect((await restic(["check", "--read-data"])).status).not.toBe(0);
    const run = await tool("mailstack-backup", ["check"]);
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/FAILED while checking the repository/);
    expect(status()).toMatchObject({ check_last_result: "failure" });
    expect((await tool("mailstack-backup", ["status"])).stderr).toMatch(/the last repository check failed/);
    const delivered = await nextMail("the check failure mail");
    expect(delivered).toMatch(/^Subject: \[mailstack\] mail\.example\.org: backup check FAILED$/m);
  });
});
