import { TYPES } from "../common/resource-types";
import { createPrivateKey, createPublicKey } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as cloudflare from "@pulumi/cloudflare";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import * as tls from "@pulumi/tls";
import { afterAll, describe, expect, it } from "vitest";
import {
  isSecret,
  isUnknown,
  plain,
  redact,
  runProgram,
  SECRET,
  SKIP_COMPONENT_INPUTS,
  skipsComponentInputs,
  UNKNOWN,
  type ProgramRun,
  type RecordedResource,
} from "../plan/engine";
import { runOk } from "./support/exec";
import { requireTool } from "./tools";

const options = { project: "mailstack", stack: "test", config: {} };

function find(run: ProgramRun, type: string, name: string): RecordedResource {
  const found = run.resources.find((r) => r.type === type && r.name === name);
  if (!found) throw new Error(`no ${type} named ${name}; have ${run.resources.map((r) => r.urn).join(", ")}`);
  return found;
}

class Widget extends pulumi.ComponentResource {
  readonly key: tls.PrivateKey;
  readonly ds: pulumi.Output<string>;
  constructor(name: string, args: { zone: string }, opts?: pulumi.ComponentResourceOptions) {
    super("mailstack:test:Widget", name, args, opts);
    this.key = new tls.PrivateKey(`${name}-key`, { algorithm: "RSA", rsaBits: 2048 }, { parent: this });
    const dnssec = new cloudflare.ZoneDnssec(
      `${name}-dnssec`,
      { zoneId: args.zone, status: "active" },
      { parent: this },
    );
    const password = new random.RandomPassword(
      `${name}-password`,
      { length: 24, special: false, minUpper: 3 },
      { parent: this },
    );
    new cloudflare.DnsRecord(
      `${name}-txt`,
      { zoneId: args.zone, name: "example.org", type: "TXT", ttl: 1, content: password.result, comment: dnssec.ds },
      { parent: this },
    );
    this.ds = dnssec.ds;
    this.registerOutputs({});
  }
}

const widgetProgram = () => {
  const widget = new Widget("w", { zone: "zone-1" });
  return { ds: widget.ds, pem: widget.key.privateKeyPem, plainText: "hello", nested: { secret: pulumi.secret("s") } };
};

