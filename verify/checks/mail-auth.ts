// SPF, DKIM, DMARC and CAA as a receiving server (and internet.nl) sees them, with mailauth:
// SPF evaluates to pass for the host's addresses and fail for foreign ones, the DKIM record
// parses and holds the key the stack imported into mailcow, DMARC is the configured policy
// (and external report addresses authorise it), CAA names the CAs allowed to issue.
import { createPublicKey } from "node:crypto";
import type { Context } from "../context";
import { recordsOf, txtText } from "../dns/client";
import { getDkimKey, getDmarcRecord, spf, asMailauthResolver } from "../mailauth";
import type { TargetDomain } from "../outputs";
import { fail, pass, warn, type Result } from "../result";

/** Addresses no mail host of a stack ever has (RFC 5737, RFC 3849). */
export const FOREIGN_ADDRESSES = ["192.0.2.1", "2001:db8::1"];

const SPF_FIX =
  "run `pulumi up`: the stack publishes `v=spf1 ip4:<publicIpv4> ip6:<publicIpv6> -all` for the domain and the host";

async function evaluate(context: Context, ip: string, sender: string): Promise<{ result: string; comment: string }> {
  const outcome = await spf({
    sender,
    ip,
    helo: context.target.host.name,
    mta: "mailstack-verify",
    resolver: asMailauthResolver(context.resolver),
  });
  return { result: String(outcome.status.result), comment: String(outcome.status.comment ?? "") };
}

/** DNS lookups an SPF record costs (RFC 7208 §4.6.4). */
export function spfLookups(record: string): number {
  return record.split(/\s+/).filter((term) => /^[+\-~?]?(include|a|mx|ptr|exists)(:|\/|$)|^redirect=/i.test(term))
    .length;
}

async function spfResults(context: Context, domain: TargetDomain): Promise<Result[]> {
  const results: Result[] = [];
  const subject = { domain: domain.name };
  const lookup = await context.lookup(domain.name, "TXT");
  const records = recordsOf(lookup.response, "TXT")
    .map((r) => txtText(r.data))
    .filter((text) => /^v=spf1(\s|$)/i.test(text));
  if (records.length === 1) {
    const record = records[0] ?? "";
    const lookups = spfLookups(record);
    const all = /\s[-~]all$/i.test(record.trim());
    results.push(
      all && lookups <= 10
        ? pass(
            "spf",
            "spf-record",
            subject,
            `one SPF record, ${lookups} DNS lookups, ends with ${record.trim().split(/\s+/).pop() ?? ""}`,
          )
        : fail(
            "spf",
            "spf-record",
            subject,
            `the SPF record ${!all ? "does not end with -all or ~all" : `needs ${lookups} DNS lookups (at most 10)`}`,
            SPF_FIX,
          ),
    );
  } else {
    results.push(
      fail(
        "spf",
        "spf-record",
        subject,
        records.length === 0
          ? `no SPF record at ${domain.name} (${lookup.response.rcode})`
          : `${records.length} SPF records at ${domain.name} (then SPF is a permerror)`,
        SPF_FIX,
      ),
    );
  }
  const sender = `postmaster@${domain.name}`;
  for (const ip of [context.target.host.ipv4, context.target.host.ipv6]) {
    const { result, comment } = await evaluate(context, ip, sender);
    results.push(
      result === "pass"
        ? pass("spf", "spf-host", { ...subject, address: ip }, `SPF passes mail from ${ip}`)
        : fail(
            "spf",
            "spf-host",
            { ...subject, address: ip },
            `SPF says ${result} for the host's own address ${ip}${comment ? ` (${comment})` : ""}: receivers reject the domain's mail`,
            SPF_FIX,
          ),
    );
  }
  for (const ip of FOREIGN_ADDRESSES) {
    const { result, comment } = await evaluate(context, ip, sender);
    results.push(
      result === "fail"
        ? pass("spf", "spf-foreign", { ...subject, address: ip }, `SPF fails mail from a foreign address ${ip}`)
        : (result === "softfail" ? warn : fail)(
            "spf",
            "spf-foreign",
            { ...subject, address: ip },
            `SPF says ${result} for a foreign address ${ip}${comment ? ` (${comment})` : ""}: anyone can send as ${domain.name}`,
            SPF_FIX,
          ),
    );
  }
  return results;
}

