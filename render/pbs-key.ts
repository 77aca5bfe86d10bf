// The Proxmox Backup Server client-side encryption key, as the stack generates and keeps it: the
// key file `proxmox-backup-client key create --kdf none` writes, built from 32 key bytes (e.g.
// random.RandomBytes' base64) with a constant timestamp, so the file is the same on every run.
//
// Upstream (proxmox/proxmox-backup v3.2.2; unchanged on master 4940514b):
// - pbs-key-config/src/lib.rs:63-78 `KeyConfig` {kdf, created, modified, data, fingerprint?, hint?},
//   serialized in that order by serde_json (compact); `without_password` (:106-121) sets kdf None,
//   created = modified, data = the raw key, the fingerprint, no hint.
// - proxmox-backup-client/src/key.rs:89-100: `key create --kdf none` = 32 random bytes, then
//   `KeyConfig::without_password(key).store(path)`.
// - pbs-tools/src/crypt_config.rs: FINGERPRINT_INPUT = sha256("Proxmox Backup Encryption Key
//   Fingerprint") (:15-20); id_key = PBKDF2-HMAC-SHA256(password = key, salt = "_id_key", 10
//   rounds, 32 bytes) (:42-51); fingerprint = sha256(FINGERPRINT_INPUT ‖ id_key) (:79-84, :107-109).
// - pbs-api-types/src/crypto.rs:60-67: the fingerprint is printed as lowercase hex pairs joined by ':'.
// - proxmox-rs proxmox-time/src/posix.rs:318-336: timestamps parse only as `…SSZ` or `…SS±HH:MM`
//   (no fractional seconds); `data` is standard padded base64 (proxmox-base64).
// A stored fingerprint that does not match the key is fatal when the key is loaded
// (pbs-key-config/src/lib.rs:222-232), so it is always computed here, never taken from input.
import { createHash, pbkdf2Sync } from "node:crypto";

/** The constant creation time of the stack's key file (the format `key create` writes on a UTC host). */
export const PBS_KEY_CREATED = "2026-01-01T00:00:00+00:00";

const KEY_BYTES = 32;
const BASE64_32 = /^[A-Za-z0-9+/]{43}=$/;
const RFC3339_SECONDS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(Z|[+-]\d{2}:\d{2})$/;

/** The PBS fingerprint of a raw 32-byte key: 32 lowercase hex pairs joined by ':'. */
export function pbsKeyFingerprint(key: Uint8Array): string {
  if (key.length !== KEY_BYTES) throw new Error(`a PBS encryption key has ${KEY_BYTES} bytes, not ${key.length}`);
  const input = createHash("sha256").update("Proxmox Backup Encryption Key Fingerprint").digest();
  const idKey = pbkdf2Sync(key, "_id_key", 10, 32, "sha256");
  return [...createHash("sha256").update(input).update(idKey).digest()]
    .map((byte) => byte.toString(16).padStart(2, "0"))
    .join(":");
}

/** The raw key of base64 text that must encode exactly 32 bytes (padded, standard alphabet). */
export function pbsKeyBytes(base64: string): Buffer {
  if (!BASE64_32.test(base64)) {
    throw new Error(
      "the PBS encryption key must be 32 bytes as padded base64 (44 characters), e.g. RandomBytes.base64",
    );
  }
  return Buffer.from(base64, "base64");
}

/** The key file (JSON, no trailing newline) for a key given as base64 of 32 bytes. */
export function pbsKeyFile(keyBase64: string, created: string = PBS_KEY_CREATED): string {
  if (!RFC3339_SECONDS.test(created)) {
    throw new Error(`the key file's timestamp must be YYYY-MM-DDTHH:MM:SS followed by Z or ±HH:MM, not ${created}`);
  }
  const key = pbsKeyBytes(keyBase64);
  // Insertion order is serde's field order; JSON.stringify writes no whitespace, like serde_json.
  return JSON.stringify({
    kdf: null,
    created,
    modified: created,
    data: key.toString("base64"),
    fingerprint: pbsKeyFingerprint(key),
  });
}

/**
 * The fingerprint of a key file's key (computed from `data`). Throws when the text is not an
 * unencrypted key file or when its stored fingerprint does not match, as PBS would when loading it.
 */
export function pbsKeyFileFingerprint(keyFile: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(keyFile);
  } catch {
    throw new Error("the PBS encryption key is not JSON (expected a proxmox-backup-client key file)");
  }
  if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new Error("the PBS encryption key is not a JSON object (expected a proxmox-backup-client key file)");
  }
  const { kdf, data, fingerprint } = parsed as { kdf?: unknown; data?: unknown; fingerprint?: unknown };
  if (kdf !== null && kdf !== undefined) {
    throw new Error("the PBS encryption key is protected by a passphrase (kdf); PVE needs an unprotected key");
  }
  if (typeof data !== "string") throw new Error("the PBS encryption key file has no data member");
  const computed = pbsKeyFingerprint(pbsKeyBytes(data));
  // PBS compares the bytes (hex decoding accepts either case).
  if (fingerprint !== undefined && (typeof fingerprint !== "string" || fingerprint.toLowerCase() !== computed)) {
    throw new Error(`the PBS encryption key file's fingerprint does not match its key (the key's is ${computed})`);
  }
  return computed;
}
