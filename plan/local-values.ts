// Offline stand-ins for the providers whose values the stack generates itself: @pulumi/tls
// private keys and @pulumi/random values are generated here with node:crypto, so that
// everything derived from them (TLSA hashes, DKIM records, policy ids) is real and can be
// checked. They are preview values: a real `pulumi up` generates its own.
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPair,
  generatePrime,
  randomBytes,
  randomInt,
  randomUUID,
  type KeyObject,
} from "node:crypto";
import { promisify } from "node:util";

const generateKeyPairAsync = promisify(generateKeyPair);

type Inputs = Readonly<Record<string, unknown>>;
export type Generated = Record<string, unknown>;

function num(value: unknown, fallback: number): number {
  return typeof value === "number" ? value : fallback;
}
function bool(value: unknown, fallback: boolean): boolean {
  return typeof value === "boolean" ? value : fallback;
}

// ---- @pulumi/tls PrivateKey -------------------------------------------------------------

function sshString(data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  return Buffer.concat([length, data]);
}
function sshMpint(unsigned: Buffer): Buffer {
  let start = 0;
  while (start < unsigned.length - 1 && unsigned[start] === 0) start++;
  const trimmed = unsigned.subarray(start);
  return sshString((trimmed[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.alloc(1), trimmed]) : trimmed);
}

const CURVES: Readonly<Record<string, { node: string; ssh?: string }>> = {
  P224: { node: "secp224r1" },
  P256: { node: "prime256v1", ssh: "nistp256" },
  P384: { node: "secp384r1", ssh: "nistp384" },
  P521: { node: "secp521r1", ssh: "nistp521" },
};

/** OpenSSH public key blob (RFC 4253 / RFC 5656 / RFC 8709), or undefined for P224. */
function opensshBlob(publicKey: KeyObject): { type: string; blob: Buffer } | undefined {
  const jwk = publicKey.export({ format: "jwk" });
  const b64 = (value: string | undefined) => Buffer.from(value ?? "", "base64url");
  if (jwk.kty === "RSA") {
    return {
      type: "ssh-rsa",
      blob: Buffer.concat([sshString(Buffer.from("ssh-rsa")), sshMpint(b64(jwk.e)), sshMpint(b64(jwk.n))]),
    };
  }
  if (jwk.kty === "OKP") {
    return { type: "ssh-ed25519", blob: Buffer.concat([sshString(Buffer.from("ssh-ed25519")), sshString(b64(jwk.x))]) };
  }
  const curve = Object.values(CURVES).find((c) => c.ssh && jwk.crv === `P-${c.ssh.slice(5)}`);
  if (!curve?.ssh) return undefined;
  const type = `ecdsa-sha2-${curve.ssh}`;
  const point = Buffer.concat([Buffer.from([4]), b64(jwk.x), b64(jwk.y)]);
  return {
    type,
    blob: Buffer.concat([sshString(Buffer.from(type)), sshString(Buffer.from(curve.ssh)), sshString(point)]),
  };
}

export interface KeySpec {
  readonly algorithm: "RSA" | "ECDSA" | "ED25519";
  readonly rsaBits: number;
  readonly ecdsaCurve: string;
}

interface KeyPair {
  readonly publicKey: KeyObject;
  readonly privateKey: KeyObject;
}

/** The key a tls.PrivateKey asks for, with the provider's defaults (RSA 2048, P224). */
export function keySpecOf(inputs: Inputs): KeySpec {
  const algorithm = typeof inputs.algorithm === "string" ? inputs.algorithm : "RSA";
  if (algorithm !== "RSA" && algorithm !== "ECDSA" && algorithm !== "ED25519") {
    throw new Error(`tls.PrivateKey: unsupported algorithm ${algorithm}`);
  }
  const ecdsaCurve = typeof inputs.ecdsaCurve === "string" ? inputs.ecdsaCurve : "P224";
  return { algorithm, rsaBits: num(inputs.rsaBits, 2048), ecdsaCurve };
}

function specId(spec: KeySpec): string {
  return spec.algorithm === "RSA"
    ? `RSA-${spec.rsaBits}`
    : spec.algorithm === "ECDSA"
      ? `ECDSA-${spec.ecdsaCurve}`
      : "ED25519";
}