describe("the mock engine", () => {
  it("records resources with engine URNs, parents and dependencies", async () => {
    const run = await runProgram(widgetProgram, options);
    const txt = find(run, TYPES.dnsRecord, "w-txt");
    expect(txt.urn).toBe(
      "urn:pulumi:test::mailstack::mailstack:test:Widget$cloudflare:index/dnsRecord:DnsRecord::w-txt",
    );
    expect(txt.parent).toBe("urn:pulumi:test::mailstack::mailstack:test:Widget::w");
    expect(txt.dependencies).toEqual([
      "urn:pulumi:test::mailstack::mailstack:test:Widget$cloudflare:index/zoneDnssec:ZoneDnssec::w-dnssec",
      "urn:pulumi:test::mailstack::mailstack:test:Widget$random:index/randomPassword:RandomPassword::w-password",
    ]);
    expect(find(run, "mailstack:test:Widget", "w").parent).toBe(
      "urn:pulumi:test::mailstack::pulumi:pulumi:Stack::mailstack-test",
    );
    expect(find(run, "mailstack:test:Widget", "w").inputs).toEqual({ zone: "zone-1" });
  });

  it("keeps secrets marked and shows provider-computed values as unknown in a preview", async () => {
    const run = await runProgram(widgetProgram, options);
    const txt = find(run, TYPES.dnsRecord, "w-txt");
    expect(isSecret(txt.inputs.content)).toBe(true);
    expect(isUnknown(txt.inputs.comment)).toBe(true);
    expect(redact(txt.inputs)).toMatchObject({ content: SECRET, comment: UNKNOWN, name: "example.org" });
    expect(redact(run.outputs)).toEqual({ ds: UNKNOWN, pem: SECRET, plainText: "hello", nested: { secret: SECRET } });
    expect(plain(txt.inputs.content)).toMatch(/^[A-Za-z0-9]{24}$/);
  });

  it("resolves provider-computed values (as absent) outside a preview", async () => {
    const run = await runProgram(widgetProgram, { ...options, preview: false });
    expect(redact(run.outputs)).toMatchObject({ plainText: "hello", pem: SECRET });
    expect(isUnknown(find(run, TYPES.dnsRecord, "w-txt").inputs.comment)).toBe(false);
  });

  it("generates random values that honour the requested character classes", async () => {
    const run = await runProgram(widgetProgram, options);
    const password = String(plain(find(run, TYPES.dnsRecord, "w-txt").inputs.content));
    expect(password).toHaveLength(24);
    expect(password.replace(/[^A-Z]/g, "").length).toBeGreaterThanOrEqual(3);
    expect(find(run, "random:index/randomPassword:RandomPassword", "w-password").generated).toBe(true);
  });

  it("fails loudly on a provider function it has no answer for", async () => {
    await expect(runProgram(() => ({ zone: cloudflare.getZoneOutput({ zoneId: "z" }).id }), options)).rejects.toThrow(
      /no offline answer for provider function cloudflare:index\/getZone:getZone/,
    );
  });

  it("answers provider functions from the call table", async () => {
    const run = await runProgram(() => ({ zone: cloudflare.getZoneOutput({ zoneId: "z" }).name }), {
      ...options,
      calls: { "cloudflare:index/getZone:getZone": (inputs) => ({ name: `zone-of-${String(inputs.zoneId)}` }) },
    });
    expect(redact(run.outputs)).toEqual({ zone: "zone-of-z" });
  });

  it("propagates a program error", async () => {
    await expect(
      runProgram(() => {
        throw new Error("boom");
      }, options),
    ).rejects.toThrow("boom");
  });

  it("fails with the error of a value that failed, instead of waiting for registrations that cannot complete", async () => {
    // A renderer that throws inside an apply: the command using the value can never be registered.
    // Waiting for it let the event loop drain and the SDK's leak detector replace the error with
    // "N promises were still active" at exit.
    const failing = () => {
      const text = pulumi.output("o'brien@example.org").apply((address): string => {
        throw new Error(`mailcow.conf value of WATCHDOG_NOTIFY_EMAIL cannot be written safely (${address})`);
      });
      new cloudflare.DnsRecord("r", { zoneId: "z", name: "example.org", type: "TXT", ttl: 1, content: text });
      return { text };
    };
    await expect(runProgram(failing, options)).rejects.toThrow(
      "mailcow.conf value of WATCHDOG_NOTIFY_EMAIL cannot be written safely (o'brien@example.org)",
    );
    // The runtime is usable again afterwards.
    expect(redact((await runProgram(widgetProgram, options)).outputs)).toMatchObject({ plainText: "hello" });
  });

  it("registers components without their inputs when told so, as the SDK does with PULUMI_NODEJS_SKIP_COMPONENT_INPUTS", async () => {
    const before = process.env[SKIP_COMPONENT_INPUTS];
    for (const skip of [false, true]) {
      const run = await runProgram(widgetProgram, { ...options, skipComponentInputs: skip });
      const widget = find(run, "mailstack:test:Widget", "w");
      expect(redact(widget.inputs)).toEqual(skip ? {} : { zone: "zone-1" });
      // Custom resources keep theirs.
      expect(redact(find(run, "cloudflare:index/zoneDnssec:ZoneDnssec", "w-dnssec").inputs)).toMatchObject({
        zoneId: "zone-1",
      });
    }
    expect(process.env[SKIP_COMPONENT_INPUTS]).toBe(before);
    // The SDK's own test of the variable: any non-empty value, "false" included.
    expect(skipsComponentInputs({ [SKIP_COMPONENT_INPUTS]: "false" })).toBe(true);
    expect(skipsComponentInputs({ [SKIP_COMPONENT_INPUTS]: "" })).toBe(false);
  });

  it("records a component's registered outputs, and leaves the SDK holding none of the run's resources", async () => {
    class Reporter extends pulumi.ComponentResource {
      constructor(name: string) {
        super("mailstack:test:Reporter", name);
        const record = new cloudflare.DnsRecord(
          `${name}-txt`,
          { zoneId: "zone-1", name: "example.org", type: "TXT", ttl: 1, content: "v=spf1 -all" },
          { parent: this },
        );
        this.registerOutputs({ content: record.content, count: 2 });
      }
    }
    const run = await runProgram(() => {
      new Reporter("r");
      return {};
    }, options);
    expect(redact(find(run, "mailstack:test:Reporter", "r").outputs ?? {})).toEqual({
      content: "v=spf1 -all",
      count: 2,
    });
    // The SDK's root Stack keeps every resource of a run (and their outputs) through its children
    // until it is replaced; the engine drops it once the run is recorded.
    expect(pulumi.runtime.getStackResource()).toBeUndefined();
  });

  it("passes config and secret keys like the CLI", async () => {
    const run = await runProgram(
      () => {
        const config = new pulumi.Config("mailstack");
        return { plainValue: config.require("a"), secretValue: config.requireSecret("b") };
      },
      { ...options, config: { "mailstack:a": "1", "mailstack:b": "2" }, secretKeys: ["mailstack:b"] },
    );
    expect(redact(run.outputs)).toEqual({ plainValue: "1", secretValue: SECRET });
  });
});

