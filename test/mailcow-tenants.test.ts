// MailcowTenants under the mock engine: what the prod plan declares in mailcow, and in what order.
import { createPublicKey } from "node:crypto";
import { describe, expect, it } from "vitest";
import { isSecret, plain, redact, type ProgramRun, type RecordedResource } from "../plan/engine";
import type { StackOutputs } from "../outputs";
import { loopbackCertificate } from "./fakes/https";
import { dependencyClosure, planWithKeys, playProviders } from "./plans";
import { decoded, setting } from "./support/scripts";
import { isScript } from "../policies/lib";

const PREFIX = "pulumi-nodejs:dynamic/mailcow:";

const ofType = (run: ProgramRun, type: string): RecordedResource[] =>
  run.resources.filter((r) => r.type === `${PREFIX}${type}`);

describe("MailcowTenants in the prod plan", () => {
  it("declares the domain, its DKIM import and every configured mailbox, with 2FA enforced", async () => {
    const { result } = await planWithKeys();
    expect(ofType(result.run, "Domain").map((r) => (plain(r.inputs.spec) as { domain: string }).domain)).toEqual([
      "xd-cloud.de",
    ]);
    expect(ofType(result.run, "DkimKey").map((r) => r.inputs.domain)).toEqual(["xd-cloud.de"]);
    const boxes = ofType(result.run, "Mailbox").map(
      (r) => plain(r.inputs) as { spec: { localPart: string; forceTfa: boolean }; forcePasswordUpdate: boolean },
    );
    expect(boxes.map((b) => b.spec.localPart).sort()).toEqual(["admin", "dmarc-reports", "tls-reports"]);
    for (const box of boxes) {
      expect(box.spec.forceTfa).toBe(true);
      expect(box.forcePasswordUpdate).toBe(true);
    }
    expect(ofType(result.run, "Admin").map((r) => r.inputs.username)).toEqual(["admin"]);
  });

  it("secures the admin account before 443 opens to everyone, and restarts SOGo once after all domains", async () => {
    const { result } = await planWithKeys({}, { preview: false });
    const byName = (name: string) => result.run.resources.find((r) => r.name === name);
    const [admin] = ofType(result.run, "Admin");
    expect(isSecret(admin?.inputs.password)).toBe(true);
    expect(admin?.options.additionalSecretOutputs).toEqual(expect.arrayContaining(["password", "connection"]));
    const publish = byName("mailcow-tenants-https-public");
    expect(dependencyClosure(result.run, publish?.urn ?? "").has(admin?.urn ?? "")).toBe(true);
    // The step installs and runs the https-public script (render/scripts/install-and-run.sh).
    const stdin = String(plain(publish?.inputs.stdin));
    expect(isScript(stdin, "install-and-run")).toBe(true);
    expect(setting(stdin, "SCRIPT_PATH")).toBe("/usr/local/sbin/mailstack-https-public");
    expect(isScript(decoded(stdin, "SCRIPT_B64"), "https-public")).toBe(true);
    const sogo = byName("mailcow-tenants-sogo-restart");
    // Like every command on the VM, a script on stdin: the deploy user's sudo allows only `bash -s`.
    expect(String(plain(sogo?.inputs.create))).toBe("sudo bash -s");
    const restart = String(plain(sogo?.inputs.stdin));
    expect(isScript(restart, "sogo-restart")).toBe(true);
    expect(setting(restart, "MAILCOW_DIR")).toBe("/opt/mailcow-dockerized");
    for (const domain of ofType(result.run, "Domain")) expect(sogo?.dependencies).toContain(domain.urn);
    const outputs = redact(result.run.outputs) as { mailcowAdmin: unknown; admin: unknown };
    expect(outputs.mailcowAdmin).toEqual({ username: "admin", initialPassword: "[secret]" });
    expect(outputs.admin).toEqual({ username: "mailops", sudoPassword: "[secret]" });
    expect(plain(result.run.outputs.mailcowAdmin)).toMatchObject({
      username: "admin",
      initialPassword: expect.stringMatching(/^.{32}$/) as string,
    });
  });

  it("calls the API at the VM's LAN address, with TLS verified for the host name", async () => {
    const { result } = await planWithKeys();
    for (const resource of result.run.resources.filter((r) => r.type.startsWith(PREFIX))) {
      expect(plain(resource.inputs.connection), resource.name).toMatchObject({
        endpoint: "https://mail.xd-cloud.de",
        connectAddress: "10.3.0.4",
      });
    }
  });

  it("runs after the mailcow bring-up and does not wait on DNS records", async () => {
    const { result } = await planWithKeys();
    const up = result.run.resources.find((r) => r.name === "mailcow-up");
    for (const resource of result.run.resources.filter((r) => r.type.startsWith(PREFIX))) {
      const dependencies = dependencyClosure(result.run, resource.urn);
      expect(dependencies.has(up?.urn ?? ""), `${resource.name} after the bring-up`).toBe(true);
      for (const dependency of dependencies)
        expect(dependency, resource.name).not.toMatch(/dnsRecord|zoneDnssec|workers/);
    }
  });

  it("imports the same DKIM key the DNS record publishes, and keeps it secret", async () => {
    const { result, keys } = await planWithKeys();
    const [dkim] = ofType(result.run, "DkimKey");
    expect(isSecret(dkim?.inputs.privateKeyPem)).toBe(true);
    expect(isSecret(dkim?.inputs.connection)).toBe(true);
    const imported = createPublicKey(String(plain(dkim?.inputs.privateKeyPem)))
      .export({ type: "spki", format: "der" })
      .toString("base64");
    const outputs = redact(result.run.outputs) as StackOutputs;
    expect(outputs.domains["xd-cloud.de"]?.dkim.value).toContain(`p=${imported}`);
    expect(keys.get("dkim-key-xd-cloud.de")?.privateKeyPemPkcs8).toBe(plain(dkim?.inputs.privateKeyPem));
  });

  it("keeps mailbox passwords secret, also in the stack output", async () => {
    // After a deployment (a preview does not know yet which mailboxes were adopted).
    const { result } = await planWithKeys({}, { preview: false });
    for (const box of ofType(result.run, "Mailbox")) {
      expect(isSecret(box.inputs.password)).toBe(true);
      expect(box.options.additionalSecretOutputs).toEqual(expect.arrayContaining(["password", "connection"]));
    }
    expect((redact(result.run.outputs) as { mailboxInitialPasswords: unknown }).mailboxInitialPasswords).toBe(
      "[secret]",
    );
  });

  it("lists initial passwords only for mailboxes the stack created (an adopted one keeps its own)", async () => {
    const { result } = await planWithKeys(
      { "mailstack:mailcow": JSON.stringify({ adoptExisting: true }) },
      {
        preview: false,
        outputs: (resource) => ({
          ...playProviders(resource),
          ...(resource.type === `${PREFIX}Mailbox` && resource.name.endsWith("-admin@xd-cloud.de")
            ? { adopted: true }
            : {}),
        }),
      },
    );
    const passwords = plain(result.run.outputs.mailboxInitialPasswords) as Record<string, string>;
    expect(Object.keys(passwords).sort()).toEqual(["dmarc-reports@xd-cloud.de", "tls-reports@xd-cloud.de"]);
    for (const password of Object.values(passwords)) expect(password).toMatch(/^[A-Za-z0-9_.:+-]{24}$/);
  });

  it("pins the configured CA for the mailcow API instead of the system store", async () => {
    const { cert } = await loopbackCertificate();
    const { result } = await planWithKeys({ "mailstack:mailcow": JSON.stringify({ caCertificate: cert }) });
    for (const resource of result.run.resources.filter((r) => r.type.startsWith(PREFIX)))
      expect((plain(resource.inputs.connection) as { caCertificate?: string }).caCertificate, resource.name).toBe(cert);
  });

  it("follows config: 2FA off for a mailbox shows in the plan (the policy pack decides)", async () => {
    const domains = JSON.stringify([
      {
        name: "xd-cloud.de",
        zoneId: "b2c0cd330f2aec3ee83a4e26ee4f964f",
        mailboxes: [{ localPart: "bob", forceTfa: false }],
      },
    ]);
    const { result } = await planWithKeys({ "mailstack:domains": domains });
    expect(ofType(result.run, "Mailbox").map((r) => (plain(r.inputs.spec) as { forceTfa: boolean }).forceTfa)).toEqual([
      false,
    ]);
  });

  it("bounds every domain and every declared mailbox with a sending limit, and sets the password policy", async () => {
    const { result } = await planWithKeys();
    const limits = ofType(result.run, "RateLimit").map(
      (r) => plain(r.inputs) as { scope: string; object: string; value: number; frame: string },
    );
    const boxes = ofType(result.run, "Mailbox").map((r) => {
      const spec = plain(r.inputs.spec) as { localPart: string; domain: string };
      return `${spec.localPart}@${spec.domain}`;
    });
    expect(limits.filter((l) => l.scope === "domain")).toEqual([
      expect.objectContaining({ object: "xd-cloud.de", value: 1000, frame: "h" }),
    ]);
    expect(
      limits
        .filter((l) => l.scope === "mailbox")
        .map((l) => l.object)
        .sort(),
    ).toEqual(boxes.sort());
    for (const limit of limits.filter((l) => l.scope === "mailbox"))
      expect(limit).toMatchObject({ value: 200, frame: "h" });
    // Each limit comes after its object (mailcow refuses a limit for one it does not know).
    for (const limit of ofType(result.run, "RateLimit")) {
      const object = (plain(limit.inputs) as { object: string }).object;
      const target = result.run.resources.find((r) => r.name === `mailcow-tenants-${object}`);
      expect(limit.dependencies, limit.name).toContain(target?.urn);
    }
    const [policy] = ofType(result.run, "PasswordPolicy");
    expect(plain(policy?.inputs.policy)).toEqual({
      length: 12,
      letters: true,
      lowerUpper: true,
      numbers: true,
      specialChars: false,
    });
  });

  it("follows config: a mailbox's own limit and TLS policy, the defaults and the policy from mailstack:limits", async () => {
    const domains = JSON.stringify([
      {
        name: "xd-cloud.de",
        zoneId: "b2c0cd330f2aec3ee83a4e26ee4f964f",
        rateLimit: { value: 5000, frame: "d" },
        mailboxes: [
          { localPart: "bob", rateLimit: { value: 10, frame: "m" }, tlsEnforceIn: true, tlsEnforceOut: true },
          { localPart: "carol" },
        ],
      },
    ]);
    const limitsConfig = JSON.stringify({
      mailcow: { mailbox: { value: 50 } },
      passwordPolicy: { length: 16, specialChars: true },
    });
    const { result } = await planWithKeys({ "mailstack:domains": domains, "mailstack:limits": limitsConfig });
    const limit = (object: string) =>
      ofType(result.run, "RateLimit")
        .map((r) => plain(r.inputs) as { object: string; value: number; frame: string })
        .find((l) => l.object === object);
    expect(limit("xd-cloud.de")).toMatchObject({ value: 5000, frame: "d" });
    expect(limit("bob@xd-cloud.de")).toMatchObject({ value: 10, frame: "m" });
    expect(limit("carol@xd-cloud.de")).toMatchObject({ value: 50, frame: "h" });
    const bob = ofType(result.run, "Mailbox").find((r) => r.name === "mailcow-tenants-bob@xd-cloud.de");
    expect(plain(bob?.inputs.spec)).toMatchObject({ tlsEnforceIn: true, tlsEnforceOut: true });
    const carol = ofType(result.run, "Mailbox").find((r) => r.name === "mailcow-tenants-carol@xd-cloud.de");
    expect(plain(carol?.inputs.spec)).not.toHaveProperty("tlsEnforceIn");
    expect(plain(ofType(result.run, "PasswordPolicy")[0]?.inputs.policy)).toMatchObject({
      length: 16,
      specialChars: true,
    });
  });
});
