// Offline stand-ins for the providers whose values the stack generates itself: @pulumi/tls
// private keys and @pulumi/random values are generated here with node:crypto, so that
// everything derived from them (TLSA hashes, DKIM records, policy ids) is real and can be
// checked. They are preview values: a real `pulumi up` generates its own.
import { generateKeyPair, randomBytes, randomInt, randomUUID, type KeyObject } from "node:crypto";
import { promisify } from "node:util";
import sshpk from "sshpk";

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

const CURVES: Readonly<Record<string, string>> = {
  P224: "secp224r1",
  P256: "prime256v1",
  P384: "secp384r1",
  P521: "secp521r1",
};

/**
 * The OpenSSH form of a public key and its fingerprints, by sshpk 1.18.0 (lib/formats/ssh.js,
 * lib/fingerprint.js), in the shapes @pulumi/tls reports them; undefined for a curve OpenSSH has
 * no key type for (P224), where the provider leaves them empty too.
 */
function opensshValues(publicKey: KeyObject): Generated | undefined {
  let key: sshpk.Key;
  try {
    key = sshpk.parseKey(publicKey.export({ format: "pem", type: "spki" }).toString(), "pem");
  } catch {
    return undefined;
  }
  const [type, blob] = key.toString("ssh").split(" ");
  return {
    publicKeyOpenssh: `${type ?? ""} ${blob ?? ""}\n`,
    publicKeyFingerprintSha256: key.fingerprint("sha256").toString(),
    publicKeyFingerprintMd5: key.fingerprint("md5").toString("hex"),
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

/** A key spec as one word (RSA-2048, ECDSA-P256, ED25519). */
export function specId(spec: KeySpec): string {
  return spec.algorithm === "RSA"
    ? `RSA-${spec.rsaBits}`
    : spec.algorithm === "ECDSA"
      ? `ECDSA-${spec.ecdsaCurve}`
      : "ED25519";
}

function generateKeyPairFor(spec: KeySpec): Promise<KeyPair> {
  if (spec.algorithm === "RSA") return generateKeyPairAsync("rsa", { modulusLength: spec.rsaBits });
  if (spec.algorithm === "ED25519") return generateKeyPairAsync("ed25519", {});
  const namedCurve = CURVES[spec.ecdsaCurve];
  if (!namedCurve) return Promise.reject(new Error(`tls.PrivateKey: unsupported ecdsaCurve ${spec.ecdsaCurve}`));
  return generateKeyPairAsync("ec", { namedCurve });
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

  /** How many keys of this spec are generated ahead and not yet taken. */
  waiting(spec: KeySpec): number {
    return this.ready.get(specId(spec))?.length ?? 0;
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
  return { ...result, ...opensshValues(pair.publicKey), ...opensshPrivateKey(pair.privateKey) };
}

/**
 * The private key in OpenSSH's own format ("BEGIN OPENSSH PRIVATE KEY", unencrypted), as
 * @pulumi/tls reports privateKeyOpenssh (ssh.MarshalPrivateKey); by sshpk 1.18.0
 * (lib/formats/ssh-private.js). Undefined where OpenSSH has no key type (P224).
 */
function opensshPrivateKey(key: KeyObject): Generated | undefined {
  try {
    const parsed = sshpk.parsePrivateKey(key.export({ format: "pem", type: "pkcs8" }).toString(), "pem");
    return { privateKeyOpenssh: parsed.toString("openssh") };
  } catch {
    return undefined;
  }
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
