// MTA-STS (RFC 8461): exactly one _mta-sts TXT record whose id is the stack's (derived from the
// policy text), the policy served over HTTPS with a valid certificate as text/plain without a
// redirect, parsed by mailauth, its mx patterns covering the MX, its mode and max_age as
// configured; and TLS-RPT (RFC 8460) published.
import { createHash } from "node:crypto";
import { request } from "node:https";
import { rootCertificates } from "node:tls";
import type { Context } from "../context";
import { recordsOf, txtText } from "../dns/client";
import { parsePolicy, resolvePolicy, asMailauthResolver, validateMx } from "../mailauth";
import type { Destination } from "../net";
import type { TargetDomain } from "../outputs";
import { fail, pass, type Result } from "../result";

const TIMEOUT_MS = 8000;

interface Fetched {
  readonly status: number;
  readonly contentType: string;
  readonly location?: string;
  readonly body: string;
}

function fetchPolicy(url: URL, destination: Destination, ca: readonly string[]): Promise<Fetched> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: destination.host,
        port: destination.port,
        path: url.pathname,
        method: "GET",
        servername: url.hostname,
        headers: { host: url.hostname, "user-agent": "mailstack-verify" },
        ca: [...rootCertificates, ...ca],
        timeout: TIMEOUT_MS,
      },
      (response) => {
        const chunks: Buffer[] = [];
        let size = 0;
        response.on("data", (chunk: Buffer) => {
          size += chunk.length;
          if (size > 64 * 1024) req.destroy(new Error("the policy is larger than 64 KiB"));
          else chunks.push(chunk);
        });
        response.on("end", () =>
          resolve({
            status: response.statusCode ?? 0,
            contentType: String(response.headers["content-type"] ?? ""),
            ...(response.headers.location ? { location: response.headers.location } : {}),
            body: Buffer.concat(chunks).toString("utf8"),
          }),
        );
        response.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error(`no answer within ${TIMEOUT_MS} ms`)));
    req.on("error", reject);
    req.end();
  });
}

async function policyHost(context: Context, host: string): Promise<Destination | undefined> {
  const mapped = context.connector.mapped(host, undefined, 443);
  if (mapped) return mapped;
  for (const type of ["A", "AAAA"] as const) {
    const address = recordsOf((await context.lookup(host, type)).response, type)[0]?.data;
    if (address) return { host: address, port: 443 };
  }
  return undefined;
}

const POLICY_FIX =
  "the stack serves the policy from a Cloudflare Worker on mta-sts.<domain>: check Workers & Pages → the mta-sts-<domain> script and its custom domain, then run `pulumi up`";

