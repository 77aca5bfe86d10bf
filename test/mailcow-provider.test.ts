// The mailcow dynamic providers against a fake mailcow API on loopback (one server for the file).
import { createPublicKey, generateKeyPairSync } from "node:crypto";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { MailcowConnection } from "../providers/mailcow/client";
import {
  mailcowDkimProvider,
  mailcowDomainProvider,
  mailcowMailboxProvider,
  type DomainInputs,
  type DomainOutputs,
  type MailboxInputs,
  type MailboxOutputs,
} from "../providers/mailcow/domains";
import {
  mailcowAdminProvider,
  mailcowPasswordPolicyProvider,
  mailcowRateLimitProvider,
  type PasswordPolicyInputs,
  type RateLimitInputs,
} from "../providers/mailcow/policies";
import { loopbackCertificate, type TestCertificate } from "./fakes/https";
import { FakeMailcow, STALE_OPENSSL_ERROR } from "./fakes/mailcow";
import { rejection, runRevived, serializeProviders } from "./tools";

const API_KEY = "mailcow-api-key-0123456789-secret";
const PASSWORD = "Initial-Password-4711-secret";
let certificate: TestCertificate;
let fake: FakeMailcow;
let connection: MailcowConnection;

beforeAll(async () => {
  certificate = await loopbackCertificate();
  fake = new FakeMailcow(certificate, API_KEY);
  await fake.api.start();
  connection = fake.api.connection(API_KEY);
});
afterAll(() => fake.api.stop());
beforeEach(() => {
  fake.reset();
  fake.api.onRequest = undefined;
  fake.api.requests.length = 0;
  fake.api.clearFaults();
});

const domainInputs = (overrides: Partial<DomainInputs["spec"]> = {}, adopt = false): DomainInputs => ({
  connection,
  adopt,
  spec: {
    domain: "example.org",
    description: "Example",
    maxAliases: 400,
    maxMailboxes: 10,
    defaultMailboxQuotaMiB: 3072,
    maxMailboxQuotaMiB: 10240,
    quotaMiB: 20480,
    active: true,
    ...overrides,
  },
});

const mailboxInputs = (overrides: Partial<MailboxInputs["spec"]> = {}): MailboxInputs => ({
  connection,
  adopt: false,
  password: PASSWORD,
  forcePasswordUpdate: true,
  spec: {
    localPart: "alice",
    domain: "example.org",
    name: "Alice",
    quotaMiB: 2048,
    active: true,
    forceTfa: true,
    ...overrides,
  },
});

async function createDomain(inputs = domainInputs()): Promise<DomainOutputs> {
  const { outs } = await mailcowDomainProvider.create(inputs);
  if (!outs) throw new Error("no outputs");
  return outs;
}

async function createMailbox(inputs = mailboxInputs()): Promise<MailboxOutputs> {
  const { outs } = await mailcowMailboxProvider.create(inputs);
  if (!outs) throw new Error("no outputs");
  return outs;
}

const SOMEONES_BOX = {
  localPart: "alice",
  domain: "example.org",
  name: "By hand",
  password: "Someone-Elses-0815",
  quota: 1024,
  active: 1,
  forceTfa: 0,
  forcePwUpdate: 0,
  tlsEnforceIn: 0,
  tlsEnforceOut: 0,
};

const writes = () => fake.api.writes().map((request) => request.path.replace("/api/v1/", ""));

