// Reading the engine's wire values (plan/engine.ts records them): secrets, unknowns, assets and
// resource references as the plan, the policy pack and the tests see them.
import { wire as rpc } from "../common/sdk-internals";

/** A value in the engine's wire form: secrets, unknowns, assets and resource references are tagged. */
export type WireValue = unknown;

export const SECRET = "[secret]";
export const UNKNOWN = "[unknown]";

function sigOf(value: unknown): string | undefined {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return undefined;
  const sig = (value as Record<string, unknown>)[rpc.specialSigKey];
  return typeof sig === "string" ? sig : undefined;
}

/** True when a wire value is, or directly wraps, a secret. */
export function isSecret(value: WireValue): boolean {
  const sig = sigOf(value);
  if (sig === rpc.specialSecretSig) return true;
  return sig === rpc.specialOutputValueSig && (value as { secret?: boolean }).secret === true;
}

export function isUnknown(value: WireValue): boolean {
  if (value === rpc.unknownValue) return true;
  return sigOf(value) === rpc.specialOutputValueSig && !("value" in (value as object));
}

function convert(value: WireValue, secret: (inner: WireValue) => unknown, unknown: unknown = UNKNOWN): unknown {
  if (isSecret(value)) return secret((value as { value?: unknown }).value);
  if (isUnknown(value)) return unknown;
  if (Array.isArray(value)) return value.map((item) => convert(item, secret, unknown));
  if (value === null || typeof value !== "object") return value;
  const object = value as Record<string, unknown>;
  const sig = sigOf(object);
  if (sig === rpc.specialResourceSig) return object.urn;
  if (sig === rpc.specialOutputValueSig) return convert(object.value, secret, unknown);
  if (sig === rpc.specialAssetSig) return { asset: object.text ?? object.path ?? object.uri };
  if (sig === rpc.specialArchiveSig) {
    return { archive: object.path ?? object.uri ?? convert(object.assets, secret, unknown) };
  }
  const result: Record<string, unknown> = {};
  for (const key of Object.keys(object).sort()) result[key] = convert(object[key], secret, unknown);
  return result;
}

/**
 * A wire value as the policy SDK hands it to rules: secrets unwrapped, values a preview cannot
 * know as the SDK's unknown sentinel (its proxy then throws when a rule reads them).
 */
export function policyView(value: WireValue): unknown {
  return convert(value, (inner) => policyView(inner), rpc.unknownValue);
}

/** JSON-safe view of a wire value with every secret replaced by "[secret]". */
export function redact(value: WireValue): unknown {
  return convert(value, () => SECRET);
}

/** JSON-safe view of a wire value with secrets unwrapped (for tests that check real content). */
export function plain(value: WireValue): unknown {
  return convert(value, (inner) => plain(inner));
}
