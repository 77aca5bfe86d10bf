// The TLS probes of one endpoint over one address: a baseline handshake (protocol, cipher,
// group, certificate chain), then handshakes with client settings chosen to find what the
// server accepts that it should not: old protocol versions, cipher suites and key exchange
// groups outside the rendered lists, SHA-1/SHA-224 handshake signatures, and (with a raw hello)
// compression, secure renegotiation and extended master secret.
import { getCiphers, rootCertificates, type ConnectionOptions, type DetailedPeerCertificate } from "node:tls";
import { X509Certificate } from "node:crypto";
import { GROUPS, TLS12_CIPHERS } from "../../render/mailcow";
import { helloProbe, type HelloOutcome } from "./hello";
import { closeSession, openTls, type TlsEndpoint, type Transcript } from "./session";

export interface Attempt {
  readonly ok: boolean;
  readonly stage?: "connect" | "protocol" | "tls";
  readonly error?: string;
  readonly protocol?: string;
  readonly cipher?: string;
  readonly group?: string;
  /** Leaf first. */
  readonly chain?: readonly X509Certificate[];
  readonly authorized?: boolean;
  readonly authorizationError?: string;
  readonly transcript?: Partial<Transcript>;
}

/** Lets old protocols and weak algorithms be offered (the client must be able to ask for them). */
const ANYTHING = "DEFAULT:@SECLEVEL=0";

function chainOf(leaf: DetailedPeerCertificate | undefined): X509Certificate[] {
  const chain: X509Certificate[] = [];
  const seen = new Set<string>();
  let current: DetailedPeerCertificate | undefined = leaf;
  while (current?.raw && !seen.has(current.fingerprint256)) {
    seen.add(current.fingerprint256);
    chain.push(new X509Certificate(current.raw));
    current = current.issuerCertificate;
  }
  return chain;
}

export async function attempt(endpoint: TlsEndpoint, options: ConnectionOptions): Promise<Attempt> {
  const outcome = await openTls(endpoint, options);
  if (!outcome.ok) {
    return {
      ok: false,
      stage: outcome.stage,
      error: outcome.error,
      ...(outcome.transcript ? { transcript: outcome.transcript } : {}),
    };
  }
  const socket = outcome.socket;
  const key = socket.getEphemeralKeyInfo() as { type?: string; name?: string; size?: number } | null;
  const group = key?.type === "ECDH" ? key.name : key?.type === "DH" ? `ffdhe${key.size}` : undefined;
  const result: Attempt = {
    ok: true,
    protocol: socket.getProtocol() ?? "",
    cipher: socket.getCipher().name,
    ...(group ? { group } : {}),
    chain: chainOf(socket.getPeerCertificate(true)),
    authorized: socket.authorized,
    ...(socket.authorizationError ? { authorizationError: String(socket.authorizationError) } : {}),
    ...(outcome.transcript ? { transcript: outcome.transcript } : {}),
  };
  closeSession(outcome);
  return result;
}

export const RENDERED_CIPHERS = TLS12_CIPHERS.split(":");
export const RENDERED_GROUPS = GROUPS.split(":");

/** Every TLS 1.2 suite the client can offer that the rendered list does not hold. */
export function otherTls12Ciphers(): string[] {
  return getCiphers()
    .map((name) => name.toUpperCase())
    .filter((name) => !name.startsWith("TLS_") && !/PSK|SRP/.test(name) && !RENDERED_CIPHERS.includes(name));
}

/** Groups internet.nl rates good besides the rendered ones (X25519, P-256, P-384). */
export const GOOD_GROUPS = ["X25519", "prime256v1", "secp384r1", "secp521r1", "X448"];
const OTHER_GROUPS_TLS13 = ["secp521r1", "X448", "ffdhe2048", "ffdhe3072", "ffdhe4096", "ffdhe6144", "ffdhe8192"];
const OTHER_GROUPS_TLS12 = ["secp521r1", "X448", "secp256k1", "brainpoolP256r1", "brainpoolP384r1", "brainpoolP512r1"];

/** Handshake signatures with SHA-1 and with SHA-224 (neither is in the rendered list). */
export const SHA1_SIGALGS = "RSA+SHA1:ECDSA+SHA1";
export const SHA224_SIGALGS = "RSA+SHA224:ECDSA+SHA224";

export type Verdict = "accepted" | "refused" | { readonly inconclusive: string };

function verdict(result: Attempt): Verdict {
  if (result.ok) return "accepted";
  return result.stage === "tls" ? "refused" : { inconclusive: `${result.stage ?? "?"}: ${result.error ?? ""}` };
}