describe("MailcowDomain", () => {
  it("creates, reads, updates only what changed, and deletes", async () => {
    const outs = await createDomain();
    expect(fake.domains.get("example.org")).toMatchObject({ quota: 20480, maxquota: 10240, active: 1 });
    const read = await mailcowDomainProvider.read?.("example.org", outs);
    expect(read?.props?.spec).toEqual(domainInputs().spec);

    const news = domainInputs({ quotaMiB: 30720 });
    expect(await mailcowDomainProvider.diff?.("example.org", outs, news)).toMatchObject({
      changes: true,
      replaces: [],
    });
    await mailcowDomainProvider.update?.("example.org", outs, news);
    expect(fake.domains.get("example.org")?.quota).toBe(30720);
    expect(
      (await mailcowDomainProvider.diff?.("example.org", outs, domainInputs({ domain: "example.net" })))?.replaces,
    ).toEqual(["spec.domain"]);

    await mailcowDomainProvider.delete?.("example.org", outs);
    expect(fake.domains.has("example.org")).toBe(false);
    expect(await mailcowDomainProvider.read?.("example.org", outs)).toEqual({});
  });

  it("detects drift on refresh", async () => {
    const outs = await createDomain();
    const domain = fake.domains.get("example.org");
    if (domain) domain.mailboxes = 99;
    const read = await mailcowDomainProvider.read?.("example.org", outs);
    expect(read?.props?.spec.maxMailboxes).toBe(99);
    expect(
      (await mailcowDomainProvider.diff?.("example.org", read?.props as DomainOutputs, domainInputs()))?.changes,
    ).toBe(true);
  });

  it("refuses a domain that already exists, unless told to adopt it, and never deletes an adopted one", async () => {
    await createDomain();
    const error = await rejection(mailcowDomainProvider.create(domainInputs()));
    expect(error.message).toMatch(/already has the domain example\.org; set mailstack:mailcow\.adoptExisting/);
    const adopted = await createDomain(domainInputs({ description: "Adopted" }, true));
    expect(adopted.adopted).toBe(true);
    expect(fake.domains.get("example.org")?.description).toBe("Adopted");
    await mailcowDomainProvider.delete?.("example.org", adopted);
    expect(fake.domains.has("example.org")).toBe(true);
  });

  it("re-applies without writing when nothing changed", async () => {
    const outs = await createDomain();
    fake.api.requests.length = 0;
    expect((await mailcowDomainProvider.diff?.("example.org", outs, domainInputs()))?.changes).toBe(false);
    await mailcowDomainProvider.update?.("example.org", outs, domainInputs());
    expect(writes()).toEqual([]);
  });
});

describe("MailcowMailbox", () => {
  it("creates the mailbox with forced 2FA and a forced password change", async () => {
    await createDomain();
    await createMailbox();
    expect(fake.mailboxes.get("alice@example.org")).toMatchObject({
      forceTfa: 1,
      forcePwUpdate: 1,
      quota: 2048,
      password: PASSWORD,
    });
  });

  it("sends force_tfa with every edit", async () => {
    await createDomain();
    const outs = await createMailbox();
    await mailcowMailboxProvider.update?.("alice@example.org", outs, mailboxInputs({ name: "Alice A." }));
    await mailcowMailboxProvider.update?.("alice@example.org", outs, mailboxInputs({ quotaMiB: 4096 }));
    const edits = fake.api.requests.filter((r) => r.path.endsWith("/edit/mailbox"));
    expect(edits).toHaveLength(2);
    for (const edit of edits) expect((edit.body as { attr: Record<string, unknown> }).attr.force_tfa).toBe(1);
    expect(fake.mailboxes.get("alice@example.org")).toMatchObject({ forceTfa: 1, quota: 4096 });
  });

  it("notices 2FA switched off by hand and restores it", async () => {
    await createDomain();
    const outs = await createMailbox();
    const box = fake.mailboxes.get("alice@example.org");
    if (box) box.forceTfa = 0;
    const read = await mailcowMailboxProvider.read?.("alice@example.org", outs);
    expect(read?.props?.spec.forceTfa).toBe(false);
    const drifted = read?.props as MailboxOutputs;
    expect((await mailcowMailboxProvider.diff?.("alice@example.org", drifted, mailboxInputs()))?.changes).toBe(true);
    await mailcowMailboxProvider.update?.("alice@example.org", drifted, mailboxInputs());
    expect(fake.mailboxes.get("alice@example.org")?.forceTfa).toBe(1);
  });

  it("changes the password only when the stack's password changes", async () => {
    await createDomain();
    const outs = await createMailbox();
    fake.api.requests.length = 0;
    await mailcowMailboxProvider.update?.("alice@example.org", outs, {
      ...mailboxInputs(),
      password: "Rotated-Password-0815",
    });
    const attr = (fake.api.writes()[0]?.body as { attr: Record<string, unknown> }).attr;
    expect(attr).toMatchObject({ password: "Rotated-Password-0815", password2: "Rotated-Password-0815", force_tfa: 1 });
    expect(await mailcowMailboxProvider.diff?.("alice@example.org", outs, mailboxInputs())).toMatchObject({
      changes: false,
    });
  });

  it("refuses a mailbox that already exists, unless adopting; never deletes an adopted one", async () => {
    await createDomain();
    await createMailbox();
    const error = await rejection(mailcowMailboxProvider.create(mailboxInputs()));
    expect(error.message).toMatch(/already has the mailbox alice@example\.org; set mailstack:mailcow\.adoptExisting/);
    const adopted = await createMailbox({ ...mailboxInputs({ name: "Alice Adopted" }), adopt: true });
    expect(adopted.adopted).toBe(true);
    expect(fake.mailboxes.get("alice@example.org")).toMatchObject({ name: "Alice Adopted", forceTfa: 1 });
    await mailcowMailboxProvider.delete?.("alice@example.org", adopted);
    expect(fake.mailboxes.has("alice@example.org")).toBe(true);
  });

  it("deletes a mailbox it created, with mailcow's list-of-ids delete", async () => {
    await createDomain();
    const outs = await createMailbox();
    await mailcowMailboxProvider.delete?.("alice@example.org", outs);
    expect(fake.mailboxes.has("alice@example.org")).toBe(false);
    expect(fake.api.writes().at(-1)?.body).toEqual(["alice@example.org"]);
    expect(await mailcowMailboxProvider.read?.("alice@example.org", outs)).toEqual({});
  });

  it("reports mailcow's object_exists when the mailbox appears between the look and the add", async () => {
    await createDomain();
    fake.api.onRequest = (request) => {
      if (!request.path.endsWith("/add/mailbox")) return;
      // Someone creates the box by hand after the provider looked and before its add arrives.
      fake.mailboxes.set("alice@example.org", { ...SOMEONES_BOX });
    };
    const error = await rejection(mailcowMailboxProvider.create(mailboxInputs()));
    expect(error.message).toBe("mailcow add/mailbox: object_exists alice@example.org");
    expect(fake.mailboxes.get("alice@example.org")).toEqual(SOMEONES_BOX);
  });

  it("adds a mailbox once when the answer to its add is lost", async () => {
    await createDomain();
    fake.api.inject("lost", 1, (request) => request.path.endsWith("/add/mailbox"));
    const outs = await createMailbox();
    expect(outs.adopted).toBe(false);
    expect(fake.api.requests.filter((r) => r.path.endsWith("/add/mailbox"))).toHaveLength(1);
    expect(fake.mailboxes.get("alice@example.org")).toMatchObject({ forceTfa: 1, password: PASSWORD });
  });

  it("surfaces mailcow's own message and never the password", async () => {
    const error = await rejection(mailcowMailboxProvider.create(mailboxInputs({ domain: "missing.example" })));
    expect(error.message).toBe("mailcow add/mailbox: domain_not_found missing.example");
    expect(error.message).not.toContain(PASSWORD);
  });
});