// ---- RSA from two primes searched in parallel ----------------------------------------------
// OpenSSL's RSA key generation finds p and q one after the other and has a long tail (RSA 4096:
// median 1.4 s, seen 5.6 s on this machine). Preview keys only need to be valid RSA keys, so the
// plan searches both primes at once (median 0.5 s, tail about 1 s) and assembles the key.

const E = 65537n;

function primeOf(bits: number): Promise<bigint> {
  return new Promise((resolve, reject) =>
    generatePrime(bits, { bigint: true }, (error, prime) => (error ? reject(error) : resolve(prime))),
  );
}

function modInverse(a: bigint, m: bigint): bigint {
  let [oldR, r] = [((a % m) + m) % m, m];
  let [oldS, s] = [1n, 0n];
  while (r !== 0n) {
    const quotient = oldR / r;
    [oldR, r] = [r, oldR - quotient * r];
    [oldS, s] = [s, oldS - quotient * s];
  }
  if (oldR !== 1n) throw new Error("not invertible");
  return ((oldS % m) + m) % m;
}

function gcd(a: bigint, b: bigint): bigint {
  while (b !== 0n) [a, b] = [b, a % b];
  return a;
}

function base64url(value: bigint): string {
  let hex = value.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  return Buffer.from(hex, "hex").toString("base64url");
}

async function rsaKeyPair(bits: number): Promise<KeyPair> {
  const usable = async (): Promise<bigint> => {
    for (;;) {
      const prime = await primeOf(bits / 2);
      if (gcd(E, prime - 1n) === 1n) return prime;
    }
  };
  for (;;) {
    const [p, q] = await Promise.all([usable(), usable()]);
    const n = p * q;
    if (p === q || n.toString(2).length !== bits) continue;
    const lambda = ((p - 1n) * (q - 1n)) / gcd(p - 1n, q - 1n);
    const d = modInverse(E, lambda);
    const privateKey = createPrivateKey({
      format: "jwk",
      key: {
        kty: "RSA",
        n: base64url(n),
        e: base64url(E),
        d: base64url(d),
        p: base64url(p),
        q: base64url(q),
        dp: base64url(d % (p - 1n)),
        dq: base64url(d % (q - 1n)),
        qi: base64url(modInverse(q, p)),
      },
    });
    return { privateKey, publicKey: createPublicKey(privateKey) };
  }
}

function generateKeyPairFor(spec: KeySpec): Promise<KeyPair> {
  if (spec.algorithm === "RSA") return rsaKeyPair(spec.rsaBits);
  if (spec.algorithm === "ED25519") return generateKeyPairAsync("ed25519", {});
  const curve = CURVES[spec.ecdsaCurve];
  if (!curve) return Promise.reject(new Error(`tls.PrivateKey: unsupported ecdsaCurve ${spec.ecdsaCurve}`));
  return generateKeyPairAsync("ec", { namedCurve: curve.node });
}

/**
 * Key pairs generated ahead of need: the plan starts the keys it expects while the program
 * loads, so that key generation overlaps with it. A request the pool cannot serve is generated
 * on the spot.
 */
export class KeyPool {
  private readonly ready = new Map<string, Promise<KeyPair>[]>();

  prewarm(spec: KeySpec, count: number): void {
    const list = this.ready.get(specId(spec)) ?? [];
    for (let i = 0; i < count; i++) {
      const pair = generateKeyPairFor(spec);
      pair.catch(() => undefined); // surfaced when taken
      list.push(pair);
    }
    this.ready.set(specId(spec), list);
  }

  take(spec: KeySpec): Promise<KeyPair> {
    return this.ready.get(specId(spec))?.shift() ?? generateKeyPairFor(spec);
  }
}

