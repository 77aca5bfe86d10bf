// The Proxmox VE dynamic provider (PBS storage with the stack's key, backup jobs) against a fake
// PVE API on loopback that follows the upstream Perl code (test/fakes/pve.ts; one server per file).
import { randomBytes } from "node:crypto";
import { Struct } from "../common/sdk-internals";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { PveConnection } from "../providers/proxmox/client";
import { backupJobProvider, type BackupJobInputs, type BackupJobOutputs } from "../providers/proxmox/jobs";
import { pbsStorageProvider, type PbsStorageInputs, type PbsStorageOutputs } from "../providers/proxmox/storage";
import { pbsKeyFile, pbsKeyFileFingerprint } from "../render/pbs-key";
import { loopbackCertificate, type TestCertificate } from "./fakes/https";
import { FakePve } from "./fakes/pve";
import { rejection, runRevived, serializeProviders } from "./tools";

const TOKEN_ID = "mailstack@pve!deploy";
const TOKEN_SECRET = "5f0c7d3e-9a41-4b8e-a2d6-1c9e8f7b6a54";
const TOKEN = `${TOKEN_ID}=${TOKEN_SECRET}`;
const PBS_USER = "mailstack@pbs";
const PBS_PASSWORD = "pbs-Password-0815-secret";
const PBS_CERT = Array.from({ length: 32 }, (_, i) => (i * 7 + 3).toString(16).padStart(2, "0").toUpperCase()).join(
  ":",
);
const KEY = pbsKeyFile(randomBytes(32).toString("base64"));
const OTHER_KEY = pbsKeyFile(randomBytes(32).toString("base64"));
const ID = "pbs-mailcow-prod";

/** What the token needs (see providers/proxmox/): Datastore.Allocate on /storage, Sys.Audit and Sys.Modify on / only. */
const GRANTS = [
  { path: "/storage", privs: ["Datastore.Allocate"] },
  { path: "/", privs: ["Sys.Audit", "Sys.Modify"], propagate: false },
];

let certificate: TestCertificate;
let fake: FakePve;
let connection: PveConnection;

beforeAll(async () => {
  certificate = await loopbackCertificate();
  fake = new FakePve(certificate);
  await fake.api.start();
  connection = fake.api.connection(TOKEN);
});
afterAll(() => fake.api.stop());
beforeEach(() => {
  fake.reset();
  fake.addToken(TOKEN_ID, TOKEN_SECRET, GRANTS);
  fake.pbs.certificateFingerprint = PBS_CERT;
  fake.pbs.datastores = ["store1"];
  fake.pbs.users.set(PBS_USER, PBS_PASSWORD);
});

const storageInputs = (overrides: Partial<PbsStorageInputs> = {}): PbsStorageInputs => ({
  connection,
  storage: ID,
  server: "pbs.example.org",
  datastore: "store1",
  username: PBS_USER,
  password: PBS_PASSWORD,
  fingerprint: PBS_CERT.toLowerCase(),
  nodes: ["pve"],
  encryptionKey: KEY,
  ...overrides,
});

const jobInputs = (overrides: Partial<BackupJobInputs> = {}): BackupJobInputs => ({
  connection,
  jobId: "mailstack-mail",
  schedule: "*-*-* 02:00",
  storage: ID,
  vmids: [100],
  mode: "snapshot",
  compress: "zstd",
  pruneBackups: { "keep-daily": 7, "keep-weekly": 4 },
  mailNotification: "failure",
  mailTo: ["ops@example.org"],
  enabled: true,
  repeatMissed: true,
  notesTemplate: "{{guestname}} (mailstack)",
  comment: "mailstack prod: managed by Pulumi",
  ...overrides,
});

async function createStorage(inputs = storageInputs()): Promise<PbsStorageOutputs> {
  const { outs } = await pbsStorageProvider.create(inputs);
  if (!outs) throw new Error("no outputs");
  return outs;
}

async function createJob(inputs = jobInputs()): Promise<BackupJobOutputs> {
  const { outs } = await backupJobProvider.create(inputs);
  if (!outs) throw new Error("no outputs");
  return outs;
}