async function heloResult(context: Context): Promise<Result> {
  const { result, comment } = await evaluate(context, context.target.host.ipv4, "");
  const subject = { host: context.target.host.name, address: context.target.host.ipv4 };
  return result === "pass"
    ? pass("spf", "spf-helo", subject, `SPF for the HELO name ${context.target.host.name} passes (bounces)`)
    : fail(
        "spf",
        "spf-helo",
        subject,
        `SPF for the HELO name ${context.target.host.name} says ${result}${comment ? ` (${comment})` : ""}: bounces fail SPF`,
        SPF_FIX,
      );
}

const dkimP = (record: string) => /(?:^|;)\s*p=([^;]*)/i.exec(record)?.[1]?.replace(/\s+/g, "");

async function dkimResults(context: Context, domain: TargetDomain): Promise<Result[]> {
  const subject = { domain: domain.name, host: domain.dkim.name };
  const fix = `publish the stack's DKIM record (pulumi stack output domains: ${domain.name}.dkim) with \`pulumi up\`; mailcow signs with the key the stack imported`;
  let key;
  try {
    key = await getDkimKey(domain.dkim.name, context.resolver);
  } catch (error) {
    const code = (error as { code?: string }).code ?? "";
    return [
      fail(
        "dkim",
        "dkim-record",
        subject,
        code === "ENOTFOUND" || code === "ENODATA"
          ? `no DKIM record at ${domain.dkim.name}: receivers cannot verify the domain's signatures`
          : `the DKIM record at ${domain.dkim.name} is unusable: ${(error as Error).message}`,
        fix,
      ),
    ];
  }
  const results: Result[] = [];
  const bits = key.modulusLength ?? 0;
  results.push(
    bits === 0 || bits >= 2048
      ? pass("dkim", "dkim-record", subject, `the DKIM record parses${bits ? ` (RSA ${bits})` : ""}`)
      : warn(
          "dkim",
          "dkim-record",
          subject,
          `the DKIM key has only ${bits} bits`,
          "the stack generates RSA 2048: run `pulumi up`",
        ),
  );
  const served = dkimP(key.rr);
  const expected = dkimP(domain.dkim.value);
  const same = (a?: string, b?: string) => {
    try {
      return (
        a !== undefined &&
        b !== undefined &&
        createPublicKey({ key: Buffer.from(a, "base64"), format: "der", type: "spki" }).equals(
          createPublicKey({ key: Buffer.from(b, "base64"), format: "der", type: "spki" }),
        )
      );
    } catch {
      return a === b;
    }
  };
  results.push(
    same(served, expected)
      ? pass("dkim", "dkim-key", subject, "the published key is the one the stack imported into mailcow")
      : fail(
          "dkim",
          "dkim-key",
          subject,
          `the published key is not the stack's: mailcow signs with the stack's key, so signatures fail`,
          fix,
        ),
  );
  return results;
}

function dmarcTags(record: string): Map<string, string> {
  return new Map(
    record
      .split(";")
      .map((part) => part.trim())
      .filter((part) => part.includes("="))
      .map(
        (part) =>
          [part.slice(0, part.indexOf("=")).trim().toLowerCase(), part.slice(part.indexOf("=") + 1).trim()] as const,
      ),
  );
}

