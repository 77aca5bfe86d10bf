// OpenSSH public key parsing for config validation (pure).
// A key line is "<type> <base64 blob> [comment]"; the blob starts with the type again
// (RFC 4253 §6.6), which catches keys pasted with the wrong prefix or truncated.

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

function readString(blob: Buffer, offset: number): [Buffer, number] | undefined {
  if (offset + 4 > blob.length) return undefined;
  const length = blob.readUInt32BE(offset);
  const end = offset + 4 + length;
  if (end > blob.length) return undefined;
  return [blob.subarray(offset + 4, end), end];
}

function mpintBits(value: Buffer): number {
  let index = 0;
  while (index < value.length && value[index] === 0) index++;
  if (index === value.length) return 0;
  const first = value[index] ?? 0;
  return (value.length - index - 1) * 8 + (32 - Math.clz32(first));
}

const POINT_LENGTH: Readonly<Record<string, number>> = { nistp256: 65, nistp384: 97, nistp521: 133 };

/** Checks the fields after the type string against RFC 4253, RFC 5656, RFC 8709 and OpenSSH's sk keys. */
function structureProblem(type: string, fields: readonly Buffer[]): string | undefined {
  const bad = "the key data does not match its type (truncated or mis-pasted key?)";
  const security = type.startsWith("sk-") ? 1 : 0;
  if (type === "ssh-rsa") return fields.length === 2 ? undefined : bad;
  if (type.includes("ed25519")) return fields.length === 1 + security && fields[0]?.length === 32 ? undefined : bad;
  const curve = fields[0]?.toString("latin1") ?? "";
  const point = fields[1];
  const expected = POINT_LENGTH[curve];
  if (fields.length !== 2 + security || !type.includes(curve) || expected === undefined) return bad;
  return point?.length === expected && point[0] === 4 ? undefined : bad;
}

/** Parses one key line; returns the key or a problem description. */
export function parseSshPublicKey(line: string): SshPublicKey | string {
  const parts = line.trim().split(/\s+/);
  const [type, data] = parts;
  if (!type || !data) return "must be one OpenSSH public key line: '<type> <base64> [comment]'";
  if (type === "ssh-dss") return "DSA keys are not accepted by current OpenSSH; use ssh-ed25519";
  if (!ACCEPTED.has(type)) return `unsupported key type "${type}"; use ssh-ed25519 (or ecdsa/rsa)`;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(data)) return "the key data is not base64";
  const blob = Buffer.from(data, "base64");
  const embedded = readString(blob, 0);
  if (!embedded || embedded[0].toString("latin1") !== type) {
    return "the key data does not match its type (truncated or mis-pasted key?)";
  }
  const fields: Buffer[] = [];
  let offset = embedded[1];
  while (offset < blob.length) {
    const field = readString(blob, offset);
    if (!field) return "the key data is truncated";
    fields.push(field[0]);
    offset = field[1];
  }
  const problem = structureProblem(type, fields);
  if (problem) return problem;
  if (type === "ssh-rsa") {
    const bits = mpintBits(fields[1] ?? Buffer.alloc(0));
    if (bits < MIN_RSA_BITS) return `RSA key of ${bits} bits; use ≥ ${MIN_RSA_BITS} bits or ssh-ed25519`;
    return { type, bits };
  }
  return { type };
}
