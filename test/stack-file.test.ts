import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { readStackConfig, SECRET_PLACEHOLDER, StackFileError } from "../plan/stack-file";

const dir = mkdtempSync(join(tmpdir(), "mailstack-stackfile-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

writeFileSync(
  join(dir, "Pulumi.yaml"),
  [
    "name: mailstack",
    "runtime: nodejs",
    "config:",
    "  mailstack:timezone:",
    "    default: UTC",
    "  mailstack:tlsMinVersion: '1.3'",
    "",
  ].join("\n"),
);
writeFileSync(
  join(dir, "Pulumi.dev.yaml"),
  [
    "encryptionsalt: v1:abc",
    "config:",
    "  hostname: mail.example.org",
    "  mailstack:tlsMinVersion: 1.2",
    "  mailstack:timezone: Europe/Berlin",
    "  mailstack:vm:",
    "    cores: 8",
    "    protection: false",
    "  mailstack:admin:",
    "    sshCidrs: [10.0.0.0/8]",
    "  mailstack:cloudflareApiToken:",
    "    secure: v1:Zm9vYmFy",
    "  aws:region: eu-central-1",
    "  mailstack:flag: true",
    "",
  ].join("\n"),
);

describe("reading stack files like the Pulumi CLI", () => {
  const config = readStackConfig(dir, "dev");

  it("prefixes keys without namespace with the project name", () => {
    expect(config.values["mailstack:hostname"]).toBe("mail.example.org");
    expect(config.values["aws:region"]).toBe("eu-central-1");
  });

  it("passes scalars as written and structured values as JSON", () => {
    expect(config.values["mailstack:tlsMinVersion"]).toBe("1.2");
    expect(config.values["mailstack:flag"]).toBe("true");
    expect(JSON.parse(config.values["mailstack:vm"] ?? "")).toEqual({ cores: 8, protection: false });
    expect(JSON.parse(config.values["mailstack:admin"] ?? "")).toEqual({ sshCidrs: ["10.0.0.0/8"] });
  });

  it("lets the stack file override project defaults", () => {
    expect(config.values["mailstack:timezone"]).toBe("Europe/Berlin");
  });

  it("replaces encrypted values by a secret placeholder", () => {
    expect(config.values["mailstack:cloudflareApiToken"]).toBe(SECRET_PLACEHOLDER);
    expect(config.secretKeys).toEqual(["mailstack:cloudflareApiToken"]);
    expect(config.encrypted).toEqual(["mailstack:cloudflareApiToken"]);
  });

  it("fails clearly on a missing stack file or broken YAML", () => {
    expect(() => readStackConfig(dir, "nope")).toThrow(StackFileError);
    writeFileSync(join(dir, "Pulumi.broken.yaml"), "config:\n  a: [1,\n");
    expect(() => readStackConfig(dir, "broken")).toThrow(/not valid YAML/);
  });
});
