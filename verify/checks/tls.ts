// TLS on every endpoint (25/587 STARTTLS, 465, 993, 995, 443) over IPv4 and IPv6, the
// certificate each presents, and the SMTP dialogue on the STARTTLS ports. The ports whose TLS
// the stack renders (Postfix: 25/465/587, Dovecot: 993/995/…) are held to exactly the rendered
// settings (render/mailcow.ts); 443 is mailcow's own nginx, held to internet.nl's criteria.
import type { Context } from "../context";
import type { TargetEndpoint } from "../outputs";
import { fail, pass, warn, type Result, type Subject } from "../result";
import { EXPIRY_FAIL_DAYS, EXPIRY_WARN_DAYS, judgeCertificate } from "../tls/certificate";
import { GOOD_GROUPS, RENDERED_GROUPS, type TlsFindings, type Verdict } from "../tls/probes";
import { starttlsProtocol } from "../tls/starttls";

type Server = "postfix" | "dovecot" | "nginx";

export function serverOf(endpoint: TargetEndpoint): Server {
  if (endpoint.security === "https") return "nginx";
  if (endpoint.security === "starttls" && starttlsProtocol(endpoint.port) === "smtp") return "postfix";
  return endpoint.port === 465 ? "postfix" : "dovecot";
}

const SETTINGS_FIX: Readonly<Record<Server, string>> = {
  postfix:
    "Postfix must run with the rendered data/conf/postfix/extra.cf and openssl.cnf: compare them on the mail host with `npm run plan` (out/<stack>/files/…), check `docker compose exec postfix-mailcow postconf -n`, and run `pulumi up`",
  dovecot:
    "Dovecot must run with the rendered data/conf/dovecot/extra.conf: compare it on the mail host with `npm run plan` (out/<stack>/files/…), check `docker compose exec dovecot-mailcow doveconf -n`, and run `pulumi up`",
  nginx:
    "443 is served by mailcow's nginx (data/conf/nginx/templates/sites-default.conf.j2 sets ssl_protocols, ssl_ciphers and ssl_ecdh_curve): override them in data/conf/nginx/*.custom or report it upstream",
};

const CERTIFICATE_FIX =
  "mailcow's acme-mailcow container renews the Let's Encrypt certificate for the stack's key: check `docker compose logs acme-mailcow` on the mail host (HTTP-01 on port 80 must reach the host, CAA must allow letsencrypt.org); `docker compose restart acme-mailcow` retries";

const isEcdheAead = (cipher: string) =>
  /^ECDHE-(RSA|ECDSA)-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305|AES(128|256)-CCM(8)?)$/.test(cipher);

function inconclusive(verdict: Verdict): string | undefined {
  return typeof verdict === "object" ? verdict.inconclusive : undefined;
}

function versionResult(subject: Subject, server: Server, findings: TlsFindings, minVersion: "1.2" | "1.3"): Result {
  const v = findings.versions;
  const accepted = (Object.keys(v) as (keyof typeof v)[]).filter((name) => v[name] === "accepted");
  const details = { accepted };
  const unclear = (Object.keys(v) as (keyof typeof v)[]).filter((name) => inconclusive(v[name]) !== undefined);
  if (unclear.length > 0) {
    return fail(
      "tls",
      "tls-versions",
      subject,
      `could not test ${unclear.join(", ")}: ${unclear.map((n) => inconclusive(v[n])).join("; ")}`,
      "check that the endpoint answers (see ports) and run verify again",
      details,
    );
  }
  const problems: string[] = [];
  if (v.TLSv1 === "accepted") problems.push("TLS 1.0 is accepted");
  if (v["TLSv1.1"] === "accepted") problems.push("TLS 1.1 is accepted");
  if (v["TLSv1.3"] !== "accepted") problems.push("TLS 1.3 is not offered");
  if (minVersion === "1.3" && v["TLSv1.2"] === "accepted")
    problems.push("TLS 1.2 is accepted although mailstack:tlsMinVersion is 1.3");
  if (minVersion === "1.2" && v["TLSv1.2"] !== "accepted" && server !== "nginx")
    problems.push("TLS 1.2 is refused although mailstack:tlsMinVersion is 1.2");
  return problems.length > 0
    ? fail("tls", "tls-versions", subject, problems.join("; "), SETTINGS_FIX[server], details)
    : pass(
        "tls",
        "tls-versions",
        subject,
        `only ${accepted.map((n) => n.replace("TLSv", "TLS ")).join(" and ")}`,
        details,
      );
}

