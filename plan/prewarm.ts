// The keys the program is expected to generate for a stack, read leniently from the raw
// config, so that the plan can start generating them before the program has even loaded.
// It mirrors the program's key declarations (components/keys.ts: one RSA key per TLS key
// slot, `mail-tls-key-<slot>`, and one DKIM key per hosted domain, `dkim-key-<domain>`).
// Getting it wrong costs time, not results. Keys the preview key cache holds are not generated.
import { NAMESPACE } from "../config/load";
import { DKIM_KEY_BITS, MAIL_TLS_KEY_BITS } from "../render/keys";
import { PRIVATE_KEY_TYPE, type PreviewKeyCache } from "./key-cache";
import { KeyPool, type KeySpec } from "./local-values";

function json(text: string | undefined): unknown {
  try {
    return text === undefined ? undefined : (JSON.parse(text) as unknown);
  } catch {
    return undefined;
  }
}

function slot(value: unknown, fallback: string | undefined): string | undefined {
  return value === "a" || value === "b" ? value : fallback;
}

/** The tls.PrivateKey resources the program will declare, by name and key spec. */
export function expectedKeys(values: Readonly<Record<string, string>>): { name: string; spec: KeySpec }[] {
  const domains = json(values[`${NAMESPACE}:domains`]);
  const tlsKey = json(values[`${NAMESPACE}:tlsKey`]);
  const slots = typeof tlsKey === "object" && tlsKey !== null ? (tlsKey as Record<string, unknown>) : {};
  const rsa = (rsaBits: number): KeySpec => ({ algorithm: "RSA", rsaBits, ecdsaCurve: "P224" });
  const names = Array.isArray(domains)
    ? domains.flatMap((d: unknown) =>
        typeof d === "object" && d !== null && typeof (d as { name?: unknown }).name === "string"
          ? [(d as { name: string }).name]
          : [],
      )
    : [];
  return [
    ...[slot(slots.active, "a"), slot(slots.next, undefined)]
      .filter((s): s is string => s !== undefined)
      .map((s) => ({ name: `mail-tls-key-${s}`, spec: rsa(MAIL_TLS_KEY_BITS) })),
    ...names.map((name) => ({ name: `dkim-key-${name}`, spec: rsa(DKIM_KEY_BITS) })),
  ];
}

/** A pool already generating the expected keys the cache (if any) does not hold for this stack (stackKey). */
export function prewarmedPool(
  values: Readonly<Record<string, string>>,
  stack: string,
  cache: PreviewKeyCache | undefined,
): KeyPool {
  const pool = new KeyPool();
  for (const { name, spec } of expectedKeys(values)) {
    if (cache?.has({ stack, type: PRIVATE_KEY_TYPE, name, spec })) continue;
    pool.prewarm(spec, 1);
  }
  return pool;
}