describe("sending limits (rl_value / rl_frame)", () => {
  const limit = (overrides: Partial<RateLimitInputs> = {}): RateLimitInputs => ({
    connection,
    scope: "mailbox",
    object: "alice@example.org",
    value: 200,
    frame: "h",
    ...overrides,
  });
  beforeEach(async () => {
    await createDomain();
    await createMailbox();
  });

  it("sets a domain's and a mailbox's limit as rspamd reads it, and reads them back", async () => {
    const domain = await mailcowRateLimitProvider.create(
      limit({ scope: "domain", object: "example.org", value: 1000 }),
    );
    const mailbox = await mailcowRateLimitProvider.create(limit());
    expect(fake.rateLimits.get("example.org")).toBe("1000 / 1h");
    expect(fake.rateLimits.get("alice@example.org")).toBe("200 / 1h");
    expect((await mailcowRateLimitProvider.read?.(domain.id, domain.outs))?.props).toMatchObject({
      value: 1000,
      frame: "h",
    });
    const read = await mailcowRateLimitProvider.read?.(mailbox.id, mailbox.outs);
    expect(read?.props).toMatchObject({ value: 200, frame: "h" });
    expect((await mailcowRateLimitProvider.diff?.(mailbox.id, read?.props as RateLimitInputs, limit()))?.changes).toBe(
      false,
    );
  });

  it("detects a limit raised or removed by hand, and sets it again", async () => {
    const { id, outs } = await mailcowRateLimitProvider.create(limit());
    for (const [byHand, seen] of [
      ["100000 / 1h", { value: 100000, frame: "h" }],
      [undefined, { value: 0 }],
    ] as const) {
      if (byHand) fake.rateLimits.set("alice@example.org", byHand);
      else fake.rateLimits.delete("alice@example.org");
      const read = await mailcowRateLimitProvider.read?.(id, outs);
      expect(read?.props).toMatchObject(seen);
      expect((await mailcowRateLimitProvider.diff?.(id, read?.props as RateLimitInputs, limit()))?.changes).toBe(true);
      await mailcowRateLimitProvider.update?.(id, read?.props as RateLimitInputs, limit());
      expect(fake.rateLimits.get("alice@example.org")).toBe("200 / 1h");
    }
  });

  it("changes the frame in place and removes the limit on delete", async () => {
    const { id } = await mailcowRateLimitProvider.create(limit());
    const outs = limit();
    const news = limit({ value: 20, frame: "m" });
    expect(await mailcowRateLimitProvider.diff?.(id, outs, news)).toMatchObject({ changes: true, replaces: [] });
    await mailcowRateLimitProvider.update?.(id, outs, news);
    expect(fake.rateLimits.get("alice@example.org")).toBe("20 / 1m");
    await mailcowRateLimitProvider.delete?.(id, news);
    expect(fake.rateLimits.has("alice@example.org")).toBe(false);
  });

  it("never sends a limit of 0 (mailcow would remove it), and surfaces mailcow's refusal of an unknown mailbox", async () => {
    expect((await rejection(mailcowRateLimitProvider.create(limit({ value: 0 })))).message).toMatch(
      /0 messages is no limit; use at least 1/,
    );
    expect(fake.api.writes()).toHaveLength(2); // the domain and the mailbox of beforeEach
    expect((await rejection(mailcowRateLimitProvider.create(limit({ object: "bob@example.org" })))).message).toMatch(
      /edit\/rl-mbox: access_denied/,
    );
  });
});

