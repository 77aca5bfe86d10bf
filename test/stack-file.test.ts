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

describe("hostile stack files: a StackFileError naming the file, never a stack trace", () => {
  const write = (name: string, body: string) => {
    writeFileSync(join(dir, `Pulumi.${name}.yaml`), body);
    return name;
  };
  const nested = (depth: number, open: string, close: string) => `${open.repeat(depth)}${close.repeat(depth)}`;
  const billion = (levels: number, width: number) => [
    "config:",
    `  x0: &a0 [${Array.from({ length: width }, () => "lol").join(", ")}]`,
    ...Array.from(
      { length: levels },
      (_, i) => `  x${i + 1}: &a${i + 1} [${Array.from({ length: width }, () => `*a${i}`).join(", ")}]`,
    ),
  ];
  const cases: [string, string, RegExp][] = [
    ["an alias without anchor", "config:\n  mailstack:hostname: *nope\n", /Unresolved alias.*write the values out/],
    ["an alias before its anchor", "config:\n  a: *x\n  b: &x 1\n", /Unresolved alias/],
    ["a self-referencing anchor (sequence)", "config:\n  a: &x [*x]\n", /refers to itself/],
    ["a self-referencing anchor (mapping)", "config:\n  a: &x {b: *x}\n", /refers to itself/],
    ...[3, 6, 9].map((levels): [string, string, RegExp] => [
      `an alias bomb of ${levels} levels`,
      `${billion(levels, 10).join("\n")}\n`,
      /Excessive alias count/,
    ]),
    ...[100, 1000, 5000].flatMap((depth): [string, string, RegExp][] => [
      [`${depth} nested flow sequences`, `config:\n  mailstack:x: ${nested(depth, "[", "]")}\n`, /nest/],
      [`${depth} nested flow mappings`, `config:\n  mailstack:x: ${nested(depth, "{a: ", "}")}\n`, /nest/],
    ]),
  ];
  it.each(cases)("%s", (_, body, message) => {
    const name = write(`hostile${cases.findIndex(([title]) => title === _)}`, body);
    let error: unknown;
    try {
      readStackConfig(dir, name);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(StackFileError);
    expect((error as Error).message).toContain(`Pulumi.${name}.yaml`);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toMatch(/Maximum call stack/);
  });
});