async function refreshStorage(outs: PbsStorageOutputs): Promise<PbsStorageOutputs> {
  const read = await pbsStorageProvider.read?.(ID, outs);
  if (!read?.props) throw new Error("storage gone");
  return read.props;
}

const writes = () =>
  fake.api.writes().map((request) => ({ method: request.method, path: request.path, body: request.body }));
const keyFile = () => fake.files.get(FakePve.keyFile(ID));
const passwordFile = () => fake.files.get(FakePve.passwordFile(ID));

describe("PvePbsStorage", () => {
  it("creates the storage with the stack's key, reads it back unchanged, updates a field in place and deletes it", async () => {
    const outs = await createStorage();
    expect(fake.storages.get(ID)).toMatchObject({
      type: "pbs",
      server: "pbs.example.org",
      datastore: "store1",
      username: PBS_USER,
      content: ["backup"],
      nodes: ["pve"],
      // storage.cfg holds the key's fingerprint (PBSPlugin.pm on_add_hook), the files the secrets.
      "encryption-key": pbsKeyFileFingerprint(KEY),
    });
    expect(keyFile()).toBe(`${KEY}\n`);
    expect(passwordFile()).toBe(`${PBS_PASSWORD}\n`);
    expect(outs.keyFingerprint).toBe(pbsKeyFileFingerprint(KEY));

    const read = await refreshStorage(outs);
    expect((await pbsStorageProvider.diff?.(ID, read, storageInputs()))?.changes).toBe(false);

    fake.api.requests.length = 0;
    const news = storageInputs({ nodes: ["pve", "pve2"], pruneBackups: { "keep-daily": 3 } });
    expect(await pbsStorageProvider.diff?.(ID, read, news)).toMatchObject({ changes: true, replaces: [] });
    await pbsStorageProvider.update?.(ID, read, news);
    expect(writes()).toEqual([
      { method: "PUT", path: `/api2/json/storage/${ID}`, body: { nodes: "pve,pve2", "prune-backups": "keep-daily=3" } },
    ]);
    // PVE prints nodes in hash order; the refresh compares them as a set.
    const updated = await refreshStorage(outs);
    expect((await pbsStorageProvider.diff?.(ID, updated, news))?.changes).toBe(false);

    await pbsStorageProvider.delete?.(ID, updated);
    expect(fake.storages.has(ID)).toBe(false);
    expect(keyFile()).toBeUndefined();
    expect(passwordFile()).toBeUndefined();
    expect(await pbsStorageProvider.read?.(ID, updated)).toEqual({});
  });

  it("rotates the PBS password in place: one PUT with the password, the key file untouched", async () => {
    const outs = await refreshStorage(await createStorage());
    const keyBefore = keyFile();
    const news = storageInputs({ password: "rotated-Password-4711-secret" });
    fake.pbs.users.set(PBS_USER, news.password);
    const diff = await pbsStorageProvider.diff?.(ID, outs, news);
    expect(diff).toMatchObject({ changes: true, replaces: [] });
    fake.api.requests.length = 0;
    const { outs: after } = (await pbsStorageProvider.update?.(ID, outs, news)) ?? {};
    expect(writes()).toEqual([
      { method: "PUT", path: `/api2/json/storage/${ID}`, body: { password: "rotated-Password-4711-secret" } },
    ]);
    expect(passwordFile()).toBe("rotated-Password-4711-secret\n");
    expect(keyFile()).toBe(keyBefore);
    expect(fake.storages.get(ID)?.["encryption-key"]).toBe(pbsKeyFileFingerprint(KEY));
    expect(after?.keyFingerprint).toBe(pbsKeyFileFingerprint(KEY));
  });

  it("detects drift on refresh and puts it back, the stack's key included", async () => {
    const outs = await createStorage();
    const section = fake.storages.get(ID);
    if (!section) throw new Error("no storage");
    section.nodes = ["pve", "other"];
    section.fingerprint = "00:".repeat(31) + "00";
    section.disable = 1;
    // Someone set another key in the UI: .enc and storage.cfg follow it (on_update_hook).
    fake.files.set(FakePve.keyFile(ID), `${OTHER_KEY}\n`);
    section["encryption-key"] = pbsKeyFileFingerprint(OTHER_KEY);

    const read = await refreshStorage(outs);
    expect(read).toMatchObject({
      nodes: ["other", "pve"],
      disabled: true,
      keyFingerprint: pbsKeyFileFingerprint(OTHER_KEY),
    });
    expect(await pbsStorageProvider.diff?.(ID, read, storageInputs())).toMatchObject({ changes: true, replaces: [] });

    fake.api.requests.length = 0;
    await pbsStorageProvider.update?.(ID, read, storageInputs());
    expect(writes()).toEqual([
      {
        method: "PUT",
        path: `/api2/json/storage/${ID}`,
        body: { fingerprint: PBS_CERT.toLowerCase(), nodes: "pve", "encryption-key": KEY, delete: "disable" },
      },
    ]);
    expect(keyFile()).toBe(`${KEY}\n`);
    const again = await refreshStorage(read);
    expect((await pbsStorageProvider.diff?.(ID, again, storageInputs()))?.changes).toBe(false);
  });

  it("replaces only for what PVE cannot change in place: id, server, datastore (same id: delete first)", async () => {
    const outs = await createStorage();
    const diff = (overrides: Partial<PbsStorageInputs>) =>
      pbsStorageProvider.diff?.(ID, outs, storageInputs(overrides));
    expect(await diff({ server: "pbs2.example.org" })).toMatchObject({
      replaces: ["server"],
      deleteBeforeReplace: true,
    });
    expect(await diff({ datastore: "store2" })).toMatchObject({ replaces: ["datastore"], deleteBeforeReplace: true });
    expect(await diff({ storage: "pbs-mailcow-new" })).toMatchObject({
      replaces: ["storage"],
      deleteBeforeReplace: false,
    });
    for (const overrides of [{ namespace: "mail" }, { username: "other@pbs" }, { port: 8008 }, { nodes: [] }]) {
      expect(await diff(overrides)).toMatchObject({ changes: true, replaces: [] });
    }
  });

  it("refuses a changed key unless rotation is allowed, then rotates it in place", async () => {
    const outs = await createStorage();
    const check = await pbsStorageProvider.check?.(storageInputs(), storageInputs({ encryptionKey: OTHER_KEY }));
    const reason = check?.failures?.find((failure) => failure.property === "encryptionKey")?.reason ?? "";
    expect(reason).toMatch(/would change .*only be restored with the old key.*allowKeyRotation/);
    expect(reason).not.toContain((JSON.parse(KEY) as { data: string }).data);
    expect(
      (await rejection(pbsStorageProvider.update?.(ID, outs, storageInputs({ encryptionKey: OTHER_KEY })))).message,
    ).toMatch(/allowKeyRotation/);
    expect(keyFile()).toBe(`${KEY}\n`);

    const rotate = storageInputs({ encryptionKey: OTHER_KEY, allowKeyRotation: true });
    expect((await pbsStorageProvider.check?.(storageInputs(), rotate))?.failures).toEqual([]);
    expect(await pbsStorageProvider.diff?.(ID, outs, rotate)).toMatchObject({ changes: true, replaces: [] });
    await pbsStorageProvider.update?.(ID, outs, rotate);
    expect(keyFile()).toBe(`${OTHER_KEY}\n`);
    expect(fake.storages.get(ID)?.["encryption-key"]).toBe(pbsKeyFileFingerprint(OTHER_KEY));
  });

  it("refuses a storage with its id that the stack did not make, and adopts its own leftover", async () => {
    fake.storages.set(ID, {
      type: "pbs",
      server: "elsewhere",
      datastore: "x",
      content: ["backup"],
      "encryption-key": 1,
    });
    const error = await rejection(pbsStorageProvider.create(storageInputs()));
    expect(error.message).toMatch(
      new RegExp(
        `PVE already has a storage "${ID}" that this stack did not create .*mailstack:backup\\.pbs\\.storageId.*pvesm remove ${ID}`,
      ),
    );
    expect(writes()).toEqual([]);

    // A run that died after PVE created the storage: same key, so it is ours.
    fake.storages.set(ID, {
      type: "pbs",
      server: "pbs.example.org",
      datastore: "store1",
      content: ["backup"],
      "encryption-key": pbsKeyFileFingerprint(KEY),
    });
    fake.files.set(FakePve.keyFile(ID), `${KEY}\n`);
    await createStorage();
    expect(writes().map((write) => write.method)).toEqual(["PUT"]);
    expect(fake.storages.get(ID)).toMatchObject({
      username: PBS_USER,
      nodes: ["pve"],
      fingerprint: PBS_CERT.toLowerCase(),
    });
    expect(passwordFile()).toBe(`${PBS_PASSWORD}\n`);
  });

  it("creates once when the answer to the POST is lost", async () => {
    fake.api.inject("lost", 1, (request) => request.method === "POST");
    await createStorage();
    expect(writes().filter((write) => write.method === "POST")).toHaveLength(1);
    expect(fake.storages.get(ID)?.["encryption-key"]).toBe(pbsKeyFileFingerprint(KEY));
  });

  it("reports PVE's own error once, with the fix, when PVE cannot log in to the PBS (nothing is left behind)", async () => {
    fake.pbs.users.set(PBS_USER, "another password");
    const login = await rejection(pbsStorageProvider.create(storageInputs()));
    expect(login.message).toMatch(
      /create storage failed: pbs-mailcow-prod: error fetching datastores - 401 Unauthorized/,
    );
    expect(login.message).toMatch(/pbsPassword/);
    // A PVE answer is final: the failed create was not sent again.
    expect(writes().filter((write) => write.method === "POST")).toHaveLength(1);
    expect(fake.storages.has(ID)).toBe(false);
    expect(keyFile()).toBeUndefined();
    expect(passwordFile()).toBeUndefined();

    fake.pbs.users.set(PBS_USER, PBS_PASSWORD);
    const pinned = await rejection(pbsStorageProvider.create(storageInputs({ fingerprint: "AB:".repeat(31) + "AB" })));
    expect(pinned.message).toMatch(/fingerprint '[0-9A-F:]+' not verified, abort!.*mailstack:backup\.pbs\.fingerprint/);
    const datastore = await rejection(pbsStorageProvider.create(storageInputs({ datastore: "nope" })));
    expect(datastore.message).toMatch(/Cannot find datastore 'nope'.*mailstack:backup\.pbs\.datastore/);
  });

  it("says what is wrong with the token without showing it, and which privilege is missing", async () => {
    const wrong = { ...connection, apiKey: `${TOKEN_ID}=00000000-0000-0000-0000-000000000000` };
    const error = await rejection(pbsStorageProvider.create(storageInputs({ connection: wrong })));
    expect(error.message).toMatch(
      /HTTP 401: Authentication failed!.*mailstack:proxmoxApiToken.*"mailstack@pve!deploy=<secret>"/,
    );
    expect(error.message).not.toContain("00000000-0000");
    expect(error.message).not.toContain(TOKEN_SECRET);
    expect(fake.authLog).toEqual(["invalid token value!"]);

    fake.acl.set(TOKEN_ID, [{ path: "/", privs: ["Sys.Audit", "Sys.Modify"], propagate: false }]);
    const denied = await rejection(pbsStorageProvider.create(storageInputs()));
    expect(denied.message).toMatch(
      /HTTP 403: Permission check failed \(\/storage\/pbs-mailcow-prod, Datastore\.Allocate\).*pveum acl modify \/storage --tokens 'mailstack@pve!deploy' --roles PVEDatastoreAdmin/,
    );
    expect(denied.message).not.toContain(TOKEN_SECRET);
  });

  it("works with an older PVE that puts its message only in the status line", async () => {
    fake.messageInBody = false;
    const outs = await createStorage();
    // A missing storage is still recognised (HTTP 500 "storage '<id>' does not exist").
    fake.storages.delete(ID);
    expect(await pbsStorageProvider.read?.(ID, outs)).toEqual({});
    fake.pbs.datastores = [];
    const error = await rejection(pbsStorageProvider.create(storageInputs()));
    expect(error.message).toMatch(/HTTP 500: create storage failed: pbs-mailcow-prod: Cannot find datastore 'store1'/);
  });

  it("tells an update of a storage that vanished to refresh", async () => {
    const outs = await createStorage();
    fake.storages.delete(ID);
    const error = await rejection(pbsStorageProvider.update?.(ID, outs, storageInputs({ password: "new-one-secret" })));
    expect(error.message).toMatch(/is gone; run `pulumi refresh`/);
  });

  it("checks its inputs without echoing secrets", async () => {
    const result = await pbsStorageProvider.check?.(
      {} as PbsStorageInputs,
      storageInputs({
        storage: "1bad",
        fingerprint: "nope",
        password: "two\nlines",
        encryptionKey: JSON.stringify({ kdf: null, data: "c2hvcnQ=" }),
        connection: { ...connection, apiKey: "not-a-token-secret" },
      }),
    );
    expect(result?.failures?.map((failure) => failure.property).sort()).toEqual([
      "connection",
      "encryptionKey",
      "fingerprint",
      "password",
      "storage",
    ]);
    const reasons = JSON.stringify(result?.failures);
    expect(reasons).not.toContain("not-a-token-secret");
    expect(reasons).not.toContain("two\\nlines");
    // Values not known yet (preview) are not judged.
    const unknown = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
    expect(
      (await pbsStorageProvider.check?.({} as PbsStorageInputs, storageInputs({ encryptionKey: unknown })))?.failures,
    ).toEqual([]);
  });
});