describe("the password policy", () => {
  const policy = (overrides: Partial<PasswordPolicyInputs["policy"]> = {}): PasswordPolicyInputs => ({
    connection,
    policy: { length: 12, letters: true, lowerUpper: true, numbers: true, specialChars: false, ...overrides },
  });

  it("replaces mailcow's default (length 6, no classes) and mailcow then refuses a weak password", async () => {
    await createDomain();
    const { id, outs } = await mailcowPasswordPolicyProvider.create(policy());
    expect(fake.passwordPolicy).toEqual({
      length: "12",
      chars: "1",
      lowerupper: "1",
      numbers: "1",
      special_chars: "0",
    });
    const read = await mailcowPasswordPolicyProvider.read?.(id, outs);
    expect(read?.props?.policy).toEqual(policy().policy);
    const weak = await rejection(createMailbox({ ...mailboxInputs(), password: "alllowercase1" }));
    expect(weak.message).toMatch(/password_complexity/);
    expect(weak.message).not.toContain("alllowercase1");
    await createMailbox(); // the stack's kind of password passes
  });

  it("detects the policy weakened by hand and restores it", async () => {
    const { id, outs } = await mailcowPasswordPolicyProvider.create(policy());
    fake.passwordPolicy = { ...fake.passwordPolicy, length: "6", numbers: "0" };
    const read = await mailcowPasswordPolicyProvider.read?.(id, outs);
    expect(read?.props?.policy).toMatchObject({ length: 6, numbers: false });
    expect(
      (await mailcowPasswordPolicyProvider.diff?.(id, read?.props as PasswordPolicyInputs, policy()))?.changes,
    ).toBe(true);
    await mailcowPasswordPolicyProvider.update?.(id, read?.props as PasswordPolicyInputs, policy());
    expect(fake.passwordPolicy).toMatchObject({ length: "12", numbers: "1" });
  });
});

function alice() {
  const box = fake.mailboxes.get("alice@example.org");
  if (!box) throw new Error("no mailbox alice@example.org");
  return box;
}

describe("a mailbox's TLS policy (tls_enforce_in / tls_enforce_out)", () => {
  beforeEach(() => createDomain());

  it("is left to mailcow unless configured", async () => {
    const outs = await createMailbox();
    expect(fake.api.writes().find((r) => r.path.endsWith("edit/tls_policy"))).toBeUndefined();
    alice().tlsEnforceOut = 1;
    const read = await mailcowMailboxProvider.read?.("alice@example.org", outs);
    expect(read?.props?.spec).not.toHaveProperty("tlsEnforceOut");
    expect(
      (await mailcowMailboxProvider.diff?.("alice@example.org", read?.props as MailboxOutputs, mailboxInputs()))
        ?.changes,
    ).toBe(false);
  });

  it("is set at creation, drift is detected, and an update sends only the TLS policy", async () => {
    const inputs = mailboxInputs({ tlsEnforceIn: true, tlsEnforceOut: true });
    const outs = await createMailbox(inputs);
    expect(fake.mailboxes.get("alice@example.org")).toMatchObject({ tlsEnforceIn: 1, tlsEnforceOut: 1 });
    alice().tlsEnforceIn = 0;
    const read = await mailcowMailboxProvider.read?.("alice@example.org", outs);
    expect(read?.props?.spec).toMatchObject({ tlsEnforceIn: false, tlsEnforceOut: true });
    expect(
      (await mailcowMailboxProvider.diff?.("alice@example.org", read?.props as MailboxOutputs, inputs))?.changes,
    ).toBe(true);
    fake.api.requests.length = 0;
    await mailcowMailboxProvider.update?.("alice@example.org", read?.props as MailboxOutputs, inputs);
    expect(writes()).toEqual(["edit/tls_policy"]);
    expect(fake.mailboxes.get("alice@example.org")).toMatchObject({ tlsEnforceIn: 1, tlsEnforceOut: 1 });
  });
});