export interface TlsFindings {
  readonly baseline: Attempt;
  readonly versions: Readonly<Record<"TLSv1" | "TLSv1.1" | "TLSv1.2" | "TLSv1.3", Verdict>>;
  /** TLS 1.2 suites accepted, rendered ones in their order, then the others. */
  readonly ciphers: { readonly rendered: readonly string[]; readonly others: readonly string[] };
  /** undefined when fewer than two suites are accepted. */
  readonly serverOrder?: boolean;
  readonly groups: { readonly rendered: readonly string[]; readonly others: readonly string[] };
  /** A client offering only SHA-1 (SHA-224) handshake signatures. */
  readonly sha1Signatures: Verdict;
  readonly sha224Signatures: Verdict;
  readonly hello: HelloOutcome;
}

/** Repeats `offer` without what the server picked, to list everything it accepts (bounded). */
async function enumerate(
  candidates: readonly string[],
  offer: (list: readonly string[]) => Promise<Attempt>,
  pick: (result: Attempt) => string | undefined,
): Promise<string[]> {
  const found: string[] = [];
  let remaining = [...candidates];
  for (let round = 0; round < candidates.length && remaining.length > 0; round++) {
    const result = await offer(remaining);
    const chosen = result.ok ? pick(result) : undefined;
    if (!chosen || !remaining.includes(chosen)) break;
    found.push(chosen);
    remaining = remaining.filter((item) => item !== chosen);
  }
  return found;
}

export async function probeEndpoint(endpoint: TlsEndpoint, extraCa: readonly string[]): Promise<TlsFindings> {
  const ca = [...rootCertificates, ...extraCa];
  const baseline = await attempt(endpoint, { ca });
  const only = (version: "TLSv1" | "TLSv1.1" | "TLSv1.2" | "TLSv1.3", extra: ConnectionOptions = {}) =>
    attempt(endpoint, { minVersion: version, maxVersion: version, ciphers: ANYTHING, ...extra });
  const versions = {
    TLSv1: verdict(await only("TLSv1")),
    "TLSv1.1": verdict(await only("TLSv1.1")),
    "TLSv1.2": verdict(await only("TLSv1.2")),
    "TLSv1.3": verdict(await only("TLSv1.3")),
  };
  const tls12 = versions["TLSv1.2"] === "accepted";

  const rendered: string[] = [];
  const others: string[] = [];
  let serverOrder: boolean | undefined;
  if (tls12) {
    for (const cipher of RENDERED_CIPHERS) {
      if ((await only("TLSv1.2", { ciphers: `${cipher}:@SECLEVEL=0` })).ok) rendered.push(cipher);
    }
    others.push(
      ...(await enumerate(
        otherTls12Ciphers(),
        (list) => only("TLSv1.2", { ciphers: `${list.join(":")}:@SECLEVEL=0` }),
        (result) => result.cipher,
      )),
    );
    const accepted = [...rendered, ...others];
    if (accepted.length >= 2) {
      const forward = await only("TLSv1.2", { ciphers: `${accepted.join(":")}:@SECLEVEL=0` });
      const backward = await only("TLSv1.2", { ciphers: `${[...accepted].reverse().join(":")}:@SECLEVEL=0` });
      if (forward.ok && backward.ok) serverOrder = forward.cipher === backward.cipher;
    }
  }

  const renderedGroups: string[] = [];
  const tls13 = versions["TLSv1.3"] === "accepted";
  for (const group of RENDERED_GROUPS) {
    const result = tls13 ? await only("TLSv1.3", { ecdhCurve: group }) : await only("TLSv1.2", { ecdhCurve: group });
    if (result.ok) renderedGroups.push(group);
  }
  const otherGroups = new Set<string>();
  if (tls13) {
    for (const group of await enumerate(
      OTHER_GROUPS_TLS13,
      (list) => only("TLSv1.3", { ecdhCurve: list.join(":") }),
      (r) => r.group,
    )) {
      otherGroups.add(group);
    }
  }
  if (tls12) {
    const ecdhe = RENDERED_CIPHERS.join(":");
    for (const group of await enumerate(
      OTHER_GROUPS_TLS12,
      (list) => only("TLSv1.2", { ecdhCurve: list.join(":"), ciphers: `${ecdhe}:@SECLEVEL=0` }),
      (r) => r.group,
    )) {
      otherGroups.add(group);
    }
  }

  const sha1Signatures = tls12 ? verdict(await only("TLSv1.2", { sigalgs: SHA1_SIGALGS })) : "refused";
  const sha224Signatures = tls12 ? verdict(await only("TLSv1.2", { sigalgs: SHA224_SIGALGS })) : "refused";
  const hello = await helloProbe(endpoint);
  return {
    baseline,
    versions,
    ciphers: { rendered, others },
    ...(serverOrder !== undefined ? { serverOrder } : {}),
    groups: { rendered: renderedGroups, others: [...otherGroups] },
    sha1Signatures,
    sha224Signatures,
    hello,
  };
}
