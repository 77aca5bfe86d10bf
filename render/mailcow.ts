// mailcow's configuration as files (pure): mailcow.conf, the Postfix and Dovecot TLS overrides
// and docker-compose.override.yml. Written into /opt/mailcow-dockerized by the bring-up; the
// overrides survive mailcow updates (mailcow.md, "Config overrides").
import { stringify } from "yaml";

export const MAILCOW_DIR = "/opt/mailcow-dockerized";
/** mailcow.conf's COMPOSE_PROJECT_NAME: the prefix of its containers' labels and volumes. */
export const COMPOSE_PROJECT = "mailcowdockerized";

export interface MailcowSecrets {
  readonly dbPass: string;
  readonly dbRoot: string;
  readonly redisPass: string;
  readonly apiKey: string;
  readonly apiKeyReadOnly: string;
  readonly sogoUrlEncryptionKey: string;
}

/** Stand-ins for the secrets in renderings that are shown (plan files). */
export const REDACTED_SECRETS: MailcowSecrets = {
  dbPass: "[secret]",
  dbRoot: "[secret]",
  redisPass: "[secret]",
  apiKey: "[secret]",
  apiKeyReadOnly: "[secret]",
  sogoUrlEncryptionKey: "[secret]",
};

export interface MailcowConfInput {
  /** The mailcow release the file is rendered for (a change re-applies it after update.sh). */
  readonly version: string;
  readonly hostname: string;
  readonly timezone: string;
  readonly clamav: boolean;
  readonly sogo: boolean;
  readonly fullTextSearch: boolean;
  readonly apiAllowFrom: readonly string[];
  readonly watchdogEmail: string;
  readonly services: {
    readonly submission: boolean;
    readonly pop3s: boolean;
    readonly imap: boolean;
    readonly pop3: boolean;
    readonly sieve: boolean;
  };
}

const yn = (on: boolean) => (on ? "y" : "n");
/** A published port, or the same port on loopback only when the service is not offered. */
const port = (value: number, offered: boolean) => (offered ? String(value) : `127.0.0.1:${value}`);

/** A variable mailcow.conf carries commented out (mailcow's own default applies). */
export const COMMENTED = Symbol("commented");

/**
 * mailcow.conf with only the variables mailcow's generate_config.sh writes (mailcow.md); none of
 * the guide's invented ones (USE_SSL, ACME_DOMAIN, SSL_TYPE, IPV4_ADDRESS, …). Every key update.sh
 * would add is present (active or commented out), so update.sh adds nothing (mailcow-dockerized
 * 2026-07a _modules/scripts/new_options.sh:8-63 checks `^#?KEY=`), and the stack's file wins after
 * an upgrade: it is written again when the release changes.
 */
export function mailcowConfVariables(
  input: MailcowConfInput,
  secrets: MailcowSecrets,
): [string, string | typeof COMMENTED][] {
  const { services } = input;
  return [
    ["MAILCOW_HOSTNAME", input.hostname],
    ["MAILCOW_PASS_SCHEME", "BLF-CRYPT"],
    ["DBNAME", "mailcow"],
    ["DBUSER", "mailcow"],
    ["DBPASS", secrets.dbPass],
    ["DBROOT", secrets.dbRoot],
    ["REDISPASS", secrets.redisPass],
    ["HTTP_PORT", "80"],
    ["HTTP_BIND", ""],
    ["HTTPS_PORT", "443"],
    ["HTTPS_BIND", ""],
    ["HTTP_REDIRECT", "y"],
    ["SMTP_PORT", "25"],
    ["SMTPS_PORT", "465"],
    ["SUBMISSION_PORT", port(587, services.submission)],
    ["IMAP_PORT", port(143, services.imap)],
    ["IMAPS_PORT", "993"],
    ["POP_PORT", port(110, services.pop3)],
    ["POPS_PORT", port(995, services.pop3s)],
    ["SIEVE_PORT", port(4190, services.sieve)],
    ["DOVEADM_PORT", "127.0.0.1:19991"],
    ["SQL_PORT", "127.0.0.1:13306"],
    ["REDIS_PORT", "127.0.0.1:7654"],
    ["TZ", input.timezone],
    ["COMPOSE_PROJECT_NAME", COMPOSE_PROJECT],
    // Written explicitly: an empty value makes the restore script refuse to run.
    ["DOCKER_COMPOSE_VERSION", "native"],
    ["ACL_ANYONE", "disallow"],
    ["MAILDIR_GC_TIME", "7200"],
    ["ADDITIONAL_SAN", ""],
    ["AUTODISCOVER_SAN", "y"],
    ["ADDITIONAL_SERVER_NAMES", ""],
    ["SKIP_LETS_ENCRYPT", "n"],
    ["ACME_DNS_CHALLENGE", "n"],
    ["ACME_DNS_PROVIDER", "dns_xxx"],
    ["ACME_ACCOUNT_EMAIL", ""],
    ["ENABLE_SSL_SNI", "n"],
    ["SKIP_IP_CHECK", "n"],
    ["SKIP_HTTP_VERIFICATION", "n"],
    ["SKIP_UNBOUND_HEALTHCHECK", "n"],
    ["SKIP_CLAMD", yn(!input.clamav)],
    ["SKIP_OLEFY", "n"],
    ["SKIP_SOGO", yn(!input.sogo)],
    ["SKIP_FTS", yn(!input.fullTextSearch)],
    ["FTS_HEAP", "128"],
    ["FTS_PROCS", "1"],
    ["ALLOW_ADMIN_EMAIL_LOGIN", "n"],
    ["USE_WATCHDOG", "y"],
    ["WATCHDOG_NOTIFY_EMAIL", input.watchdogEmail],
    ["WATCHDOG_NOTIFY_WEBHOOK", COMMENTED],
    ["WATCHDOG_NOTIFY_WEBHOOK_BODY", COMMENTED],
    ["WATCHDOG_NOTIFY_BAN", "n"],
    ["WATCHDOG_NOTIFY_START", "y"],
    ["WATCHDOG_EXTERNAL_CHECKS", "n"],
    ["WATCHDOG_SUBJECT", COMMENTED],
    ["WATCHDOG_VERBOSE", "n"],
    ["LOG_LINES", "9999"],
    ["IPV4_NETWORK", "172.22.1"],
    ["IPV6_NETWORK", "fd4d:6169:6c63:6f77::/64"],
    ["SNAT_TO_SOURCE", COMMENTED],
    ["SNAT6_TO_SOURCE", COMMENTED],
    ["API_KEY", secrets.apiKey],
    ["API_KEY_READ_ONLY", secrets.apiKeyReadOnly],
    ["API_ALLOW_FROM", input.apiAllowFrom.join(",")],
    ["MAILDIR_SUB", "Maildir"],
    ["SOGO_EXPIRE_SESSION", "480"],
    ["SOGO_URL_ENCRYPTION_KEY", secrets.sogoUrlEncryptionKey],
    ["DOVECOT_MASTER_USER", ""],
    ["DOVECOT_MASTER_PASS", ""],
    ["WEBAUTHN_ONLY_TRUSTED_VENDORS", "n"],
    ["SPAMHAUS_DQS_KEY", ""],
    ["ENABLE_IPV6", "true"],
    ["DISABLE_NETFILTER_ISOLATION_RULE", "n"],
  ];
}