describe("MailcowDkimKey", () => {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const pem = privateKey.export({ format: "pem", type: "pkcs8" }).toString();
  const spki = publicKey.export({ format: "der", type: "spki" }).toString("base64");
  const inputs = () => ({ connection, domain: "example.org", selector: "dkim", privateKeyPem: pem });

  it("imports the stack's key (add/domain makes none of mailcow's own), and reads it back", async () => {
    await createDomain();
    expect(fake.dkim.has("example.org")).toBe(false);
    expect(fake.api.requests.find((r) => r.path.endsWith("/add/domain"))?.body).toMatchObject({ key_size: 0 });
    const { outs } = await mailcowDkimProvider.create(inputs());
    expect(fake.dkim.get("example.org")).toEqual({ selector: "dkim", pubkey: spki });
    const read = await mailcowDkimProvider.read?.("example.org", outs);
    expect(read?.props?.publicKey).toBe(spki);
    expect((await mailcowDkimProvider.diff?.("example.org", read?.props as never, inputs()))?.changes).toBe(false);
  });

  it("imports on the first try although a key mailcow generated left a stale OpenSSL error behind", async () => {
    // What add/domain with its own DKIM key does to the php-fpm worker (functions.dkim.inc.php:156).
    await mailcowDomainProvider.create({ ...domainInputs() });
    fake.queueOpenSslError();
    fake.queueOpenSslError();
    const { outs } = await mailcowDkimProvider.create(inputs());
    expect(outs?.publicKey).toBe(spki);
    expect(fake.dkim.get("example.org")?.pubkey).toBe(spki);
    expect(fake.api.requests.filter((r) => r.path.endsWith("/add/dkim_import"))).toHaveLength(3);
  });

  it("does not retry a key mailcow refuses for another reason, nor one that is not a key", async () => {
    await createDomain();
    for (let i = 0; i < 10; i++) fake.queueOpenSslError();
    const error = await rejection(mailcowDkimProvider.create(inputs()));
    expect(error.message).toContain(`private_key_error ${STALE_OPENSSL_ERROR}`);
    expect(fake.api.requests.filter((r) => r.path.endsWith("/add/dkim_import"))).toHaveLength(5);
    fake.api.requests.length = 0;
    await expect(mailcowDkimProvider.create({ ...inputs(), privateKeyPem: "not a key" })).rejects.toThrow();
    expect(fake.api.requests).toHaveLength(0);
  });

  it("deletes the key with the domain's list-of-ids delete, and forgets one already gone", async () => {
    await createDomain();
    const { outs } = await mailcowDkimProvider.create(inputs());
    if (!outs) throw new Error("no outputs");
    await mailcowDkimProvider.delete?.("example.org", outs);
    expect(fake.dkim.has("example.org")).toBe(false);
    expect(fake.api.writes().at(-1)).toMatchObject({ path: "/api/v1/delete/dkim", body: ["example.org"] });
    fake.api.requests.length = 0;
    await mailcowDkimProvider.delete?.("example.org", outs);
    expect(writes()).toEqual([]);
  });

  it("never puts the private key into an error", async () => {
    const error = await rejection(mailcowDkimProvider.create({ ...inputs(), selector: "bad selector!" }));
    expect(error.message).toMatch(/^mailcow add\/dkim_import: /);
    expect(error.message).not.toContain(pem.split("\n")[1] ?? "PRIVATE");
  });

  it("re-imports when mailcow signs with another key", async () => {
    await createDomain();
    const { outs } = await mailcowDkimProvider.create(inputs());
    fake.dkim.set("example.org", { selector: "dkim", pubkey: "SOMEONE-ELSES-KEY" });
    const read = await mailcowDkimProvider.read?.("example.org", outs);
    expect((await mailcowDkimProvider.diff?.("example.org", read?.props as never, inputs()))?.changes).toBe(true);
    await mailcowDkimProvider.update?.("example.org", read?.props as never, inputs());
    expect(fake.dkim.get("example.org")?.pubkey).toBe(spki);
  });
});

