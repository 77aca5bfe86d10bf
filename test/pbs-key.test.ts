// The stack's PBS encryption key file (render/pbs-key.ts): the fingerprint recipe against
// proxmox-backup's own test vector and against an independent computation with the openssl
// command line (PBKDF2 and SHA-256, the primitives PBS takes from OpenSSL), and the file's shape.
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { PBS_KEY_CREATED, pbsKeyFile, pbsKeyFileFingerprint, pbsKeyFingerprint } from "../render/pbs-key";
import { run, runOk } from "./support/exec";
import { requireTool } from "./tools";

const FINGERPRINT_FORMAT = /^[0-9a-f]{2}(:[0-9a-f]{2}){31}$/;

/** sha256(sha256("Proxmox Backup Encryption Key Fingerprint") ‖ PBKDF2-HMAC-SHA256(key, "_id_key", 10, 32)) with openssl(1). */
async function opensslFingerprint(key: Buffer): Promise<string> {
  requireTool("openssl");
  const idKey = Buffer.from(
    (
      await runOk("openssl", [
        "kdf",
        "-keylen",
        "32",
        "-kdfopt",
        "digest:SHA256",
        "-kdfopt",
        `hexpass:${key.toString("hex")}`,
        "-kdfopt",
        "salt:_id_key",
        "-kdfopt",
        "iter:10",
        "PBKDF2",
      ])
    )
      .trim()
      .replaceAll(":", ""),
    "hex",
  );
  const sha256 = async (input: Buffer) => {
    const result = await run("openssl", ["dgst", "-sha256", "-binary"], { input });
    if (result.status !== 0) throw new Error(result.stderr);
    return result.stdoutBytes;
  };
  const constant = await sha256(Buffer.from("Proxmox Backup Encryption Key Fingerprint"));
  const digest = await sha256(Buffer.concat([constant, idKey]));
  return [...digest].map((byte) => byte.toString(16).padStart(2, "0")).join(":");
}

describe("PBS key fingerprint", () => {
  it("matches proxmox-backup's own test vector (pbs-key-config/src/lib.rs fingerprint_checks, v3.2.2)", () => {
    const key = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
    const expected = [
      14, 171, 212, 70, 11, 110, 185, 202, 52, 80, 35, 222, 226, 183, 120, 199, 144, 229, 74, 22, 131, 185, 101, 156,
      10, 87, 174, 25, 144, 144, 21, 155,
    ];
    expect(pbsKeyFingerprint(key)).toBe(expected.map((byte) => byte.toString(16).padStart(2, "0")).join(":"));
  });

  it("matches an independent computation with openssl for random and edge keys", async () => {
    const keys = [Buffer.alloc(32, 0), Buffer.alloc(32, 0xff), ...Array.from({ length: 4 }, () => randomBytes(32))];
    for (const key of keys) {
      const fingerprint = pbsKeyFingerprint(key);
      expect(fingerprint).toMatch(FINGERPRINT_FORMAT);
      expect(fingerprint).toBe(await opensslFingerprint(key));
    }
  });

  it("refuses a key that is not 32 bytes", () => {
    expect(() => pbsKeyFingerprint(Buffer.alloc(31))).toThrow(/32 bytes, not 31/);
  });
});

describe("PBS key file", () => {
  it("is the JSON `proxmox-backup-client key create --kdf none` writes, stable for one key", () => {
    const bytes = randomBytes(32);
    const file = pbsKeyFile(bytes.toString("base64"));
    const fingerprint = pbsKeyFingerprint(bytes);
    // Field order and compact form as serde_json writes KeyConfig; no trailing newline.
    expect(file).toBe(
      `{"kdf":null,"created":"${PBS_KEY_CREATED}","modified":"${PBS_KEY_CREATED}","data":"${bytes.toString("base64")}","fingerprint":"${fingerprint}"}`,
    );
    const parsed = JSON.parse(file) as { data: string; created: string; fingerprint: string };
    expect(Buffer.from(parsed.data, "base64")).toEqual(bytes);
    expect(Buffer.from(parsed.data, "base64")).toHaveLength(32);
    expect(parsed.fingerprint).toMatch(FINGERPRINT_FORMAT);
    // The only forms proxmox-time parses (posix.rs:318-336): seconds, then Z or ±HH:MM.
    expect(parsed.created).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(Z|[+-]\d{2}:\d{2})$/);
    expect(pbsKeyFile(bytes.toString("base64"))).toBe(file);
    expect(pbsKeyFileFingerprint(file)).toBe(fingerprint);
  });

  it("refuses inputs PBS would not load", () => {
    expect(() => pbsKeyFile(randomBytes(16).toString("base64"))).toThrow(/32 bytes as padded base64/);
    expect(() => pbsKeyFile(randomBytes(32).toString("base64"), new Date(0).toISOString())).toThrow(/timestamp/);
  });

  it("reads a key file's fingerprint the way PBS checks it", () => {
    const bytes = randomBytes(32);
    const data = bytes.toString("base64");
    const fingerprint = pbsKeyFingerprint(bytes);
    const file = (extra: Record<string, unknown>) =>
      JSON.stringify({ kdf: null, created: PBS_KEY_CREATED, modified: PBS_KEY_CREATED, data, ...extra });
    expect(pbsKeyFileFingerprint(file({}))).toBe(fingerprint); // optional on load
    expect(pbsKeyFileFingerprint(file({ fingerprint: fingerprint.toUpperCase() }))).toBe(fingerprint);
    expect(() => pbsKeyFileFingerprint(file({ fingerprint: pbsKeyFingerprint(Buffer.alloc(32)) }))).toThrow(
      /does not match its key/,
    );
    expect(() => pbsKeyFileFingerprint(file({ kdf: { Scrypt: {} } }))).toThrow(/passphrase/);
    expect(() => pbsKeyFileFingerprint("autogen")).toThrow(/not JSON/);
    expect(() => pbsKeyFileFingerprint("[1]")).toThrow(/not a JSON object/);
  });
});
