// OpenSSH public key validation for the stack config (pure), on sshpk 1.18.0: it decodes the
// blob (RFC 4253 §6.6, RFC 5656, RFC 8709) and reports type, curve and size. A key line is
// "<type> <base64 blob> [comment]"; the blob repeats the type, which catches keys pasted with the
// wrong prefix or cut off.
import sshpk from "sshpk";

export interface SshPublicKey {
  readonly type: string;
  /** Modulus size for RSA keys. */
  readonly bits?: number;
}

const ACCEPTED = new Set([
  "ssh-ed25519",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp521",
  "sk-ssh-ed25519@openssh.com",
  "sk-ecdsa-sha2-nistp256@openssh.com",
  "ssh-rsa",
]);

const MIN_RSA_BITS = 3072;
const MISMATCH = "the key data does not match its type (truncated or mis-pasted key?)";

/**
 * FIDO keys (OpenSSH PROTOCOL.u2f) are unknown to sshpk (lib/formats/ssh.js knows the plain
 * types only): their blob is checked for the embedded type string alone.
 */
function securityKeyProblem(type: string, blob: Buffer): string | undefined {
  if (blob.length < 4) return MISMATCH;
  const length = blob.readUInt32BE(0);
  if (4 + length > blob.length || blob.subarray(4, 4 + length).toString("latin1") !== type) return MISMATCH;
  return blob.length > 4 + length ? undefined : "the key data is truncated";
}

/** Parses one key line; returns the key or a problem description. */
/**
 * The characters a key comment may hold. The key line ends up in authorized_keys and cloud-init
 * user-data, and scripts carry it: no quotes, `$`, backslashes or backticks, so the comment can
 * never become an option, a second line or shell text.
 */
const COMMENT = /^[A-Za-z0-9@._+:,=/ ()-]*$/;

/** C0 and C1 control characters, DEL, and the Unicode line and paragraph separators. */
function isControl(char: string): boolean {
  const code = char.codePointAt(0) ?? 0;
  return code < 0x20 || (code >= 0x7f && code <= 0x9f) || code === 0x2028 || code === 0x2029;
}

export function parseSshPublicKey(line: string): SshPublicKey | string {
  // One authorized_keys line: a line break (or any control character) would add a second key or
  // options such as permitlisten= after the checked one (sshd reads authorized_keys line by line).
  if ([...line].some(isControl))
    return "must be one line without control characters (a line break would smuggle a second key or options into authorized_keys)";
  const parts = line.trim().split(/\s+/);
  const comment = parts.slice(2).join(" ");
  if (!COMMENT.test(comment))
    return `the comment "${comment.replace(/[^\x20-\x7e]/g, "?")}" may only hold letters, digits, spaces and @._+:,=/()-`;
  if (/MAILSTACK_/i.test(comment)) return "the comment must not contain a here-document delimiter (MAILSTACK_…)";
  const [type, data] = parts;
  if (!type || !data) return "must be one OpenSSH public key line: '<type> <base64> [comment]'";
  if (type === "ssh-dss") return "DSA keys are not accepted by current OpenSSH; use ssh-ed25519";
  if (!ACCEPTED.has(type)) return `unsupported key type "${type}"; use ssh-ed25519 (or ecdsa/rsa)`;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(data)) return "the key data is not base64";
  if (type.startsWith("sk-")) return securityKeyProblem(type, Buffer.from(data, "base64")) ?? { type };
  let key: sshpk.Key;
  try {
    key = sshpk.parseKey(`${type} ${data}`, "ssh");
  } catch {
    return MISMATCH;
  }
  // sshpk reads the type from the blob; the line's own prefix must agree with it.
  if (key.toString("ssh").split(" ")[0] !== type) return MISMATCH;
  if (key.type === "rsa") {
    if (key.size < MIN_RSA_BITS) return `RSA key of ${key.size} bits; use ≥ ${MIN_RSA_BITS} bits or ssh-ed25519`;
    return { type, bits: key.size };
  }
  return { type };
}