describe("the admin account", () => {
  const ADMIN_PASSWORD = "Admin-Initial-0123456789-secret";
  const adminInputs = (username = "admin") => ({ connection, username, password: ADMIN_PASSWORD });

  it("replaces mailcow's default password, forces 2FA and a new password at first login", async () => {
    expect(fake.admins.get("admin")).toMatchObject({ password: "moohoo", forceTfa: 0 });
    const { outs } = await mailcowAdminProvider.create(adminInputs());
    expect(fake.admins.get("admin")).toEqual({ active: 1, password: ADMIN_PASSWORD, forceTfa: 1, forcePwUpdate: 1 });
    expect(outs?.forceTfa).toBe(true);
  });

  it("takes over the default admin under the configured name", async () => {
    await mailcowAdminProvider.create(adminInputs("mailops-admin"));
    expect(fake.admins.has("admin")).toBe(false);
    expect(fake.admins.get("mailops-admin")).toMatchObject({ password: ADMIN_PASSWORD, forceTfa: 1 });
  });

  it("detects 2FA switched off, restores it, and keeps force_pw_update and a deactivation as they are", async () => {
    const { outs } = await mailcowAdminProvider.create(adminInputs());
    if (!outs) throw new Error("no outputs");
    // The admin chose a password (mailcow cleared force_pw_update), then someone turned 2FA off
    // and an operator deactivated the account.
    fake.admins.set("admin", { active: 0, password: "Chosen-By-Admin-42", forceTfa: 0, forcePwUpdate: 0 });
    const read = await mailcowAdminProvider.read?.("admin", outs);
    expect(read?.props?.forceTfa).toBe(false);
    const drifted = read?.props as typeof outs;
    expect((await mailcowAdminProvider.diff?.("admin", drifted, adminInputs()))?.changes).toBe(true);
    await mailcowAdminProvider.update?.("admin", drifted, adminInputs());
    expect(fake.admins.get("admin")).toEqual({
      active: 0,
      password: "Chosen-By-Admin-42",
      forceTfa: 1,
      forcePwUpdate: 0,
    });
    const edit = fake.api.writes().at(-1)?.body as { attr: Record<string, unknown> };
    expect(edit.attr).toEqual({ force_tfa: 1, force_pw_update: 0 });
    expect((await mailcowAdminProvider.diff?.("admin", { ...drifted, forceTfa: true }, adminInputs()))?.changes).toBe(
      false,
    );
  });

  it("refuses an admin name mailcow has not got, when there is no default admin to take over", async () => {
    fake.admins.clear();
    const error = await rejection(mailcowAdminProvider.create(adminInputs("someone")));
    expect(error.message).toMatch(/no admin someone .*set mailstack:mailcow\.adminUsername/);
  });
});

