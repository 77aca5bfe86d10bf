// The real Pulumi engine (scripts/pulumi-toolchain.sh) runs the project's dynamic providers
// against the fake pfSense, mailcow and PVE APIs on loopback (test/engine-stack/): create,
// no-change, drift on refresh and its repair, day-2 changes (a network edit, a PBS password
// rotation) as in-place updates, a provider's error message, the policy pack, secrets in the
// state, the URNs the mock engine records, and a destroy that removes only our objects. The
// providers run in the real pulumi-resource-pulumi-nodejs plugin, serialized by the real engine.
// The steps share one stack and run in order; each `it` leaves the fakes as the next expects.
import { createPublicKey, generateKeyPair, randomBytes } from "node:crypto";
import { join } from "node:path";
import { promisify } from "node:util";
import { require as tsxRequire } from "tsx/cjs/api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type * as EngineModule from "../plan/engine";
import { pbsKeyFile, pbsKeyFileFingerprint } from "../render/pbs-key";
import { loopbackCertificate } from "./fakes/https";
import { FakeMailcow } from "./fakes/mailcow";
import { FakePfRest } from "./fakes/pfrest";
import { FakePve } from "./fakes/pve";
import type * as Program from "./engine-stack/program";
import { Engine, printed, root } from "./support/engine";

// Loaded by Node's CommonJS loader with tsx, as under the CLI (vitest's transform cannot be
// serialized into a dynamic provider).
const program = tsxRequire("./engine-stack/program", __filename) as typeof Program;
const mockEngine = tsxRequire("../plan/engine", __filename) as typeof EngineModule;
const { MARKERS, ALIAS_NAME, MAIL_HOST, CONFIG, PBS_STORAGE, BACKUP_JOB } = program;

let dir: string;
const PROJECT = "mailstack-engine-test";
const STACK = "engine";
const DOMAIN = "engine.example";
const key = (name: string) => `${PROJECT}:${name}`;
const PVE_TOKEN_ID = "mailstack@pve!engine";
const PBS_USER = "mailstack@pbs";
const PBS_CERT = Array.from({ length: 32 }, () => randomBytes(1).toString("hex").toUpperCase()).join(":");

const secrets = {
  pfsenseApiKey: `pfrest-${randomBytes(18).toString("hex")}`,
  mailcowApiKey: `mailcow-${randomBytes(18).toString("hex")}`,
  mailboxPassword: `pw-${randomBytes(18).toString("base64url")}`,
  adminPassword: `admin-${randomBytes(18).toString("base64url")}`,
  pveToken: `${PVE_TOKEN_ID}=${randomBytes(16).toString("hex")}`,
  pbsPassword: `pbs-${randomBytes(18).toString("base64url")}`,
  pbsKey: pbsKeyFile(randomBytes(32).toString("base64")),
  dkimPrivateKey: "",
};
/** The PBS password the day-2 step rotates to. */
const ROTATED_PBS_PASSWORD = `pbs-rotated-${randomBytes(18).toString("base64url")}`;

let engine: Engine;
let pfrest: FakePfRest;
let mailcow: FakeMailcow;
let pve: FakePve;
let config: Record<string, string>;

const pulumi = (args: string[], stack = STACK) => engine.pulumi(args, { cwd: dir, stack });
const pulumiOk = (args: string[], stack = STACK) => engine.pulumiOk(args, { cwd: dir, stack });

