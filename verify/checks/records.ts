// Every record the stack declares (stack output zones.<zone>.records) against what DNS serves:
// each declared value present, no stale extra values of the same kind (a second MX, a second
// SPF or DMARC record). Records are reported in the category that owns them (TLSA → dane,
// DKIM → dkim, …); the other categories add what the values mean.
import type { DeclaredRecord } from "../../render/dns-record";
import type { Context } from "../context";
import { edeText } from "../dns/client";
import { normalDeclared, presentation } from "../dns/presentation";
import { fail, pass, warn, type Category, type Result } from "../result";

export type RecordKind = "spf" | "dkim" | "dmarc" | "dmarc-authorization" | "mta-sts" | "tls-rpt" | "other";

export function recordKind(name: string, type: string, value: string): RecordKind {
  if (type !== "TXT") return "other";
  if (/^v=spf1(\s|$)/i.test(value)) return "spf";
  if (name.includes("._domainkey.")) return "dkim";
  if (name.includes("._report._dmarc.")) return "dmarc-authorization";
  if (name.startsWith("_dmarc.")) return "dmarc";
  if (name.startsWith("_mta-sts.")) return "mta-sts";
  if (name.startsWith("_smtp._tls.")) return "tls-rpt";
  return "other";
}

export function recordCategory(record: { name: string; type: string; value: string }): Category {
  if (record.type === "TLSA") return "dane";
  if (record.type === "CAA") return "caa";
  switch (recordKind(record.name, record.type, record.value)) {
    case "spf":
      return "spf";
    case "dkim":
      return "dkim";
    case "dmarc":
    case "dmarc-authorization":
      return "dmarc";
    case "mta-sts":
      return "mta-sts";
    case "tls-rpt":
      return "tls-rpt";
    default:
      return "records";
  }
}

/** Extra values of these kinds break something (RFC 7208 §4.5, RFC 7489 §6.6.3, RFC 8461 §3.1, RFC 8460 §3). */
function extraIsFailure(type: string, kind: RecordKind): boolean {
  return (
    type === "MX" ||
    type === "A" ||
    type === "AAAA" ||
    type === "CNAME" ||
    ["spf", "dmarc", "mta-sts", "tls-rpt"].includes(kind)
  );
}

const DRIFT_FIX =
  "run `pulumi refresh` to see the drift and `pulumi up` to put the stack's records back (Cloudflare dashboard → DNS → Records shows who changed them)";

/** One (name, type) group of declared records compared with the served RRset. */
async function compareGroup(context: Context, zone: string, group: readonly DeclaredRecord[]): Promise<Result[]> {
  const first = group[0];
  if (!first) return [];
  const { name, type } = first;
  const lookup = await context.lookup(name, type);
  const served = lookup.data.answers
    .filter((answer) => answer.type === type && answer.name.toLowerCase().replace(/\.$/, "") === name)
    .map((answer) => presentation(answer) ?? "");
  const results: Result[] = [];
  const bogus = lookup.response.rcode !== "NOERROR" && lookup.unchecked?.rcode === "NOERROR";
  const note = bogus
    ? ` (the resolver answers ${lookup.response.rcode}${lookup.response.ede.length > 0 ? `, ${edeText(lookup.response.ede)}` : ""}; the data was read with checking disabled, see dnssec)`
    : "";
  const byKind = new Map<RecordKind, DeclaredRecord[]>();
  for (const record of group) {
    const kind = recordKind(name, type, record.value);
    byKind.set(kind, [...(byKind.get(kind) ?? []), record]);
  }
  for (const [kind, records] of byKind) {
    const category = recordCategory(records[0] ?? first);
    const subject = { domain: zone, host: name };
    const declared = records.map((record) => normalDeclared(type, record.value));
    const ofKind = served.filter((value) => recordKind(name, type, value) === kind);
    const missing = declared.filter((value) => !ofKind.includes(value));
    const extra = kind === "other" && type === "TXT" ? [] : ofKind.filter((value) => !declared.includes(value));
    const check = `record-${type.toLowerCase()}${kind === "other" ? "" : `-${kind}`}`;
    const show = (values: readonly string[]) =>
      values.map((value) => (value.length > 90 ? `${value.slice(0, 87)}...` : value)).join(" | ");
    if (lookup.data.rcode !== "NOERROR" && served.length === 0) {
      results.push(
        fail(
          category,
          check,
          subject,
          `${type} ${name}: the resolver answers ${lookup.data.rcode}${edeText(lookup.data.ede) ? ` (${edeText(lookup.data.ede)})` : ""}; the stack declares ${show(declared)}`,
          DRIFT_FIX,
        ),
      );
    } else if (missing.length > 0) {
      results.push(
        fail(
          category,
          check,
          subject,
          `${type} ${name} lacks ${show(missing)}${ofKind.length > 0 ? `; served: ${show(ofKind)}` : "; nothing of it is served"}${note}`,
          DRIFT_FIX,
          { declared, served: ofKind },
        ),
      );
    } else if (extra.length > 0) {
      const message = `${type} ${name} serves ${show(extra)} beside the declared ${show(declared)}${note}`;
      const fix = `delete the stale record(s) in Cloudflare (they are not the stack's); ${DRIFT_FIX}`;
      results.push(
        extraIsFailure(type, kind)
          ? fail(category, check, subject, message, fix, { declared, served: ofKind })
          : warn(category, check, subject, message, fix, { declared, served: ofKind }),
      );
    } else {
      results.push(pass(category, check, subject, `${type} ${name} is served as declared${note}`));
    }
  }
  return results;
}

export function groupRecords(records: readonly DeclaredRecord[]): DeclaredRecord[][] {
  const groups = new Map<string, DeclaredRecord[]>();
  for (const record of records) {
    const key = `${record.name}|${record.type}`;
    groups.set(key, [...(groups.get(key) ?? []), record]);
  }
  return [...groups.values()];
}

export async function recordChecks(context: Context): Promise<Result[]> {
  const results: Result[] = [];
  for (const zone of context.target.zones) {
    if (!zone.records) {
      if (context.wants("records")) {
        results.push(
          warn(
            "records",
            "records-declared",
            { domain: zone.name },
            `the stack outputs hold no records for ${zone.name} (a stack deployed before mailstack published zones.<zone>.records)`,
            "run `pulumi up` with this version of mailstack, then verify again",
          ),
        );
      }
      continue;
    }
    const groups = groupRecords(zone.records).filter((group) =>
      group.some((record) => context.wants(recordCategory(record))),
    );
    for (const group of await Promise.all(groups.map((group) => compareGroup(context, zone.name, group)))) {
      results.push(...group.filter((result) => context.wants(result.category)));
    }
  }
  return results;
}