describe("mailcow's answers, as its PHP gives them", () => {
  it("asks for no SOGo restart per domain, and counts a domain whose only trouble was the SOGo restart as created", async () => {
    fake.sogoRestartFails = true;
    const { outs } = await mailcowDomainProvider.create(domainInputs());
    expect(outs?.adopted).toBe(false);
    expect(fake.domains.has("example.org")).toBe(true);
    // The provider asks for no restart per domain at all (MailcowTenants restarts SOGo once).
    expect(fake.api.requests.find((r) => r.path.endsWith("/add/domain"))?.body).toMatchObject({ restart_sogo: 0 });
    expect(fake.sogoRestarts).toBe(0);
    // Should a mailcow restart it anyway and fail, the answer is a warning: the domain is there.
    fake.restartsSogoUnasked = true;
    const second = domainInputs({ domain: "example.net" });
    await expect(mailcowDomainProvider.create(second)).resolves.toMatchObject({ id: "example.net" });
    expect(fake.domains.has("example.net")).toBe(true);
  });

  it("leaves the DKIM key when the domain is deleted, as mailcow does (delete/domain keeps Redis' DKIM)", async () => {
    const outs = await createDomain();
    const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    await mailcowDkimProvider.create({
      connection,
      domain: "example.org",
      selector: "dkim",
      privateKeyPem: privateKey.export({ format: "pem", type: "pkcs8" }).toString(),
    });
    await mailcowDomainProvider.delete?.("example.org", outs);
    expect(fake.dkim.has("example.org")).toBe(true);
  });

  it("never reads an empty API key as 'object gone', and sends nothing without a key", async () => {
    const outs = await createDomain();
    const error = await rejection(
      mailcowDomainProvider.read?.("example.org", { ...outs, connection: { ...connection, apiKey: "" } }),
    );
    expect(error.message).toMatch(/no API key/);
    expect(fake.api.requests.filter((r) => r.method === "GET" && r.headers["x-api-key"] === "")).toHaveLength(0);
  });

  it("never reads an answer without an API session as 'object gone'", async () => {
    const outs = await createDomain();
    // A key of only characters mailcow strips (sessions.inc.php:52) is no key: mailcow answers an empty 200.
    const error = await rejection(
      mailcowDomainProvider.read?.("example.org", { ...outs, connection: { ...connection, apiKey: "%%%" } }),
    );
    expect(error.message).toMatch(/an empty answer, which mailcow gives a request without an API session/);
  });

  it("connects to the configured address and verifies TLS for the host name", async () => {
    // A mailcow whose certificate is for its host name only, reached at a loopback address.
    const named = new FakeMailcow(await loopbackCertificate("mail.example.org"), API_KEY);
    await named.api.start();
    try {
      const viaAddress = {
        ...named.api.connection(API_KEY),
        endpoint: `https://mail.example.org:${named.api.port}`,
        connectAddress: "127.0.0.1",
      };
      await mailcowDomainProvider.create({ ...domainInputs(), connection: viaAddress });
      expect(named.domains.has("example.org")).toBe(true);
      expect(named.api.requests.at(-1)?.headers.host).toBe(`mail.example.org:${named.api.port}`);
      const wrongName = { ...viaAddress, endpoint: `https://other.example.org:${named.api.port}`, retries: 0 };
      const error = await rejection(
        mailcowDomainProvider.read?.("example.org", { ...domainInputs(), adopted: false, connection: wrongName }),
      );
      expect(error.message).toMatch(/Hostname\/IP does not match certificate's altnames/);
    } finally {
      await named.api.stop();
    }
  });
});

describe("faults", () => {
  it("reports a wrong API key with mailcow's message and the fix, never the key, on reads and writes (401)", async () => {
    const wrong = { ...connection, apiKey: "wrong-key-0815" };
    // sessions.inc.php:83-93 answers 401 to both: a refused read is never "no such domain".
    const onRead = await rejection(mailcowDomainProvider.create({ ...domainInputs(), connection: wrong }));
    expect(onRead.message).toMatch(
      /^GET \/api\/v1\/get\/domain\/example\.org: HTTP 401: authentication failed; the API key was refused/,
    );
    const outs = await createDomain();
    const onWrite = await rejection(
      mailcowDomainProvider.update?.("example.org", outs, { ...domainInputs({ quotaMiB: 1 }), connection: wrong }),
    );
    expect(onWrite.message).toMatch(/HTTP 401: authentication failed/);
    for (const error of [onRead, onWrite]) {
      expect(error.message).not.toContain("wrong-key-0815");
      expect(error.message).not.toContain(API_KEY);
    }
    expect(fake.domains.get("example.org")?.quota).toBe(20480);
  });

  it("says which source mailcow refuses when API_ALLOW_FROM does not hold it", async () => {
    fake.allowFrom = ["10.3.0.1"];
    const error = await rejection(mailcowDomainProvider.create(domainInputs()));
    expect(error.message).toMatch(
      /api access denied for ip 127\.0\.0\.1; add the address .* to mailstack:mailcow\.apiAllowFrom/,
    );
    expect(fake.domains.size).toBe(0);
    fake.allowFrom = ["127.0.0.0/8"];
    await createDomain();
  });

  it("does not retry a 403 from the web server in front of the API", async () => {
    fake.api.inject("403", 5);
    const error = await rejection(mailcowDomainProvider.create(domainInputs()));
    expect(error.message).toMatch(/HTTP 403 with a body that is not JSON: .*403 Forbidden/);
    expect(fake.api.requests).toHaveLength(1);
  });

  it("adds a domain once when the answer to its add is lost, and does not take it for someone else's", async () => {
    fake.api.inject("lost", 1, (request) => request.path.endsWith("/add/domain"));
    const outs = await createDomain();
    expect(outs.adopted).toBe(false);
    expect(fake.api.requests.filter((r) => r.path.endsWith("/add/domain"))).toHaveLength(1);
    expect(fake.domains.get("example.org")).toMatchObject({ quota: 20480 });
  });

  it("sends an add again only after a lookup shows it did not land", async () => {
    fake.api.inject("500", 1, (request) => request.path.endsWith("/add/domain"));
    await createDomain();
    expect(writes()).toEqual(["add/domain", "add/domain"]);
    expect(fake.domains.has("example.org")).toBe(true);
  });

  it("retries a 503 and succeeds; stops at the bound", async () => {
    fake.api.inject("503", 1);
    await createDomain();
    expect(fake.domains.has("example.org")).toBe(true);
    fake.api.inject("500", 10);
    const error = await rejection(
      mailcowDomainProvider.read?.("example.org", await Promise.resolve({ ...domainInputs(), adopted: false })) ??
        Promise.resolve(),
    );
    expect(error.message).toMatch(/gave up after 3 attempts/);
  });

  it("times out a slow API within its bound", async () => {
    fake.api.slowMs = 3_000;
    fake.api.inject("slow", 10);
    const before = fake.api.requests.length;
    const error = await rejection(mailcowDomainProvider.create(domainInputs()));
    expect(error.message).toMatch(/no answer within 1000 ms/);
    // The bound is in attempts (1 + retries), each cut off by the client's timeout.
    expect(fake.api.requests.length - before).toBeLessThanOrEqual(1 + (connection.retries ?? 0));
  });

  it("reports malformed JSON", async () => {
    fake.api.inject("malformed");
    const error = await rejection(
      mailcowDomainProvider.create({ ...domainInputs(), connection: { ...connection, retries: 0 } }),
    );
    expect(error.message).toMatch(/not JSON/);
  });

  it("verifies TLS", async () => {
    const { caCertificate: _pin, ...unpinned } = connection;
    const error = await rejection(
      mailcowDomainProvider.create({ ...domainInputs(), connection: { ...unpinned, retries: 0 } }),
    );
    expect(error.message).toMatch(/self[- ]signed certificate/);
  });
});

describe("serialization", () => {
  it("the provider survives Pulumi's dynamic-provider serialization, captures no secret and works when loaded back", async () => {
    const probe = { mailcowProvider: { kind: "admin", connection, username: "admin", password: PASSWORD } };
    const [result] = (await serializeProviders(probe)).filter((r) => r.name === "mailcowProvider");
    for (const path of ["add/domain", "edit/mailbox", "add/dkim_import", "edit/admin"])
      expect(result?.text).toContain(path);
    expect(result?.text).not.toContain(API_KEY);
    expect(result?.text).not.toContain(PASSWORD);
    // The revived provider dispatches (check passes the inputs through).
    expect(result?.check).toMatchObject({ inputs: { kind: "admin", username: "admin" } });
  });

  it("the revived provider creates and updates against mailcow, takes a harmless warning as success and keeps its errors", async () => {
    // add/domain answers `warning domain_added_sogo_failed` (the domain is made); the DKIM import
    // meets a stale OpenSSL error first (private_key_error, retried by MailcowError key).
    fake.restartsSogoUnasked = true;
    fake.sogoRestartFails = true;
    fake.queueOpenSslError();
    const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const pem = privateKey.export({ format: "pem", type: "pkcs8" }).toString();
    const domain = { ...domainInputs(), kind: "domain" };
    const results = await runRevived("mailcowProvider", [
      { op: "create", news: domain },
      { op: "update", id: "example.org", oldsFrom: 0, news: { ...domain, spec: { ...domain.spec, quotaMiB: 30720 } } },
      { op: "create", news: { connection, domain: "example.org", selector: "dkim", privateKeyPem: pem, kind: "dkim" } },
      { op: "create", news: { ...mailboxInputs(), kind: "mailbox" } },
      // Error paths: mailcow's refusal in a 200 answer, and the provider's own refusal.
      { op: "create", news: { ...mailboxInputs({ domain: "example.net" }), kind: "mailbox" } },
      { op: "create", news: domain },
    ]);
    // (Errors first: a failure prints the message, never outputs that hold the key.)
    expect(results.slice(0, 4).map((result) => result.error)).toEqual([undefined, undefined, undefined, undefined]);
    expect(results[0]?.ok?.id).toBe("example.org");
    expect(results[0]?.ok?.outs).toMatchObject({ adopted: false, kind: "domain", spec: domain.spec });
    expect(results[1]?.ok?.outs).toMatchObject({ adopted: false, kind: "domain" });
    expect(fake.domains.get("example.org")?.quota).toBe(30720);
    expect(results[2]?.ok?.outs?.publicKey).toBe(
      createPublicKey(pem).export({ type: "spki", format: "der" }).toString("base64"),
    );
    expect(fake.dkim.get("example.org")?.selector).toBe("dkim");
    expect(results[3]?.ok?.id).toBe("alice@example.org");
    expect(fake.mailboxes.has("alice@example.org")).toBe(true);
    expect(results[4]).toEqual({ error: "mailcow add/mailbox: domain_not_found example.net", name: "MailcowError" });
    expect(results[5]?.name).toBe("MailcowError");
    expect(results[5]?.error).toMatch(
      /^mailcow already has the domain example\.org; set mailstack:mailcow\.adoptExisting/,
    );
  });
});