beforeAll(async () => {
  engine = await Engine.create();
  dir = engine.project(join(root, "test", "engine-stack"));
  const certificate = await loopbackCertificate();
  pfrest = new FakePfRest(certificate, secrets.pfsenseApiKey);
  mailcow = new FakeMailcow(certificate, secrets.mailcowApiKey);
  await pfrest.api.start();
  await mailcow.api.start();
  pve = new FakePve(certificate);
  await pve.api.start();
  // What providers/proxmox/ needs of the token, and a PBS that knows the stack's user.
  pve.addToken(PVE_TOKEN_ID, secrets.pveToken.slice(PVE_TOKEN_ID.length + 1), [
    { path: "/storage", privs: ["Datastore.Allocate"] },
    { path: "/", privs: ["Sys.Audit", "Sys.Modify"], propagate: false },
  ]);
  pve.pbs.certificateFingerprint = PBS_CERT;
  pve.pbs.datastores = ["store1"];
  pve.pbs.users.set(PBS_USER, secrets.pbsPassword);
  // A pfSense set up as the README says (the default LAN rules, nothing pending), and what others
  // made by hand, which the stack must never touch.
  pfrest.reset();
  pfrest.seed("alias", { name: "someone_else", type: "host", address: ["192.0.2.7"], descr: "made in the UI" });
  mailcow.domains.set("foreign.example", {
    domain: "foreign.example",
    description: "not the stack's",
    aliases: 10,
    mailboxes: 10,
    defquota: 1024,
    maxquota: 2048,
    quota: 4096,
    active: 1,
  });
  const { privateKey } = await promisify(generateKeyPair)("rsa", { modulusLength: 2048 });
  secrets.dkimPrivateKey = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  config = {
    [key(CONFIG.pfsenseEndpoint)]: pfrest.api.baseUrl,
    [key(CONFIG.pfsenseCa)]: certificate.cert,
    [key(CONFIG.mailcowEndpoint)]: mailcow.api.baseUrl,
    [key(CONFIG.mailcowCa)]: certificate.cert,
    [key(CONFIG.domain)]: DOMAIN,
    [key(CONFIG.pveEndpoint)]: pve.api.baseUrl,
    [key(CONFIG.pveCa)]: certificate.cert,
    [key(CONFIG.pbsUser)]: PBS_USER,
    [key(CONFIG.pbsFingerprint)]: PBS_CERT.toLowerCase(),
  };
  await engine.initStack(dir, STACK, config, {
    [key(CONFIG.pfsenseApiKey)]: secrets.pfsenseApiKey,
    [key(CONFIG.mailcowApiKey)]: secrets.mailcowApiKey,
    [key(CONFIG.mailboxPassword)]: secrets.mailboxPassword,
    [key(CONFIG.adminPassword)]: secrets.adminPassword,
    [key(CONFIG.pveToken)]: secrets.pveToken,
    [key(CONFIG.pbsPassword)]: secrets.pbsPassword,
    [key(CONFIG.pbsKey)]: secrets.pbsKey,
    [key(CONFIG.dkimPrivateKey)]: secrets.dkimPrivateKey,
  });
});

afterAll(async () => {
  await pfrest?.api.stop();
  await mailcow?.api.stop();
  await pve?.api.stop();
  engine?.dispose();
});

const spki = (pem: string) => createPublicKey(pem).export({ type: "spki", format: "der" }).toString("base64");

/** The fakes hold every object the stack declares, as declared. */
function expectDeclaredState(mailHost = MAIL_HOST, pbsPassword = secrets.pbsPassword): void {
  expect(pfrest.find("alias", MARKERS.alias)?.object).toMatchObject({ name: ALIAS_NAME, address: [mailHost] });
  expect(pfrest.find("rule", MARKERS.rule)?.object).toMatchObject({ destination: ALIAS_NAME, log: true });
  expect(pfrest.find("port_forward", MARKERS.forward)?.object).toMatchObject({ target: mailHost });
  // Applied: nothing pending, and pf runs our rule and forward.
  expect(pfrest.dirty.size).toBe(0);
  expect(pfrest.applied.rules.some((rule) => String(rule.descr).includes(MARKERS.rule))).toBe(true);
  expect(pfrest.applied.portForwards.some((forward) => String(forward.descr).includes(MARKERS.forward))).toBe(true);
  expect(mailcow.domains.get(DOMAIN)).toMatchObject({ domain: DOMAIN, maxquota: 2048 });
  expect(mailcow.mailboxes.get(`postmaster@${DOMAIN}`)).toMatchObject({ forceTfa: 1, name: "Postmaster" });
  expect(mailcow.dkim.get(DOMAIN)?.pubkey).toBe(spki(secrets.dkimPrivateKey));
  expect(mailcow.admins.get("admin")).toMatchObject({ active: 1, forceTfa: 1, password: secrets.adminPassword });
  // PVE holds the storage with the stack's key and password, and the job backing up to it.
  expect(pve.storages.get(PBS_STORAGE)).toMatchObject({
    type: "pbs",
    username: PBS_USER,
    "encryption-key": pbsKeyFileFingerprint(secrets.pbsKey),
  });
  expect(pve.files.get(FakePve.passwordFile(PBS_STORAGE))).toBe(`${pbsPassword}\n`);
  expect(pve.files.get(FakePve.keyFile(PBS_STORAGE))).toBe(`${secrets.pbsKey}\n`);
  expect(pve.jobs.get(BACKUP_JOB)).toMatchObject({ storage: PBS_STORAGE });
}

