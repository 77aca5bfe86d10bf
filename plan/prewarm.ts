// The keys the program is expected to generate for a stack, read leniently from the raw
// config, so that the plan can start generating them before the program has even loaded.
// It mirrors the program's key declarations (components/keys.ts: one RSA key per TLS key
// slot and one DKIM key per hosted domain). Getting it wrong costs time, not results.
import { NAMESPACE } from "../config/load";
import { DKIM_KEY_BITS, MAIL_TLS_KEY_BITS } from "../render/keys";
import { KeyPool, type KeySpec } from "./local-values";

function json(text: string | undefined): unknown {
  try {
    return text === undefined ? undefined : (JSON.parse(text) as unknown);
  } catch {
    return undefined;
  }
}

export function expectedKeys(values: Readonly<Record<string, string>>): { spec: KeySpec; count: number }[] {
  const domains = json(values[`${NAMESPACE}:domains`]);
  const tlsKey = json(values[`${NAMESPACE}:tlsKey`]);
  const hasNext = typeof tlsKey === "object" && tlsKey !== null && "next" in tlsKey;
  const rsa = (rsaBits: number): KeySpec => ({ algorithm: "RSA", rsaBits, ecdsaCurve: "P224" });
  return [
    { spec: rsa(MAIL_TLS_KEY_BITS), count: hasNext ? 2 : 1 },
    { spec: rsa(DKIM_KEY_BITS), count: Array.isArray(domains) ? domains.length : 0 },
  ];
}

export function prewarmedPool(values: Readonly<Record<string, string>>): KeyPool {
  const pool = new KeyPool();
  for (const { spec, count } of expectedKeys(values)) pool.prewarm(spec, count);
  return pool;
}