function cipherResults(subject: Subject, server: Server, findings: TlsFindings): Result[] {
  if (findings.versions["TLSv1.2"] !== "accepted")
    return [pass("tls", "tls-ciphers", subject, "no TLS 1.2 (TLS 1.3 suites only)")];
  const { rendered, others } = findings.ciphers;
  const details = { accepted: [...rendered, ...others] };
  const results: Result[] = [];
  const weak = others.filter((cipher) => !isEcdheAead(cipher));
  const unrendered = others.filter(isEcdheAead);
  if (weak.length > 0) {
    results.push(
      fail(
        "tls",
        "tls-ciphers",
        subject,
        `TLS 1.2 accepts suites without ECDHE or AEAD: ${weak.join(", ")}`,
        SETTINGS_FIX[server],
        details,
      ),
    );
  } else if (unrendered.length > 0) {
    results.push(
      (server === "nginx" ? warn : fail)(
        "tls",
        "tls-ciphers",
        subject,
        `TLS 1.2 accepts suites that are not the rendered ones: ${unrendered.join(", ")}`,
        SETTINGS_FIX[server],
        details,
      ),
    );
  } else if (rendered.length === 0) {
    results.push(
      fail("tls", "tls-ciphers", subject, "TLS 1.2 accepts none of the rendered suites", SETTINGS_FIX[server], details),
    );
  } else {
    results.push(
      pass("tls", "tls-ciphers", subject, `TLS 1.2: ECDHE with AEAD only (${rendered.join(", ")})`, details),
    );
  }
  if (findings.serverOrder === false) {
    results.push(
      fail("tls", "tls-cipher-order", subject, "the server follows the client's cipher order", SETTINGS_FIX[server]),
    );
  } else if (findings.serverOrder === true) {
    results.push(pass("tls", "tls-cipher-order", subject, "the server enforces its cipher order"));
  }
  return results;
}

function groupResult(subject: Subject, server: Server, findings: TlsFindings): Result {
  const { rendered, others } = findings.groups;
  const accepted = [...rendered, ...others];
  const details = { accepted };
  if (server === "nginx") {
    const bad = others.filter((group) => !GOOD_GROUPS.includes(group));
    return bad.length > 0
      ? warn(
          "tls",
          "tls-groups",
          subject,
          `key exchange also over ${bad.join(", ")} (internet.nl rates them insufficient)`,
          SETTINGS_FIX[server],
          details,
        )
      : accepted.length === 0
        ? fail("tls", "tls-groups", subject, "no key exchange group was accepted", SETTINGS_FIX[server], details)
        : pass("tls", "tls-groups", subject, `key exchange over ${accepted.join(", ")}`, details);
  }
  const missing = RENDERED_GROUPS.filter((group) => !rendered.includes(group));
  const problems = [
    ...(others.length > 0 ? [`accepts ${others.join(", ")}, which the rendered settings do not list`] : []),
    ...(missing.length > 0 ? [`refuses the rendered ${missing.join(", ")}`] : []),
  ];
  return problems.length > 0
    ? fail(
        "tls",
        "tls-groups",
        subject,
        `key exchange groups are not as rendered (${RENDERED_GROUPS.join(", ")}): ${problems.join("; ")}`,
        SETTINGS_FIX[server],
        details,
      )
    : pass(
        "tls",
        "tls-groups",
        subject,
        `key exchange exactly over the rendered groups ${RENDERED_GROUPS.join(", ")}`,
        details,
      );
}