async function privateKey(inputs: Inputs, pool: KeyPool | undefined): Promise<Generated> {
  const spec = keySpecOf(inputs);
  const pair = await (pool ? pool.take(spec) : generateKeyPairFor(spec));
  const traditional = spec.algorithm === "RSA" ? "pkcs1" : spec.algorithm === "ECDSA" ? "sec1" : "pkcs8";
  const pem = (key: KeyObject, type: "pkcs1" | "sec1" | "pkcs8" | "spki") =>
    key.export({ format: "pem", type }).toString();
  const result: Generated = {
    privateKeyPem: pem(pair.privateKey, traditional),
    privateKeyPemPkcs8: pem(pair.privateKey, "pkcs8"),
    publicKeyPem: pem(pair.publicKey, "spki"),
  };
  const ssh = opensshBlob(pair.publicKey);
  if (ssh) {
    result.publicKeyOpenssh = `${ssh.type} ${ssh.blob.toString("base64")}\n`;
    result.publicKeyFingerprintSha256 = `SHA256:${createHash("sha256").update(ssh.blob).digest("base64").replace(/=+$/, "")}`;
    result.publicKeyFingerprintMd5 = (createHash("md5").update(ssh.blob).digest("hex").match(/../g) ?? []).join(":");
  }
  return result;
}

// ---- @pulumi/random ---------------------------------------------------------------------

const DEFAULT_SPECIAL = "!@#$%&*()-_=+[]{}<>:?";

function randomText(inputs: Inputs): string {
  const length = num(inputs.length, 16);
  const classes: { chars: string; min: number }[] = [];
  if (bool(inputs.lower, true)) classes.push({ chars: "abcdefghijklmnopqrstuvwxyz", min: num(inputs.minLower, 0) });
  if (bool(inputs.upper, true)) classes.push({ chars: "ABCDEFGHIJKLMNOPQRSTUVWXYZ", min: num(inputs.minUpper, 0) });
  if (bool(inputs.numeric, bool(inputs.number, true)))
    classes.push({ chars: "0123456789", min: num(inputs.minNumeric, 0) });
  if (bool(inputs.special, true)) {
    const special = typeof inputs.overrideSpecial === "string" ? inputs.overrideSpecial : DEFAULT_SPECIAL;
    if (special.length > 0) classes.push({ chars: special, min: num(inputs.minSpecial, 0) });
  }
  if (classes.length === 0) throw new Error("random: every character class is disabled");
  const pick = (chars: string) => chars[randomInt(chars.length)] ?? "";
  const chars: string[] = classes.flatMap((c) => Array.from({ length: c.min }, () => pick(c.chars)));
  const all = classes.map((c) => c.chars).join("");
  while (chars.length < length) chars.push(pick(all));
  for (let i = chars.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [chars[i], chars[j]] = [chars[j] ?? "", chars[i] ?? ""];
  }
  return chars.join("");
}

const generators: Readonly<Record<string, (inputs: Inputs, pool?: KeyPool) => Generated | Promise<Generated>>> = {
  "tls:index/privateKey:PrivateKey": privateKey,
  "random:index/randomPassword:RandomPassword": (inputs) => ({ result: randomText(inputs) }),
  "random:index/randomString:RandomString": (inputs) => ({ result: randomText(inputs) }),
  "random:index/randomBytes:RandomBytes": (inputs) => {
    const bytes = randomBytes(num(inputs.length, 32));
    return { base64: bytes.toString("base64"), hex: bytes.toString("hex") };
  },
  "random:index/randomId:RandomId": (inputs) => {
    const bytes = randomBytes(num(inputs.byteLength, 8));
    const prefix = typeof inputs.prefix === "string" ? inputs.prefix : "";
    return {
      hex: prefix + bytes.toString("hex"),
      b64Std: prefix + bytes.toString("base64"),
      b64Url: prefix + bytes.toString("base64url"),
      dec: prefix + BigInt(`0x${bytes.toString("hex") || "0"}`).toString(),
    };
  },
  "random:index/randomInteger:RandomInteger": (inputs) => ({
    result: randomInt(num(inputs.min, 0), num(inputs.max, 0) + 1),
  }),
  "random:index/randomUuid:RandomUuid": () => ({ result: randomUUID() }),
};

/** Whether values of this resource type are generated locally during the plan. */
export function generatesLocally(type: string): boolean {
  return type in generators;
}

/** Generates the output values of a locally generated resource type. */
export async function generateLocally(type: string, inputs: Inputs, pool?: KeyPool): Promise<Generated> {
  const generator = generators[type];
  if (!generator) throw new Error(`no local generator for ${type}`);
  return generator(inputs, pool);
}
