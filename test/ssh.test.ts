import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseSshPublicKey } from "../config/ssh";
import { rsaSshKey } from "./fixtures";
import { runOk } from "./support/exec";
import { requireTool } from "./tools";

const dir = mkdtempSync(join(tmpdir(), "mailstack-ssh-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let counter = 0;
async function keygen(type: string, bits?: number): Promise<string> {
  requireTool("ssh-keygen");
  const file = join(dir, `key-${counter++}`);
  await runOk("ssh-keygen", [
    "-q",
    "-N",
    "",
    "-C",
    "test@example.org",
    "-t",
    type,
    ...(bits ? ["-b", String(bits)] : []),
    "-f",
    file,
  ]);
  return readFileSync(`${file}.pub`, "utf8").trim();
}

describe("SSH public keys", () => {
  it.each([
    ["ed25519", undefined, "ssh-ed25519"],
    ["ecdsa", 256, "ecdsa-sha2-nistp256"],
    ["ecdsa", 384, "ecdsa-sha2-nistp384"],
    ["ecdsa", 521, "ecdsa-sha2-nistp521"],
    ["rsa", 3072, "ssh-rsa"],
  ])("accepts a real %s %s key from ssh-keygen", async (type, bits, expected) => {
    expect(parseSshPublicKey(await keygen(type, bits))).toMatchObject({ type: expected });
  });

  it("measures the RSA modulus", async () => {
    expect(parseSshPublicKey(await keygen("rsa", 4096))).toEqual({ type: "ssh-rsa", bits: 4096 });
  });

  it("rejects RSA keys under 3072 bits", () => {
    expect(parseSshPublicKey(rsaSshKey(2048))).toMatch(/2048 bits/);
  });

  it("rejects a key whose data belongs to another type", async () => {
    const [, data] = (await keygen("ed25519")).split(" ");
    expect(parseSshPublicKey(`ssh-rsa ${data ?? ""}`)).toMatch(/does not match its type/);
  });

  it("rejects a key with data cut off", async () => {
    const [type, data] = (await keygen("ecdsa", 256)).split(" ");
    expect(parseSshPublicKey(`${type ?? ""} ${(data ?? "").slice(0, 60)}`)).toMatch(/truncated|does not match|base64/);
  });

  it("rejects a private key pasted by mistake", () => {
    expect(parseSshPublicKey("-----BEGIN OPENSSH PRIVATE KEY-----")).toMatch(
      /unsupported key type|one OpenSSH public key line/,
    );
  });
});

describe("FIDO security keys (OpenSSH PROTOCOL.u2f)", () => {
  const blob = (...fields: string[]) =>
    Buffer.concat(
      fields.map((field) => {
        const length = Buffer.alloc(4);
        length.writeUInt32BE(field.length);
        return Buffer.concat([length, Buffer.from(field, "latin1")]);
      }),
    ).toString("base64");

  it("accepts an sk-ssh-ed25519 key whose data names its type", () => {
    const type = "sk-ssh-ed25519@openssh.com";
    expect(parseSshPublicKey(`${type} ${blob(type, "k".repeat(32), "ssh:")} me@laptop`)).toEqual({ type });
  });

  it("rejects an sk key whose data names another type or stops after the type", () => {
    const type = "sk-ecdsa-sha2-nistp256@openssh.com";
    expect(parseSshPublicKey(`${type} ${blob("ssh-ed25519", "k".repeat(32))}`)).toMatch(/does not match its type/);
    expect(parseSshPublicKey(`${type} ${blob(type)}`)).toMatch(/truncated/);
  });
});