function signatureResult(subject: Subject, server: Server, findings: TlsFindings): Result {
  const unclear = inconclusive(findings.sha1Signatures) ?? inconclusive(findings.sha224Signatures);
  if (unclear !== undefined) {
    return fail(
      "tls",
      "tls-signatures",
      subject,
      `could not test the handshake signatures: ${unclear}`,
      "check that the endpoint answers and run verify again",
    );
  }
  if (findings.sha1Signatures === "accepted") {
    return fail(
      "tls",
      "tls-signatures",
      subject,
      "a client offering only SHA-1 handshake signatures is accepted",
      SETTINGS_FIX[server],
    );
  }
  if (findings.sha224Signatures === "accepted") {
    // Only Postfix gets a rendered signature list (openssl.cnf); Dovecot 2.3 has no such setting.
    return server === "postfix"
      ? fail(
          "tls",
          "tls-signatures",
          subject,
          "SHA-224 handshake signatures are accepted: the rendered openssl.cnf (SignatureAlgorithms) is not in effect",
          SETTINGS_FIX[server],
        )
      : pass(
          "tls",
          "tls-signatures",
          subject,
          "no SHA-1 handshake signatures (SHA-224 is accepted: the stack renders no signature list for this server)",
        );
  }
  return pass("tls", "tls-signatures", subject, "no SHA-1 (or SHA-224) handshake signatures");
}

function helloResults(subject: Subject, server: Server, findings: TlsFindings): Result[] {
  const hello = findings.hello;
  if (!hello.answered) {
    if (findings.versions["TLSv1.2"] !== "accepted") {
      return [pass("tls", "tls-compression", subject, "no TLS 1.2: no compression or renegotiation")];
    }
    return [
      fail(
        "tls",
        "tls-compression",
        subject,
        `could not read the ServerHello to a TLS 1.2 hello: ${hello.error}`,
        "check that the endpoint answers and run verify again",
      ),
    ];
  }
  return [
    hello.compression === 0
      ? pass("tls", "tls-compression", subject, "no TLS compression")
      : fail(
          "tls",
          "tls-compression",
          subject,
          `the server picks TLS compression (method ${hello.compression}): CRIME`,
          SETTINGS_FIX[server],
        ),
    hello.secureRenegotiation
      ? pass("tls", "tls-renegotiation", subject, "secure renegotiation (RFC 5746) is supported")
      : fail(
          "tls",
          "tls-renegotiation",
          subject,
          "the server does not support secure renegotiation (RFC 5746)",
          SETTINGS_FIX[server],
        ),
    hello.extendedMasterSecret
      ? pass("tls", "tls-extended-master-secret", subject, "extended master secret (RFC 7627) on TLS 1.2")
      : warn(
          "tls",
          "tls-extended-master-secret",
          subject,
          "no extended master secret (RFC 7627) on TLS 1.2",
          SETTINGS_FIX[server],
        ),
  ];
}

function smtpResults(subject: Subject, host: string, findings: TlsFindings): Result[] {
  const transcript = findings.baseline.transcript;
  const results: Result[] = [];
  const banner = transcript?.banner?.split(/\r?\n/)[0] ?? "";
  const names = (line: string, code: string) =>
    new RegExp(`^${code}[ -]${host.replace(/\./g, "\\.")}(\\s|$)`, "i").test(line);
  const hostnameFix = `mailcow sets Postfix's myhostname from MAILCOW_HOSTNAME (mailcow.conf): it must be ${host}; run \`pulumi up\``;
  results.push(
    !transcript?.banner
      ? fail(
          "smtp",
          "smtp-banner",
          subject,
          `no SMTP greeting: ${findings.baseline.error ?? "no answer"}`,
          "check that port 25 reaches mailcow's Postfix (see ports)",
        )
      : names(banner, "220")
        ? pass("smtp", "smtp-banner", subject, `the banner names the host: ${banner}`)
        : fail("smtp", "smtp-banner", subject, `the banner does not name ${host}: ${banner}`, hostnameFix),
  );
  const ehlo = transcript?.ehlo ?? [];
  if (transcript?.banner) {
    results.push(
      names(ehlo[0] ?? "", "250")
        ? pass("smtp", "smtp-ehlo", subject, `EHLO names the host: ${ehlo[0] ?? ""}`)
        : fail(
            "smtp",
            "smtp-ehlo",
            subject,
            `the EHLO answer does not name ${host}: ${ehlo[0] ?? "(none)"}`,
            hostnameFix,
          ),
    );
    results.push(
      ehlo.some((line) => /^250[ -]STARTTLS\b/i.test(line))
        ? pass("smtp", "smtp-starttls", subject, "STARTTLS is offered")
        : fail(
            "smtp",
            "smtp-starttls",
            subject,
            "STARTTLS is not offered",
            "mailcow's Postfix offers STARTTLS once it has a certificate: check data/assets/ssl on the mail host and `docker compose logs postfix-mailcow`",
          ),
    );
  }
  return results;
}