describe("reads on the real engine", () => {
  it("return state a protobuf Struct can carry: fields PVE does not have are absent, not undefined", async () => {
    // The engine's dynamic provider host sends a read's props as a Struct, which refuses undefined
    // (@pulumi/pulumi cmd/dynamic-provider read); the inputs leave out namespace, port and more.
    const storage = await refreshStorage(await createStorage(storageInputs({ pruneBackups: undefined })));
    const job = (
      await backupJobProvider.read?.("mailstack-mail", await createJob(jobInputs({ notesTemplate: undefined })))
    )?.props;
    for (const props of [storage, job]) {
      expect(Object.entries(props ?? {}).filter(([, value]) => value === undefined)).toEqual([]);
      expect(() => Struct.fromJavaScript(props as never)).not.toThrow();
    }
  });
});

describe("PveBackupJob", () => {
  beforeEach(async () => {
    await createStorage();
    fake.api.requests.length = 0;
  });

  it("creates, reads back unchanged, updates only what changed and deletes", async () => {
    const outs = await createJob();
    expect(fake.jobs.get("mailstack-mail")).toMatchObject({
      type: "vzdump",
      schedule: "*-*-* 02:00",
      storage: ID,
      vmid: "100",
      mode: "snapshot",
      compress: "zstd",
      "prune-backups": { "keep-daily": "7", "keep-weekly": "4" },
      mailnotification: "failure",
      mailto: "ops@example.org",
      enabled: 1,
      "repeat-missed": 1,
      comment: "mailstack prod: managed by Pulumi",
    });
    const read = await backupJobProvider.read?.("mailstack-mail", outs);
    expect(read?.props).toMatchObject({ vmids: [100], pruneBackups: { "keep-daily": 7, "keep-weekly": 4 } });
    expect(
      (await backupJobProvider.diff?.("mailstack-mail", read?.props as BackupJobOutputs, jobInputs()))?.changes,
    ).toBe(false);

    fake.api.requests.length = 0;
    const news = jobInputs({ schedule: "*-*-* 03:00", vmids: [101, 100], mailTo: undefined });
    expect(await backupJobProvider.diff?.("mailstack-mail", outs, news)).toMatchObject({ changes: true, replaces: [] });
    await backupJobProvider.update?.("mailstack-mail", outs, news);
    expect(writes()).toEqual([
      {
        method: "PUT",
        path: "/api2/json/cluster/backup/mailstack-mail",
        body: { schedule: "*-*-* 03:00", vmid: "100,101", delete: "mailto" },
      },
    ]);
    expect(fake.jobs.get("mailstack-mail")?.mailto).toBeUndefined();

    // notes-template `requires` storage in the same request (PVE answers 400 otherwise).
    await backupJobProvider.update?.("mailstack-mail", news, jobInputs({ ...news, notesTemplate: "{{vmid}}" }));
    expect(fake.jobs.get("mailstack-mail")?.["notes-template"]).toBe("{{vmid}}");

    expect(await backupJobProvider.diff?.("mailstack-mail", outs, jobInputs({ jobId: "other" }))).toMatchObject({
      replaces: ["jobId"],
    });
    await backupJobProvider.delete?.("mailstack-mail", outs);
    expect(fake.jobs.has("mailstack-mail")).toBe(false);
    expect(await backupJobProvider.read?.("mailstack-mail", outs)).toEqual({});
  });

  it("detects drift on refresh and puts it back", async () => {
    const outs = await createJob();
    const job = fake.jobs.get("mailstack-mail");
    if (!job) throw new Error("no job");
    job.enabled = 0;
    job["prune-backups"] = { "keep-last": "1" };
    delete job.mode;
    const read = (await backupJobProvider.read?.("mailstack-mail", outs))?.props as BackupJobOutputs;
    expect(read).toMatchObject({ enabled: false, pruneBackups: { "keep-last": 1 }, mode: "snapshot" });
    expect((await backupJobProvider.diff?.("mailstack-mail", read, jobInputs()))?.changes).toBe(true);
    fake.api.requests.length = 0;
    await backupJobProvider.update?.("mailstack-mail", read, jobInputs());
    expect(writes()).toEqual([
      {
        method: "PUT",
        path: "/api2/json/cluster/backup/mailstack-mail",
        body: { "prune-backups": "keep-daily=7,keep-weekly=4", enabled: 1 },
      },
    ]);
    const again = (await backupJobProvider.read?.("mailstack-mail", outs))?.props as BackupJobOutputs;
    expect((await backupJobProvider.diff?.("mailstack-mail", again, jobInputs()))?.changes).toBe(false);
  });

  it("refuses a job with its id and another comment, and adopts its own", async () => {
    fake.jobs.set("mailstack-mail", { type: "vzdump", schedule: "sun 01:00", all: 1, comment: "by hand" });
    const error = await rejection(backupJobProvider.create(jobInputs()));
    expect(error.message).toMatch(/PVE already has a backup job "mailstack-mail" that this stack did not create/);
    expect(fake.jobs.get("mailstack-mail")?.comment).toBe("by hand");

    fake.jobs.set("mailstack-mail", { type: "vzdump", schedule: "sun 01:00", all: 1, comment: jobInputs().comment });
    await createJob();
    expect(writes().map((write) => write.method)).toEqual(["PUT"]);
    expect(fake.jobs.get("mailstack-mail")).toMatchObject({ schedule: "*-*-* 02:00", vmid: "100" });
    expect(fake.jobs.get("mailstack-mail")?.all).toBeUndefined();
  });

  it("creates once when the answer to the POST is lost", async () => {
    fake.api.inject("lost", 1, (request) => request.method === "POST");
    await createJob();
    expect(writes().filter((write) => write.method === "POST")).toHaveLength(1);
    expect(fake.jobs.size).toBe(1);
  });

  it("names the missing privilege and the role to grant", async () => {
    fake.acl.set(TOKEN_ID, [
      { path: "/storage", privs: ["Datastore.Allocate"] },
      { path: "/", privs: ["Sys.Audit"], propagate: false },
    ]);
    const error = await rejection(createJob());
    expect(error.message).toMatch(/Permission check failed \(\/, Sys\.Modify\).*pveum role add MailstackBackup/);
    expect(error.message).not.toContain(TOKEN_SECRET);
  });

  it("survives a job that someone deleted (refresh forgets it, delete is a no-op)", async () => {
    const outs = await createJob();
    fake.jobs.delete("mailstack-mail");
    expect(await backupJobProvider.read?.("mailstack-mail", outs)).toEqual({});
    await backupJobProvider.delete?.("mailstack-mail", outs);
    const error = await rejection(
      backupJobProvider.update?.("mailstack-mail", outs, jobInputs({ schedule: "*-*-* 04:00" })),
    );
    expect(error.message).toMatch(/is gone; run `pulumi refresh`/);
  });
});