async function dmarcResults(context: Context, domain: TargetDomain): Promise<Result[]> {
  const subject = { domain: domain.name, host: `_dmarc.${domain.name}` };
  const zone = context.target.zones.find((z) => z.name === domain.name);
  const declared = zone?.records?.find((r) => r.name === `_dmarc.${domain.name}` && r.type === "TXT")?.value;
  const fix = "run `pulumi up`: the stack publishes DMARC from mailstack:dmarc";
  let record;
  try {
    record = await getDmarcRecord(domain.name, context.resolver);
  } catch (error) {
    return [
      fail(
        "dmarc",
        "dmarc-record",
        subject,
        `_dmarc.${domain.name}: ${(error as Error).message}`,
        "see the dnssec results",
      ),
    ];
  }
  if (!record || record.isOrgRecord) {
    return [fail("dmarc", "dmarc-record", subject, `no single DMARC record at _dmarc.${domain.name}`, fix)];
  }
  const results: Result[] = [];
  const served = dmarcTags(record.rr);
  if (declared !== undefined) {
    const expected = dmarcTags(declared);
    const keys = ["p", "sp", "pct", "rua", "ruf", "adkim", "aspf"];
    const differing = keys.filter((key) => (served.get(key) ?? "") !== (expected.get(key) ?? ""));
    results.push(
      differing.length === 0
        ? pass("dmarc", "dmarc-record", subject, `DMARC is as configured: ${record.rr}`)
        : fail(
            "dmarc",
            "dmarc-record",
            subject,
            `DMARC differs from the configuration in ${differing.map((key) => `${key}=${served.get(key) ?? "(none)"} (configured ${expected.get(key) ?? "(none)"})`).join(", ")}`,
            fix,
          ),
    );
  }
  const policy = served.get("p") ?? "none";
  results.push(
    policy === "quarantine" || policy === "reject"
      ? pass("dmarc", "dmarc-policy", subject, `p=${policy}`)
      : warn(
          "dmarc",
          "dmarc-policy",
          subject,
          `p=${policy}: internet.nl requires quarantine or reject`,
          "set mailstack:dmarc.policy to reject (or quarantine) once reports show that all the domain's mail passes",
        ),
  );
  // External report destinations must authorise the reports (RFC 7489 §7.1).
  for (const uri of [...(served.get("rua") ?? "").split(","), ...(served.get("ruf") ?? "").split(",")]
    .map((u) => u.trim())
    .filter((u) => u.startsWith("mailto:"))) {
    const target = uri
      .slice(uri.lastIndexOf("@") + 1)
      .replace(/!.*$/, "")
      .toLowerCase();
    if (target === domain.name || target.endsWith(`.${domain.name}`)) continue;
    const name = `${domain.name}._report._dmarc.${target}`;
    const lookup = await context.lookup(name, "TXT");
    const ok = recordsOf(lookup.response, "TXT").some((r) => /^v=DMARC1/i.test(txtText(r.data)));
    results.push(
      ok
        ? pass(
            "dmarc",
            "dmarc-report-authorization",
            { ...subject, host: name },
            `${target} accepts DMARC reports for ${domain.name}`,
          )
        : fail(
            "dmarc",
            "dmarc-report-authorization",
            { ...subject, host: name },
            `${target} does not authorise DMARC reports for ${domain.name} (no v=DMARC1 at ${name}): reporters drop them`,
            `publish "v=DMARC1" at ${name} (the stack does when ${target} is one of its zones)`,
          ),
    );
  }
  return results;
}

async function caaResult(context: Context, domain: TargetDomain): Promise<Result> {
  const lookup = await context.lookup(domain.name, "CAA");
  const issue = recordsOf(lookup.response, "CAA").filter((r) => r.data.tag === "issue");
  const subject = { domain: domain.name };
  return issue.length > 0
    ? pass("caa", "caa-issue", subject, `CAA allows ${issue.map((r) => r.data.value).join(", ")} to issue`)
    : warn(
        "caa",
        "caa-issue",
        subject,
        `no CAA issue record at ${domain.name}: any CA may issue`,
        "set mailstack:dns.caaIssuers and run `pulumi up`",
      );
}

export async function mailAuthChecks(context: Context): Promise<Result[]> {
  const results: Result[] = [];
  if (context.wants("spf")) results.push(await heloResult(context));
  for (const domain of context.target.domains) {
    const [spfs, dkims, dmarcs, caa] = await Promise.all([
      context.wants("spf") ? spfResults(context, domain) : [],
      context.wants("dkim") ? dkimResults(context, domain) : [],
      context.wants("dmarc") ? dmarcResults(context, domain) : [],
      context.wants("caa") ? caaResult(context, domain).then((r) => [r]) : [],
    ]);
    results.push(...spfs, ...dkims, ...dmarcs, ...caa);
  }
  return results;
}