export async function endpointResults(
  context: Context,
  endpoint: TargetEndpoint,
  address: string,
  family: string,
): Promise<Result[]> {
  const subject: Subject = { host: endpoint.host, port: endpoint.port, address };
  const findings = await context.tls(endpoint, address);
  const server = serverOf(endpoint);
  const results: Result[] = [];
  if (endpoint.security === "starttls" && starttlsProtocol(endpoint.port) === "smtp" && context.wants("smtp")) {
    results.push(...smtpResults(subject, endpoint.host, findings));
  }
  const baseline = findings.baseline;
  if (!baseline.ok) {
    const message = `no TLS session over ${family}${baseline.stage ? ` (${baseline.stage})` : ""}: ${baseline.error ?? ""}`;
    const fix = baseline.stage === "connect" ? "the port does not answer: see ports" : SETTINGS_FIX[server];
    if (context.wants("tls")) results.push(fail("tls", "tls-session", subject, message, fix));
    if (context.wants("certificate")) results.push(fail("certificate", "certificate-chain", subject, message, fix));
    return results;
  }
  if (context.wants("tls")) {
    results.push(
      versionResult(subject, server, findings, context.target.tlsMinVersion ?? "1.2"),
      ...cipherResults(subject, server, findings),
      groupResult(subject, server, findings),
      signatureResult(subject, server, findings),
      ...helloResults(subject, server, findings),
    );
  }
  if (context.wants("certificate")) {
    for (const finding of judgeCertificate(
      endpoint.host,
      baseline.chain ?? [],
      {
        authorized: baseline.authorized ?? false,
        ...(baseline.authorizationError ? { authorizationError: baseline.authorizationError } : {}),
      },
      context.now,
    )) {
      const fix =
        finding.check === "certificate-expiry"
          ? `${CERTIFICATE_FIX} (verify warns below ${EXPIRY_WARN_DAYS} days and fails below ${EXPIRY_FAIL_DAYS})`
          : finding.check === "certificate-name"
            ? `the certificate must name ${endpoint.host}: mailcow requests it for MAILCOW_HOSTNAME (and ADDITIONAL_SAN); ${CERTIFICATE_FIX}`
            : CERTIFICATE_FIX;
      const leaf = baseline.chain?.[0];
      const details = leaf ? { notAfter: leaf.validTo, fingerprint256: leaf.fingerprint256 } : undefined;
      results.push(
        finding.level === "pass"
          ? pass("certificate", finding.check, subject, finding.message, details)
          : (finding.level === "warn" ? warn : fail)(
              "certificate",
              finding.check,
              subject,
              finding.message,
              fix,
              details,
            ),
      );
    }
  }
  return results;
}

export async function tlsChecks(context: Context): Promise<Result[]> {
  if (!(["tls", "certificate", "smtp"] as const).some((category) => context.wants(category))) return [];
  const jobs = context.target.endpoints.flatMap((endpoint) =>
    context.addresses.map(({ address, family }) => endpointResults(context, endpoint, address, family)),
  );
  return (await Promise.all(jobs)).flat();
}
