// One DNS record (pure: no Pulumi import): the discriminated union every DNS output derives from
// (the Cloudflare arguments in render/cloudflare.ts, the zone file in render/zonefile.ts, the
// declared form the stack outputs for `verify`), and the TXT character-string encoding they share.
//
// Record values derived from keys (DKIM, TLSA) are of type V: plain strings here and in the
// tests, pulumi.Output<string> in the component, so the record *set* is known before any key.

export interface SrvData {
  readonly priority: number;
  readonly weight: number;
  readonly port: number;
  /** Target host, or "." when the service is not offered (RFC 2782, RFC 6186 §4). */
  readonly target: string;
}
export interface TlsaData<V = string> {
  readonly usage: 3;
  readonly selector: 1;
  readonly matchingType: 1;
  /** Hex SHA-256 of the DER SubjectPublicKeyInfo. */
  readonly certificate: V;
}
export interface CaaData {
  readonly flags: 0 | 128;
  readonly tag: "issue" | "issuewild" | "iodef";
  readonly value: string;
}

interface RecordBase {
  /** Owner name, fully qualified, without the trailing dot. */
  readonly name: string;
  readonly ttl: number;
  /** Why the record exists (Cloudflare record comment, zone file comment). */
  readonly comment: string;
}

/**
 * One DNS record, discriminated on its type: a switch over `type` that misses a case does not
 * compile (see `assertNever`). TXT content is the logical text (quoting and splitting happen on output).
 */
export type DnsRecord<V = string> =
  | (RecordBase & { readonly type: "A" | "AAAA" | "CNAME"; readonly content: string })
  | (RecordBase & { readonly type: "MX"; readonly content: string; /** MX preference. */ readonly priority: number })
  | (RecordBase & { readonly type: "TXT"; readonly content: string | V })
  | (RecordBase & { readonly type: "SRV"; readonly srv: SrvData })
  | (RecordBase & { readonly type: "TLSA"; readonly tlsa: TlsaData<V> })
  | (RecordBase & { readonly type: "CAA"; readonly caa: CaaData });

/** A record of a zone's record set, with the identifier that names its Pulumi resource. */
export type DnsRecordSpec<V = string> = DnsRecord<V> & {
  /** Stable identifier within the zone; part of the Pulumi resource name. */
  readonly key: string;
};

export type RecordType = DnsRecord["type"];

/** The compile-time end of an exhaustive switch over a union's discriminant. */
export function assertNever(value: never): never {
  throw new Error(`unhandled case ${JSON.stringify(value)}`);
}

/**
 * Applies a text transformation to a record value that may not be known yet: to a plain string
 * directly, to a pulumi.Output through its `apply` (the component passes that one).
 */
export type MapRecordValue<V, W> = (value: string | V, transform: (text: string) => string) => string | W;

/** The MapRecordValue for records whose values are all known. */
export const mapKnownValue: MapRecordValue<string, string> = (value, transform) => transform(value);

const identity = (text: string) => text;

/** A TXT value as DNS character-strings: quoted, escaped, at most 255 bytes each. */
export function txtStrings(text: string): string {
  const bytes = Buffer.from(text, "utf8");
  const chunks: string[] = [];
  for (let start = 0; start < bytes.length || chunks.length === 0;) {
    let end = Math.min(start + 255, bytes.length);
    // Never split inside a UTF-8 sequence.
    while (end < bytes.length && ((bytes[end] ?? 0) & 0xc0) === 0x80) end--;
    chunks.push(bytes.subarray(start, end).toString("utf8"));
    start = end;
    if (start >= bytes.length) break;
  }
  return chunks.map((chunk) => `"${chunk.replace(/["\\]/g, (c) => `\\${c}`)}"`).join(" ");
}

/**
 * The logical text of DNS character-strings as txtStrings writes them (`"…" "…"`, `\"` and `\\`
 * escaped), or undefined when `strings` is not in that form.
 */
export function txtText(strings: string): string | undefined {
  const parts = /^"((?:[^"\\]|\\["\\])*)"((?: "(?:[^"\\]|\\["\\])*")*)$/.exec(strings);
  if (!parts) return undefined;
  return [...strings.matchAll(/"((?:[^"\\]|\\["\\])*)"/g)]
    .map((match) => (match[1] ?? "").replace(/\\(["\\])/g, "$1"))
    .join("");
}

// ---- the record as the stack outputs it -----------------------------------------------------

/**
 * A managed record as the stack reports it (stack output zones.<zone>.records) and `verify`
 * compares it with what DNS serves: the value in presentation form, TXT as its logical text
 * (not split into strings), names without the trailing dot. Values derived from keys are V.
 */
export interface DeclaredRecord<V = string> {
  readonly name: string;
  readonly type: RecordType;
  readonly value: string | V;
}

/** The declared form of a record; `mapValue` transforms a value that may be V. */
export function declaredRecord<V, W>(record: DnsRecord<V>, mapValue: MapRecordValue<V, W>): DeclaredRecord<W> {
  const value = ((): string | W => {
    switch (record.type) {
      case "A":
      case "AAAA":
      case "CNAME":
        return record.content;
      case "TXT":
        return mapValue(record.content, identity);
      case "MX":
        return `${record.priority} ${record.content}`;
      case "SRV": {
        const { srv } = record;
        return `${srv.priority} ${srv.weight} ${srv.port} ${srv.target}`;
      }
      case "TLSA": {
        const { tlsa } = record;
        return mapValue(
          tlsa.certificate,
          (hex) => `${tlsa.usage} ${tlsa.selector} ${tlsa.matchingType} ${hex.toLowerCase()}`,
        );
      }
      case "CAA": {
        const { caa } = record;
        return `${caa.flags} ${caa.tag} "${caa.value.replace(/["\\]/g, (c) => `\\${c}`)}"`;
      }
      default:
        return assertNever(record);
    }
  })();
  return { name: record.name, type: record.type, value };
}