describe("locally generated keys", () => {
  const dir = mkdtempSync(join(tmpdir(), "mailstack-keys-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  interface KeyForms {
    privateKeyPem: string;
    pkcs8: string;
    publicKeyPem: string;
    openssh: string;
    fingerprint: string;
  }
  async function generated(args: tls.PrivateKeyArgs): Promise<KeyForms> {
    let values: pulumi.Output<KeyForms> | undefined;
    await runProgram(() => {
      const key = new tls.PrivateKey("k", args);
      values = pulumi
        .all([
          key.privateKeyPem,
          key.privateKeyPemPkcs8,
          key.publicKeyPem,
          key.publicKeyOpenssh,
          key.publicKeyFingerprintSha256,
        ])
        .apply(([privateKeyPem, pkcs8, publicKeyPem, openssh, fingerprint]) => ({
          privateKeyPem,
          pkcs8,
          publicKeyPem,
          openssh,
          fingerprint,
        }));
      return {};
    }, options);
    return new Promise((resolve) => values?.apply((v) => resolve(v)));
  }

  it.each([
    [{ algorithm: "RSA", rsaBits: 3072 }, "RSA PRIVATE KEY", "ssh-rsa"],
    [{ algorithm: "ECDSA", ecdsaCurve: "P256" }, "EC PRIVATE KEY", "ecdsa-sha2-nistp256"],
    [{ algorithm: "ED25519" }, "PRIVATE KEY", "ssh-ed25519"],
  ])(
    "produce %o keys whose public forms match the private key (checked with ssh-keygen)",
    async (args, pemType, sshType) => {
      requireTool("ssh-keygen");
      const key = await generated(args);
      expect(key.privateKeyPem).toContain(`-----BEGIN ${pemType}-----`);
      expect(key.pkcs8).toContain("-----BEGIN PRIVATE KEY-----");
      const derived = createPublicKey(createPrivateKey(key.privateKeyPem)).export({ format: "pem", type: "spki" });
      expect(key.publicKeyPem).toBe(derived);
      if (args.algorithm === "RSA") {
        expect(createPublicKey(key.publicKeyPem).asymmetricKeyDetails?.modulusLength).toBe(3072);
        // The key is assembled from two primes: OpenSSL checks its consistency (n = pq, d·e ≡ 1, CRT values).
        const check = await runOk("openssl", ["pkey", "-check", "-noout"], { input: key.privateKeyPem });
        expect(check).toMatch(/Key is valid/);
      }

      const file = join(dir, `${sshType}.pem`);
      expect(key.openssh.startsWith(`${sshType} `)).toBe(true);
      if (args.algorithm === "ED25519") {
        // OpenSSH cannot read Ed25519 PEM keys: compare the raw 32-byte key with the SPKI's.
        const blob = Buffer.from(key.openssh.split(" ")[1] ?? "", "base64");
        const spki = createPublicKey(key.publicKeyPem).export({ format: "der", type: "spki" });
        expect(blob.subarray(-32).equals(spki.subarray(-32))).toBe(true);
      } else {
        // ssh-keygen derives the same OpenSSH public key from the private key.
        writeFileSync(file, key.pkcs8, { mode: 0o600 });
        const fromPem = (await runOk("ssh-keygen", ["-y", "-m", "PKCS8", "-f", file])).trim();
        expect(key.openssh.trim()).toBe(fromPem.split(" ").slice(0, 2).join(" "));
      }
      writeFileSync(`${file}.pub`, key.openssh);
      const fingerprint = await runOk("ssh-keygen", ["-l", "-E", "sha256", "-f", `${file}.pub`]);
      expect(fingerprint).toContain(key.fingerprint);
    },
  );
});
