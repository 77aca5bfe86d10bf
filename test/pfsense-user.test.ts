// The pfSense backup user through the provider, against the fake pfrest's users
// (test/fakes/pfrest-user.ts, after pfrest v2.10.0's User model and pfSense's local_user_set): the
// account pfSense makes has the scponly shell and the forced-command key verbatim, drift made in the
// GUI is seen and undone, an operator's user of the same name is never taken over, pfrest's refusals
// reach the operator, and the provider works after serialization.
import { describe, expect, it } from "vitest";
import {
  pfSenseUserProvider,
  type PfSenseUserInputs,
  type PfSenseUserOutputs,
  type PfSenseUserSpec,
} from "../providers/pfsense/user";
import { backupAuthorizedKey, BACKUP_USER_PRIVILEGE, PFSENSE_CONFIG_XML } from "../render/pfsense-backup";
import { fakePfRestForFile } from "./support/fake-pfrest";
import { ADMIN_USER } from "./fakes/pfrest-user";
import { isSecret, plain } from "../plan/engine";
import { planWithKeys } from "./plans";
import { rejection, runRevived } from "./tools";

const API_KEY = "pfrest-key-user-0123456789-secret";
const PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGz0mWlq0Y6cN1q2b9yq0u3ZyCk3Lr9p7l2xkQm5o8Ua";
const pfrest = fakePfRestForFile(API_KEY);

const KEYS = backupAuthorizedKey(PUBLIC_KEY, PFSENSE_CONFIG_XML, "10.3.0.4", "mailstack-backup");
const spec = (overrides: Partial<PfSenseUserSpec> = {}): PfSenseUserSpec => ({
  name: "mailstack-backup",
  descr: "mailstack prod: mail.example.org downloads config.xml",
  priv: [BACKUP_USER_PRIVILEGE],
  authorizedkeys: KEYS,
  disabled: false,
  ...overrides,
});
const inputs = (overrides: Partial<PfSenseUserSpec> = {}, password = "random-password-1"): PfSenseUserInputs => ({
  connection: pfrest.connection,
  spec: spec(overrides),
  password,
});

async function create(news = inputs()): Promise<PfSenseUserOutputs> {
  const checked = await pfSenseUserProvider.check?.(news, news);
  expect(checked?.failures ?? []).toEqual([]);
  const { outs } = await pfSenseUserProvider.create(news);
  if (!outs) throw new Error("create returned no outputs");
  return outs;
}

const stored = () => pfrest.fake.config.users?.users.find((user) => user.name === "mailstack-backup");