async function domainResults(context: Context, domain: TargetDomain): Promise<Result[]> {
  const results: Result[] = [];
  const subject = { domain: domain.name };
  const resolver = asMailauthResolver(context.resolver);
  let txtId: string | false | undefined;
  try {
    txtId = await resolvePolicy(domain.name, { resolver });
    results.push(
      txtId === false
        ? fail(
            "mta-sts",
            "mta-sts-txt",
            subject,
            `no v=STSv1 record at _mta-sts.${domain.name}`,
            "run `pulumi up`: the stack publishes it",
          )
        : txtId === domain.mtaStsPolicyId
          ? pass("mta-sts", "mta-sts-txt", subject, `_mta-sts.${domain.name} announces the stack's policy id ${txtId}`)
          : fail(
              "mta-sts",
              "mta-sts-txt",
              subject,
              `_mta-sts.${domain.name} announces id ${txtId}, the stack's policy has id ${domain.mtaStsPolicyId}: senders keep a cached policy until the id changes`,
              "run `pulumi refresh` and `pulumi up` to publish the stack's id (it changes exactly when the policy does)",
            ),
    );
  } catch (error) {
    const code = (error as { code?: string }).code;
    results.push(
      fail(
        "mta-sts",
        "mta-sts-txt",
        subject,
        code === "multi_sts_records"
          ? `_mta-sts.${domain.name} holds more than one v=STSv1 record (RFC 8461 §3.1: then there is no policy)`
          : `_mta-sts.${domain.name}: ${(error as Error).message}`,
        code === "multi_sts_records"
          ? "delete the records the stack does not declare (see records)"
          : "see the dnssec results",
      ),
    );
  }

  const url = new URL(domain.mtaStsPolicyUrl);
  const destination = await policyHost(context, url.hostname);
  if (!destination) {
    results.push(fail("mta-sts", "mta-sts-policy", subject, `${url.hostname} has no address`, POLICY_FIX));
    return results;
  }
  let fetched: Fetched;
  try {
    fetched = await fetchPolicy(url, destination, context.ca);
  } catch (error) {
    results.push(
      fail(
        "mta-sts",
        "mta-sts-policy",
        subject,
        `${url.href}: ${(error as Error).message}`,
        `a valid certificate for ${url.hostname} is required (RFC 8461 §3.3); ${POLICY_FIX}`,
      ),
    );
    return results;
  }
  if (fetched.status !== 200) {
    results.push(
      fail(
        "mta-sts",
        "mta-sts-policy",
        subject,
        `${url.href} answers HTTP ${fetched.status}${fetched.location ? ` (redirect to ${fetched.location}, which senders must not follow)` : ""}`,
        POLICY_FIX,
      ),
    );
    return results;
  }
  if (!/^text\/plain(\s*;|$)/i.test(fetched.contentType)) {
    results.push(
      fail(
        "mta-sts",
        "mta-sts-content-type",
        subject,
        `${url.href} is served as "${fetched.contentType}", not text/plain (RFC 8461 §3.2)`,
        POLICY_FIX,
      ),
    );
  } else {
    results.push(
      pass(
        "mta-sts",
        "mta-sts-content-type",
        subject,
        "the policy is served over HTTPS with a valid certificate as text/plain",
      ),
    );
  }
  let policy;
  try {
    policy = parsePolicy(fetched.body);
  } catch (error) {
    results.push(
      fail("mta-sts", "mta-sts-policy", subject, `the policy does not parse: ${(error as Error).message}`, POLICY_FIX),
    );
    return results;
  }
  const problems: string[] = [];
  if (!validateMx(domain.mx, policy).valid)
    problems.push(`its mx lines (${(policy.mx ?? []).join(", ")}) do not cover the MX ${domain.mx}`);
  if (domain.mtaStsPolicy !== undefined) {
    const expected = parsePolicy(domain.mtaStsPolicy);
    if (policy.mode !== expected.mode)
      problems.push(`mode is ${policy.mode ?? "?"}, configured ${expected.mode ?? "?"}`);
    if (policy.maxAge !== expected.maxAge)
      problems.push(`max_age is ${policy.maxAge ?? "?"}, configured ${expected.maxAge ?? "?"}`);
  }
  const hash = createHash("sha256").update(fetched.body).digest("hex").slice(0, 32);
  if (hash !== domain.mtaStsPolicyId)
    problems.push(
      `the policy served is not the one with the stack's id ${domain.mtaStsPolicyId} (its hash is ${hash})`,
    );
  results.push(
    problems.length > 0
      ? fail("mta-sts", "mta-sts-policy", subject, `the MTA-STS policy: ${problems.join("; ")}`, POLICY_FIX, {
          policy: fetched.body,
        })
      : pass(
          "mta-sts",
          "mta-sts-policy",
          subject,
          `the policy (mode ${policy.mode ?? "?"}, max_age ${policy.maxAge ?? "?"}) covers ${domain.mx} and is the stack's`,
        ),
  );
  return results;
}

/** RFC 8460 §3: exactly one v=TLSRPTv1 record with mailto: or https: report URIs. */
async function tlsRptResult(context: Context, domain: TargetDomain): Promise<Result> {
  const name = `_smtp._tls.${domain.name}`;
  const subject = { domain: domain.name, host: name };
  const lookup = await context.lookup(name, "TXT");
  const records = recordsOf(lookup.response, "TXT")
    .map((r) => txtText(r.data))
    .filter((text) => /^v=TLSRPTv1\s*;/i.test(text));
  const fix = "run `pulumi up`: the stack publishes v=TLSRPTv1 with mailstack:tlsRpt.rua";
  if (records.length !== 1) {
    return fail(
      "tls-rpt",
      "tls-rpt",
      subject,
      records.length === 0
        ? `no v=TLSRPTv1 record at ${name} (${lookup.response.rcode})`
        : `${records.length} v=TLSRPTv1 records at ${name}`,
      fix,
    );
  }
  const rua =
    /(?:^|;)\s*rua=([^;]*)/i
      .exec(records[0] ?? "")?.[1]
      ?.split(",")
      .map((uri) => uri.trim()) ?? [];
  const bad = rua.filter((uri) => !/^(mailto:[^@\s]+@[^@\s]+|https:\/\/\S+)$/i.test(uri));
  return rua.length === 0 || bad.length > 0
    ? fail("tls-rpt", "tls-rpt", subject, `the TLS-RPT record has no valid rua (${bad.join(", ") || "none"})`, fix)
    : pass("tls-rpt", "tls-rpt", subject, `TLS reports go to ${rua.join(", ")}`);
}

export async function mtaStsChecks(context: Context): Promise<Result[]> {
  const results: Result[] = [];
  for (const domain of context.target.domains) {
    if (context.wants("mta-sts")) results.push(...(await domainResults(context, domain)));
    if (context.wants("tls-rpt")) results.push(await tlsRptResult(context, domain));
  }
  return results;
}