describe("the engine test stack on the real engine", () => {
  it("first up creates every object on the fakes and applies pfSense once", async () => {
    const out = await pulumiOk(["up", "--yes", "--skip-preview"]);
    expect(out).toMatch(/\+ 11 created/);
    expectDeclaredState();
    // One filter reload: the PfSenseApply after all writes.
    expect(pfrest.reloads).toBe(1);
    expect(mailcow.mailboxes.get(`postmaster@${DOMAIN}`)?.password).toBe(secrets.mailboxPassword);
    const outputs = await engine.outputs(dir, STACK);
    expect(outputs).toMatchObject({
      mailbox: `postmaster@${DOMAIN}`,
      adminForcesTfa: true,
      firewallApplied: true,
      dkimPublicKey: spki(secrets.dkimPrivateKey),
      pbsKeyFingerprint: pbsKeyFileFingerprint(secrets.pbsKey),
    });
  });

  it("a second up reports no changes and writes nothing", async () => {
    const allWrites = () => pfrest.api.writes().length + mailcow.api.writes().length + pve.api.writes().length;
    const writes = allWrites();
    const result = await pulumi(["up", "--yes", "--expect-no-changes"]);
    expect(result.status, printed(result)).toBe(0);
    expect(allWrites()).toBe(writes);
  });

  it("records the same resources (URNs, types) as the mock engine for the same program", async () => {
    const { deployment } = await engine.exportState(dir, STACK);
    const recorded = (deployment.resources ?? []).map((r) => ({ urn: r.urn, type: r.type }));
    // The engine adds the default provider of the dynamic resources; the mock has no providers.
    const providers = recorded.filter((r) => r.type.startsWith("pulumi:providers:"));
    expect(providers).toEqual([
      {
        urn: `urn:pulumi:${STACK}::${PROJECT}::pulumi:providers:pulumi-nodejs::default`,
        type: "pulumi:providers:pulumi-nodejs",
      },
    ]);
    const mock = await mockEngine.runProgram(program.engineStack, {
      project: PROJECT,
      stack: STACK,
      config: { ...config, ...Object.fromEntries(Object.entries(secrets).map(([name, value]) => [key(name), value])) },
      secretKeys: Object.keys(secrets).map(key),
    });
    const byUrn = (a: { urn: string }, b: { urn: string }) => (a.urn < b.urn ? -1 : 1);
    expect(recorded.filter((r) => !providers.includes(r)).sort(byUrn)).toEqual(
      mock.resources.map((r) => ({ urn: r.urn, type: r.type })).sort(byUrn),
    );
  });

  it("keeps every secret out of plain state: API keys and token, the mailbox, admin and PBS passwords, the DKIM and PBS keys", async () => {
    const { text, deployment } = await engine.exportState(dir, STACK);
    expect(deployment.secrets_providers?.type).toBe("passphrase");
    const pemBody = secrets.dkimPrivateKey.split("\n").filter((line) => line && !line.startsWith("-----"));
    for (const value of [
      secrets.pfsenseApiKey,
      secrets.mailcowApiKey,
      secrets.mailboxPassword,
      secrets.adminPassword,
      secrets.pveToken.slice(PVE_TOKEN_ID.length + 1),
      secrets.pbsPassword,
      // The key file's key bytes (its other fields are constant).
      (JSON.parse(secrets.pbsKey) as { data: string }).data,
      ...pemBody,
      engine.passphrase,
    ])
      expect(text.includes(value), `a secret is in plain text in the state`).toBe(false);
    // They are there, encrypted: the mailbox keeps its password as a secret.
    const mailbox = deployment.resources?.find((r) => r.type === "pulumi-nodejs:dynamic/mailcow:Mailbox");
    expect(mailbox?.outputs?.password).toMatchObject({
      "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
    });
    expect(JSON.stringify(await engine.outputs(dir, STACK))).not.toContain(secrets.mailcowApiKey);
  });

  it("shows drift made on the fakes on refresh, and the next up repairs it", async () => {
    // Someone edits pfSense in the GUI and mailcow by hand: a new alias above ours renumbers the
    // list, our alias gets another address (both pending until an apply), and a mailbox edit
    // without force_tfa turns 2FA off.
    pfrest.guiAdd("alias", { name: "inserted_by_hand", type: "host", address: ["192.0.2.8"], descr: "hand" }, 0);
    const alias = pfrest.find("alias", MARKERS.alias);
    if (!alias) throw new Error("our alias is gone");
    pfrest.guiEdit("alias", alias.position, { address: ["10.9.9.9"] });
    const box = mailcow.mailboxes.get(`postmaster@${DOMAIN}`);
    if (!box) throw new Error("our mailbox is gone");
    box.forceTfa = 0;

    const refreshed = await pulumiOk(["refresh", "--yes", "--diff"]);
    expect(refreshed).toContain("10.9.9.9");
    expect(refreshed).toMatch(/forceTfa/);
    expect(refreshed).toMatch(/~ 2 updated/);

    // The drifted alias and mailbox go back; the apply follows the alias's new write (unknown
    // in a preview). Nothing is replaced or deleted.
    const preview = await pulumiOk(["preview", "--diff"]);
    expect(preview).toContain("~ pulumi-nodejs:dynamic/pfsense:FirewallAlias: (update)");
    expect(preview).toContain("~ pulumi-nodejs:dynamic/mailcow:Mailbox: (update)");
    expect(preview).toMatch(
      /~ pulumi-nodejs:dynamic\/pfsense:Apply: \(update\)[\s\S]*~ revision\s*: "[0-9a-f]{64}" => \[unknown\]/,
    );
    expect(preview).toMatch(/~ 3 to update\s+8 unchanged/);
    expect(preview).not.toMatch(/to (replace|delete)|\+- |- pulumi/);
    // The repaired alias is written again, so the apply runs once more.
    const reloads = pfrest.reloads;
    await pulumiOk(["up", "--yes", "--skip-preview"]);
    expectDeclaredState();
    expect(pfrest.reloads).toBe(reloads + 1);
    expect(pfrest.config.alias.map((object) => object.name)).toEqual(["inserted_by_hand", "someone_else", ALIAS_NAME]);
    const again = await pulumi(["up", "--yes", "--expect-no-changes"]);
    expect(again.status, printed(again)).toBe(0);
  });

  it("day-2 changes: a network edit and a PBS password rotation preview as in-place updates, and up applies them", async () => {
    // The mail host moves to another address; the PBS password was rotated on the PBS and the
    // stack gets the new one.
    const mailHost = "10.3.0.5";
    pve.pbs.users.set(PBS_USER, ROTATED_PBS_PASSWORD);
    await engine.setConfig(
      dir,
      STACK,
      { [key(CONFIG.mailHost)]: mailHost },
      { [key(CONFIG.pbsPassword)]: ROTATED_PBS_PASSWORD },
    );
    const preview = await pulumiOk(["preview", "--diff"]);
    expect(preview).toContain("~ pulumi-nodejs:dynamic/pfsense:FirewallAlias: (update)");
    expect(preview).toContain("~ pulumi-nodejs:dynamic/pfsense:PortForward: (update)");
    expect(preview).toContain("~ pulumi-nodejs:dynamic/pfsense:Apply: (update)");
    expect(preview).toContain("~ pulumi-nodejs:dynamic/proxmox:PbsStorage: (update)");
    expect(preview).toMatch(/~ 4 to update\s+7 unchanged/);
    expect(preview).not.toMatch(/to (replace|delete)|\+- |- pulumi/);
    expect(preview).not.toContain(ROTATED_PBS_PASSWORD);

    const keyFile = pve.files.get(FakePve.keyFile(PBS_STORAGE));
    const job = JSON.stringify(pve.jobs.get(BACKUP_JOB));
    await pulumiOk(["up", "--yes", "--skip-preview"]);
    expectDeclaredState(mailHost, ROTATED_PBS_PASSWORD);
    // The rotation left the stack's key and the backup job alone.
    expect(pve.files.get(FakePve.keyFile(PBS_STORAGE))).toBe(keyFile);
    expect(JSON.stringify(pve.jobs.get(BACKUP_JOB))).toBe(job);
    const again = await pulumi(["up", "--yes", "--expect-no-changes"]);
    expect(again.status, printed(again)).toBe(0);
  });

  it("fails the preview with the rule named when the policy pack finds a mailbox without 2FA", async () => {
    const policies = join(root, "policies");
    await engine.setConfig(dir, STACK, { [key(CONFIG.mailboxForceTfa)]: "false" });
    const failing = await pulumi(["preview", "--policy-pack", policies]);
    expect(failing.status, printed(failing)).not.toBe(0);
    expect(printed(failing)).toContain("mailstack-2fa-require-mailbox-tfa");
    expect(printed(failing)).toMatch(/mandatory/);
    expect(printed(failing)).toContain(`mailbox postmaster@${DOMAIN} does not have to enrol 2FA`);

    await pulumiOk(["config", "rm", key(CONFIG.mailboxForceTfa)]);
    const passing = await pulumi(["preview", "--policy-pack", policies]);
    expect(passing.status, printed(passing)).toBe(0);
    expect(printed(passing)).toContain("mailstack-security@v1.0.0");
    expect(printed(passing)).not.toContain("mailstack-2fa-require-mailbox-tfa");
  });

  it("brings a provider's error message to the CLI (a wrong API key answers 401)", async () => {
    const wrong = "wrong-stack";
    await engine.initStack(dir, wrong, config, {
      [key(CONFIG.pfsenseApiKey)]: "not-the-key",
      [key(CONFIG.mailcowApiKey)]: "not-the-key",
      [key(CONFIG.mailboxPassword)]: secrets.mailboxPassword,
      [key(CONFIG.adminPassword)]: secrets.adminPassword,
      [key(CONFIG.pveToken)]: `${PVE_TOKEN_ID}=not-the-secret`,
      [key(CONFIG.pbsPassword)]: secrets.pbsPassword,
      [key(CONFIG.pbsKey)]: secrets.pbsKey,
      [key(CONFIG.dkimPrivateKey)]: secrets.dkimPrivateKey,
    });
    const fakes = () =>
      JSON.stringify([
        pfrest.config,
        pfrest.applied,
        [...mailcow.domains],
        [...mailcow.mailboxes],
        [...mailcow.admins],
        [...pve.storages],
        [...pve.files],
        [...pve.jobs],
      ]);
    const before = fakes();
    // Without --continue-on-error the engine starts nothing after the first failure, so which
    // provider's 401 is printed would depend on timing; with it every provider is asked.
    const result = await pulumi(["up", "--yes", "--skip-preview", "--continue-on-error"], wrong);
    expect(result.status).not.toBe(0);
    const text = printed(result);
    expect(text).toContain("HTTP 401: Authentication failed. (AUTH_AUTHENTICATION_FAILED)");
    expect(text).toContain("authentication failed");
    // A provider error class must keep its message through closure serialization.
    expect(text).not.toContain("<no message>");
    expect(text).not.toMatch(/error: undefined$/m);
    // Nothing was created or changed with the wrong key.
    expect(fakes()).toBe(before);
  });

  it("destroy removes only the stack's objects: the foreign ones stay, 2FA stays enforced", async () => {
    await pulumiOk(["destroy", "--yes", "--skip-preview"]);
    for (const [kind, marker] of [
      ["alias", MARKERS.alias],
      ["rule", MARKERS.rule],
      ["port_forward", MARKERS.forward],
    ] as const)
      expect(pfrest.find(kind, marker)).toBeUndefined();
    expect(pfrest.config.alias.map((object) => object.name)).toEqual(["inserted_by_hand", "someone_else"]);
    // Each removal was applied: pf no longer runs our rule or forward.
    expect(pfrest.dirty.size).toBe(0);
    expect(pfrest.applied.rules.some((rule) => String(rule.descr).includes(MARKERS.rule))).toBe(false);
    expect(pfrest.applied.portForwards.some((forward) => String(forward.descr).includes(MARKERS.forward))).toBe(false);
    expect([...mailcow.domains.keys()]).toEqual(["foreign.example"]);
    expect(mailcow.mailboxes.size).toBe(0);
    expect(mailcow.dkim.has(DOMAIN)).toBe(false);
    expect(mailcow.admins.get("admin")?.forceTfa).toBe(1);
    expect(pve.storages.has(PBS_STORAGE)).toBe(false);
    expect(pve.jobs.has(BACKUP_JOB)).toBe(false);
    expect([...pve.files.keys()].filter((file) => file.includes(PBS_STORAGE))).toEqual([]);
    const { deployment } = await engine.exportState(dir, STACK);
    expect(deployment.resources ?? []).toEqual([]);
  });
});