describe("serialization", () => {
  it("the provider survives Pulumi's serialization, captures no secret, and works when loaded back", async () => {
    // The probe goes on a command line: placeholders only.
    const placeholder = { ...connection, apiKey: "probe@pve!probe=placeholder" };
    const probe = {
      proxmoxProvider: { ...storageInputs({ connection: placeholder, password: "placeholder" }), kind: "pbsStorage" },
    };
    const [result] = (await serializeProviders(probe)).filter((r) => r.name === "proxmoxProvider");
    expect(result?.text).toContain("PVEAPIToken");
    expect(result?.text).not.toContain(TOKEN_SECRET);
    expect(result?.check).toMatchObject({ failures: [] });

    // The revived code against the fake: create, read, a password rotation, and errors that keep their message.
    const inputs = { ...storageInputs(), kind: "pbsStorage" };
    const results = await runRevived("proxmoxProvider", [
      { op: "create", news: inputs },
      { op: "read", id: ID, oldsFrom: 0 },
      { op: "create", news: { ...inputs, connection: { ...connection, apiKey: `${TOKEN_ID}=wrong` } } },
      // A create over an existing storage with the same key adopts it.
      { op: "create", news: inputs },
      { op: "update", id: ID, oldsFrom: 1, news: { ...inputs, password: "revived-secret" } },
    ]);
    expect(results[0]?.ok?.id).toBe(ID);
    expect(results[1]?.ok?.props).toMatchObject({ keyFingerprint: pbsKeyFileFingerprint(KEY), kind: "pbsStorage" });
    expect(results[2]?.error).toMatch(/HTTP 401: Authentication failed!.*mailstack:proxmoxApiToken/);
    expect(results[2]?.error).not.toContain(TOKEN_SECRET);
    expect(results[3]?.ok?.id).toBe(ID);
    expect(fake.storages.size).toBe(1);
    expect(results[4]?.ok).toBeDefined();
    expect(passwordFile()).toBe("revived-secret\n");
    expect(keyFile()).toBe(`${KEY}\n`);
    expect(results[2]?.name).toBe("RestError");
  });

  it("the revived provider runs a backup job's lifecycle, and knows PVE's answer for a job that is gone", async () => {
    await createStorage();
    const job = { ...jobInputs(), kind: "backupJob" };
    const later = { ...job, schedule: "*-*-* 04:00" };
    const results = await runRevived("proxmoxProvider", [
      { op: "check", olds: job, news: job },
      { op: "create", news: job },
      { op: "update", id: "mailstack-mail", oldsFrom: 1, news: later },
      { op: "read", id: "mailstack-mail", oldsFrom: 2 },
      { op: "delete", id: "mailstack-mail", oldsFrom: 2 },
      // PVE's error for the gone job is a RestError the revived code must still recognise.
      { op: "update", id: "mailstack-mail", oldsFrom: 2, news: job },
      { op: "delete", id: "mailstack-mail", oldsFrom: 2 },
    ]);
    expect(results.slice(0, 5).map((result) => result.error)).toEqual([
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
    expect(results[0]?.ok).toMatchObject({ failures: [] });
    expect(results[1]?.ok?.id).toBe("mailstack-mail");
    expect(results[3]?.ok?.props).toMatchObject({ kind: "backupJob", schedule: "*-*-* 04:00", vmids: [100] });
    expect(fake.jobs.has("mailstack-mail")).toBe(false);
    expect(results[5]?.error).toMatch(/PVE backup job "mailstack-mail" is gone; run `pulumi refresh`/);
    expect(results[6]).toEqual({ ok: null });
  });
});