describe("the pfSense backup user", () => {
  it("gets the scponly shell and exactly the forced-command key, with a uid from nextuid", async () => {
    const outs = await create();
    expect(outs.uid).toBe(2000);
    expect(pfrest.fake.accounts.get("mailstack-backup")).toEqual({
      shell: "/usr/local/bin/scponly",
      locked: false,
      authorizedKeys: `command="scp -f /cf/conf/config.xml",restrict,from="10.3.0.4" ${PUBLIC_KEY} mailstack-backup\n`,
    });
    // config.xml keeps the keys base64-encoded (Base64Field) and the password only as a hash.
    expect(stored()?.authorizedkeys).toBe(Buffer.from(KEYS).toString("base64"));
    expect(JSON.stringify(pfrest.fake.config.users)).not.toContain("random-password-1");
    expect(pfrest.fake.reloads).toBe(0);
    expect([...pfrest.fake.dirty]).toEqual([]);
  });

  it("sees a privilege added and the key changed in the GUI, and the update undoes both", async () => {
    const outs = await create();
    const user = stored();
    if (!user) throw new Error("no user");
    user.priv = [BACKUP_USER_PRIVILEGE, "user-shell-access"];
    user.authorizedkeys = Buffer.from(`${PUBLIC_KEY} no-options\n`).toString("base64");
    const read = await pfSenseUserProvider.read?.("mailstack-backup", outs);
    const observed = read?.props as PfSenseUserOutputs;
    expect(observed.spec.priv).toEqual([BACKUP_USER_PRIVILEGE, "user-shell-access"]);
    expect(observed.spec.authorizedkeys).toBe(`${PUBLIC_KEY} no-options\n`);
    expect((await pfSenseUserProvider.diff?.("mailstack-backup", observed, inputs()))?.changes).toBe(true);
    expect((await pfSenseUserProvider.diff?.("mailstack-backup", outs, inputs()))?.changes).toBe(false);
    await pfSenseUserProvider.update?.("mailstack-backup", observed, inputs());
    expect(pfrest.fake.accounts.get("mailstack-backup")?.shell).toBe("/usr/local/bin/scponly");
    expect(pfrest.fake.accounts.get("mailstack-backup")?.authorizedKeys).toBe(KEYS);
  });

  it("sends the password only when it changes, and a new name replaces the user", async () => {
    const outs = await create();
    pfrest.fake.api.requests.length = 0;
    await pfSenseUserProvider.update?.("mailstack-backup", outs, inputs({}, "random-password-2"));
    const patch = pfrest.fake.api.requests.find((request) => request.method === "PATCH");
    expect(patch?.body).toMatchObject({ id: 1, password: "random-password-2" });
    const renamed = await pfSenseUserProvider.diff?.("mailstack-backup", outs, inputs({ name: "fw-backup" }));
    expect(renamed?.replaces).toEqual(["spec.name"]);
  });

  it("is gone for a refresh once deleted in the GUI, and delete removes only the stack's user", async () => {
    const outs = await create();
    await pfSenseUserProvider.delete?.("mailstack-backup", outs);
    expect(stored()).toBeUndefined();
    expect(pfrest.fake.accounts.has("mailstack-backup")).toBe(false);
    expect(pfrest.fake.config.users?.users.map((user) => user.name)).toEqual(["admin"]);
    expect(await pfSenseUserProvider.read?.("mailstack-backup", outs)).toEqual({});
  });

  it("never takes over an operator's user of the same name", async () => {
    pfrest.fake.config.users = {
      users: [{ ...ADMIN_USER }, { ...ADMIN_USER, name: "mailstack-backup", uid: 2000, scope: "user", descr: "Ops" }],
      nextuid: 2001,
    };
    const error = await rejection(pfSenseUserProvider.create(inputs()));
    expect(error.message).toMatch(/did not create.*mailstack:pfsense\.configBackup\.user/);
    expect(stored()?.descr).toBe("Ops");
  });

  it("reports pfrest's refusal of a reserved name with its response id", async () => {
    const error = await rejection(pfSenseUserProvider.create(inputs({ name: "sshd" })));
    expect(error.message).toMatch(/USER_CANNOT_USE_RESERVED_USERNAME/);
  });

  it("refuses a shell or page-all at check time", async () => {
    const news = inputs({ priv: ["user-shell-access"] });
    const checked = await pfSenseUserProvider.check?.(news, news);
    expect(checked?.failures).toEqual([
      { property: "spec", reason: "priv: a shell or page-all is more than this user may have" },
    ]);
  });

  it("creates, refreshes and deletes when loaded back from its serialized form", async () => {
    const results = await runRevived("pfSenseUserProvider", [
      { op: "create", news: { ...inputs() } },
      { op: "read", id: "mailstack-backup", oldsFrom: 0 },
      { op: "delete", id: "mailstack-backup", oldsFrom: 0 },
    ]);
    expect(results.map((result) => result.error)).toEqual([undefined, undefined, undefined]);
    expect(results[1]?.ok?.props).toMatchObject({ spec: { priv: [BACKUP_USER_PRIVILEGE], authorizedkeys: KEYS } });
    expect(stored()).toBeUndefined();
  });
});

describe("the stack with pfsense.configBackup", () => {
  it("declares the user with one privilege and a key bound to the mail host's LAN address", async () => {
    const { result } = await planWithKeys({});
    const users = result.run.resources.filter((r) => r.custom && r.type.endsWith("pfsense:User"));
    expect(users.map((r) => r.name)).toEqual(["pfsense-config-user"]);
    const declared = plain(users[0]?.inputs.spec) as PfSenseUserSpec;
    expect(declared.priv).toEqual(["user-copy-files"]);
    // Pulumi.prod.yaml: lan.ipv4 10.3.0.4/24.
    expect(declared.authorizedkeys).toMatch(
      /^command="scp -f \/cf\/conf\/config\.xml",restrict,from="10\.3\.0\.4" ssh-ed25519 \S+ mailstack-backup\n$/,
    );
    expect(isSecret(users[0]?.inputs.password)).toBe(true);
    // The private key reaches the mail host on secret stdin only, with no log of the step.
    const secrets = result.run.resources.find((r) => r.name === "pfsense-config-secrets");
    expect(isSecret(secrets?.inputs.stdin)).toBe(true);
    expect(secrets?.inputs.logging).toBe("none");
    expect(secrets?.inputs.create).toBe("sudo bash -s");
    const planned = result.files.find((f) => f.path.endsWith("/etc/mailstack/pfsense-backup-key"));
    expect(planned?.content).toBe("[secret]\n");
    expect(JSON.stringify(result.files)).not.toContain("OPENSSH PRIVATE KEY");
  });
});