export function mailcowConf(input: MailcowConfInput, secrets: MailcowSecrets): string {
  const lines = [
    `# mailcow.conf for mailcow ${input.version}, rendered by mailstack; changes here are overwritten by the next \`pulumi up\`.`,
  ];
  for (const [name, value] of mailcowConfVariables(input, secrets)) {
    if (value === COMMENTED) {
      lines.push(`#${name}=`);
      continue;
    }
    if (/[\s"'$`\\#]/.test(value)) throw new Error(`mailcow.conf value of ${name} cannot be written safely`);
    lines.push(`${name}=${value}`);
  }
  return `${lines.join("\n")}\n`;
}

/** ECDHE with AEAD only, server order: the internet.nl "good" TLS 1.2 suites (TLS 1.3 suites are all good). */
export const TLS12_CIPHERS = [
  "ECDHE-ECDSA-AES256-GCM-SHA384",
  "ECDHE-RSA-AES256-GCM-SHA384",
  "ECDHE-ECDSA-CHACHA20-POLY1305",
  "ECDHE-RSA-CHACHA20-POLY1305",
  "ECDHE-ECDSA-AES128-GCM-SHA256",
  "ECDHE-RSA-AES128-GCM-SHA256",
].join(":");

/** Handshake signatures without SHA-1 (and without SHA-224). */
export const SIGNATURE_ALGORITHMS = [
  "ECDSA+SHA256",
  "ECDSA+SHA384",
  "ECDSA+SHA512",
  "RSA-PSS+SHA256",
  "RSA-PSS+SHA384",
  "RSA-PSS+SHA512",
  "RSA+SHA512",
  "RSA+SHA256",
  "RSA+SHA384",
].join(":");

/** Key exchange groups internet.nl rates good; no finite-field DH (ffdhe2048 rates insufficient). */
export const GROUPS = "X25519:prime256v1:secp384r1";

/** The path of openssl.cnf inside mailcow's postfix container. */
export const POSTFIX_OPENSSL_CNF = "/opt/postfix/conf/openssl.cnf";

export type TlsVersion = "1.2" | "1.3";

/** Postfix's per-client limits (anvil; clients in mynetworks, mailcow's own containers, are exempt). */
export interface PostfixClientLimits {
  /** smtpd_client_connection_count_limit: simultaneous connections of one client. */
  readonly connectionCount: number;
  /** smtpd_client_connection_rate_limit: connections of one client per minute. */
  readonly connectionRatePerMinute: number;
  /** smtpd_client_message_rate_limit: messages of one client per minute. */
  readonly messageRatePerMinute: number;
}

export interface PostfixExtraCfInput {
  /** MAILCOW_HOSTNAME: the first line, exactly as mailcow's postfix.sh writes it back. */
  readonly hostname: string;
  readonly minVersion: TlsVersion;
  readonly limits?: PostfixClientLimits;
  /** The container path of openssl.cnf (a lab points it elsewhere). */
  readonly opensslConfig?: string;
}

/**
 * data/conf/postfix/extra.cf. mailcow's postfix container rewrites this host file at every start:
 * it deletes `myhostname` lines and prepends `myhostname = <MAILCOW_HOSTNAME>` (mailcow-dockerized
 * 2026-07a data/Dockerfiles/postfix/postfix.sh:488-490, with `echo -e`, so no backslashes here).
 * Rendered with that line first, the file stays as rendered and re-applying it changes nothing.
 * master.cf runs 465 and 587 with `-o smtpd_tls_mandatory_protocols=$smtps_…`/`$submission_…`
 * (master.cf:15,33; main.cf:166-168 sets both to >=TLSv1.2), so those two are set here as well.
 */
export function postfixExtraCf(input: PostfixExtraCfInput): string {
  if (/[\s\\]/.test(input.hostname)) throw new Error("the host name cannot be written into extra.cf");
  const protocols = `>=TLSv${input.minVersion}`;
  return [
    `myhostname = ${input.hostname}`,
    "# mailstack: TLS hardening (internet.nl 100%); rendered, do not edit on the host.",
    `tls_config_file = ${input.opensslConfig ?? POSTFIX_OPENSSL_CNF}`,
    "tls_config_name = postfix",
    `tls_high_cipherlist = ${TLS12_CIPHERS}`,
    "tls_preempt_cipherlist = yes",
    "tls_ssl_options = NO_COMPRESSION, NO_RENEGOTIATION",
    `tls_eecdh_auto_curves = ${GROUPS.split(":").join(" ")}`,
    "# Postfix 3.8+ would add ffdhe2048/3072 to the TLS 1.3 groups; older releases ignore this.",
    "tls_ffdhe_auto_groups =",
    "smtpd_tls_ciphers = high",
    "smtpd_tls_mandatory_ciphers = high",
    `smtpd_tls_protocols = ${protocols}`,
    `smtpd_tls_mandatory_protocols = ${protocols}`,
    "# 465 (smtps) and 587 (submission) take their minimum from these (mailcow's master.cf).",
    `smtps_smtpd_tls_mandatory_protocols = ${protocols}`,
    `submission_smtpd_tls_mandatory_protocols = ${protocols}`,
    "smtp_tls_ciphers = high",
    "smtp_tls_mandatory_ciphers = high",
    `smtp_tls_protocols = ${protocols}`,
    `smtp_tls_mandatory_protocols = ${protocols}`,
    ...(input.limits
      ? [
          "# mailstack: limits per client (anvil, per minute); mynetworks (mailcow's containers) are exempt.",
          "anvil_rate_time_unit = 60s",
          `smtpd_client_connection_count_limit = ${input.limits.connectionCount}`,
          `smtpd_client_connection_rate_limit = ${input.limits.connectionRatePerMinute}`,
          `smtpd_client_message_rate_limit = ${input.limits.messageRatePerMinute}`,
        ]
      : []),
    "",
  ].join("\n");
}

/** data/conf/postfix/openssl.cnf (the container's /opt/postfix/conf/openssl.cnf). */
export function postfixOpensslCnf(minVersion: TlsVersion): string {
  return [
    "# mailstack: OpenSSL settings for Postfix (tls_config_name = postfix).",
    "postfix = postfix_settings",
    "",
    "[postfix_settings]",
    "ssl_conf = postfix_ssl_settings",
    "",
    "[postfix_ssl_settings]",
    "system_default = baseline_postfix_settings",
    "",
    "[baseline_postfix_settings]",
    `MinProtocol = TLSv${minVersion}`,
    `SignatureAlgorithms = ${SIGNATURE_ALGORITHMS}`,
    "",
  ].join("\n");
}

/** data/conf/dovecot/extra.conf (Dovecot 2.3 syntax, as mailcow ships). */
export function dovecotExtraConf(minVersion: TlsVersion): string {
  return [
    "# mailstack: TLS hardening; rendered, do not edit on the host.",
    `ssl_min_protocol = TLSv${minVersion}`,
    `ssl_cipher_list = ${TLS12_CIPHERS}`,
    "ssl_prefer_server_ciphers = yes",
    `ssl_curve_list = ${GROUPS}`,
    "",
  ].join("\n");
}

export interface ServiceLimit {
  readonly memoryMiB: number;
  readonly cpus: number;
}

/** docker-compose.override.yml with the resource limits (update.sh leaves the override alone). */
export function composeOverride(limits: Readonly<Partial<Record<string, ServiceLimit>>>): string {
  const services: Record<string, { mem_limit: string; cpus: string }> = {};
  for (const [service, limit] of Object.entries(limits).sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (limit) services[service] = { mem_limit: `${limit.memoryMiB}m`, cpus: String(limit.cpus) };
  }
  return `# mailstack: resource limits; rendered, do not edit on the host.\n${stringify({ services })}`;
}
