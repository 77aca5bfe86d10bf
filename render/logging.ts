// Log shipping and local retention on the mail host (pure renderers). The journal is the one local
// store: host services log to it, and Docker's journald log driver puts the mailcow containers'
// output there too, so one bound (days and size) covers both. rsyslog reads the journal (imjournal)
// and forwards it over syslog/TLS (RFC 5425: TCP, octet-counted framing, TLS with the collector's
// CA pinned and its name checked) when a collector is configured; lines that look like they carry a
// secret are never forwarded. Nothing else writes log files: rsyslog's own configuration replaces
// Debian's (no /var/log/syslog copies with a retention of their own).
import type { HostScript } from "./host-scripts";
import { b64, renderScript } from "./shell";

export interface LogForward {
  readonly host: string;
  readonly port: number;
  /** The PEM CA that signed the collector's certificate (the only one trusted). */
  readonly caCertificate: string;
  /** The name the collector's certificate must carry. */
  readonly peerName: string;
}

export interface LogRetention {
  readonly days: number;
  readonly maxSizeMiB: number;
}

/**
 * pfSense's firewall log, received on the mail host's LAN address: pfSense's syslogd sends plain
 * UDP only (`@server` lines, pfsense/pfsense@9363ac5b src/etc/inc/syslog.inc), so it goes no
 * further than the LAN, and rsyslog forwards it with the journal over TLS.
 */
export interface PfSenseLogReceiver {
  /** The mail host's LAN IPv4 address (rsyslog listens there only). */
  readonly listen: string;
  readonly port: number;
  /** pfSense's LAN address, the only sender accepted. */
  readonly source: string;
}

/** The UDP port the mail host receives pfSense's log on (unprivileged, not the standard 514). */
export const PFSENSE_SYSLOG_PORT = 5514;

export interface LoggingInput {
  readonly forward?: LogForward;
  /** Only with `forward`: pfSense's log is forwarded, never stored on the host. */
  readonly pfsense?: PfSenseLogReceiver;
  /** Why the logs stay on the host, as declared (mailstack:logging.localOnly.reason). */
  readonly localOnlyReason?: string;
  readonly retention: LogRetention;
  /** Docker's per-container local cache (dual logging) beside the journal. */
  readonly containerCache: { readonly maxSizeMiB: number; readonly maxFiles: number };
}

/** Where rsyslog keeps its state; the mail host's, tests point them elsewhere. */
export interface RsyslogPaths {
  readonly caFile: string;
  readonly workDirectory: string;
}

export const RSYSLOG_PATHS: RsyslogPaths = {
  caFile: "/etc/mailstack/log-collector-ca.pem",
  workDirectory: "/var/spool/rsyslog",
};

/** The disk-assisted queue that holds lines while the collector is unreachable (bounded). */
export const FORWARD_QUEUE_MAX_MIB = 512;

/**
 * Words that mark a line as carrying a secret: `password=…`, `api_key: …`, `Authorization: Bearer`,
 * a private key. Matched on the lower-cased message (POSIX ERE, as rsyslog's re_match takes it).
 */
export const SECRET_PATTERN =
  "(pass(word|wd|phrase)?|secret|token|api[_-]?key|authorization|credential)s?[^[:alnum:][:space:]]?[[:space:]]*[:=]|bearer[[:space:]]+[a-z0-9._~+/-]{8,}|-----begin [a-z ]*private key-----";

const quote = (value: string) => {
  if (/["\\\n]/.test(value)) throw new Error("an rsyslog setting cannot hold quotes, backslashes or line breaks");
  return `"${value}"`;
};

/** /etc/rsyslog.conf: the journal in, TLS out, nothing written locally. */
export function rsyslogConf(
  forward: LogForward,
  paths: RsyslogPaths = RSYSLOG_PATHS,
  pfsense?: PfSenseLogReceiver,
): string {
  const receiver = pfsense
    ? [
        "",
        "# pfSense's firewall log (plain UDP syslog on the LAN), from pfSense's LAN address only; other",
        "# senders are dropped here and by the host firewall.",
        'module(load="imudp")',
        `input(type="imudp" name="pfsense" address=${quote(pfsense.listen)} port=${quote(String(pfsense.port))})`,
        `if $inputname == "pfsense" and $fromhost-ip != ${quote(pfsense.source)} then stop`,
      ]
    : [];
  return [
    "# mailstack: the journal (host services and the mailcow containers) forwarded to the collector over",
    "# syslog/TLS (RFC 5425); rendered by the stack, do not edit on the host. No local log files: the",
    "# journal is the only local store, bounded by journald's retention.",
    "global(",
    `  workDirectory=${quote(paths.workDirectory)}`,
    '  defaultNetstreamDriver="gtls"',
    `  defaultNetstreamDriverCAFile=${quote(paths.caFile)}`,
    '  maxMessageSize="64k"',
    ")",
    'module(load="imjournal" StateFile="imjournal.state" Ratelimit.Interval="0")',
    ...receiver,
    "",
    "# A line that looks like it carries a secret stays in the journal (root only) and is never sent.",
    `if re_match(tolower($msg), ${quote(SECRET_PATTERN)}) then stop`,
    "",
    "action(",
    '  type="omfwd"',
    `  target=${quote(forward.host)}`,
    `  port=${quote(String(forward.port))}`,
    '  protocol="tcp"',
    '  TCP_Framing="octet-counted"',
    '  template="RSYSLOG_SyslogProtocol23Format"',
    '  StreamDriver="gtls"',
    '  StreamDriverMode="1"',
    '  StreamDriverAuthMode="x509/name"',
    `  StreamDriverPermittedPeers=${quote(forward.peerName)}`,
    '  queue.type="LinkedList"',
    '  queue.filename="mailstack-forward"',
    `  queue.maxDiskSpace="${FORWARD_QUEUE_MAX_MIB}m"`,
    '  queue.saveOnShutdown="on"',
    '  action.resumeRetryCount="-1"',
    '  action.resumeInterval="10"',
    ")",
    "",
  ].join("\n");
}

/** The journald drop-in: persistent, bounded in size and age, no second copy through syslog. */
export function journaldConf(retention: LogRetention): string {
  return [
    "# mailstack: the journal is the host's only log store, bounded in size and age (mailstack:logging.retention).",
    "[Journal]",
    "Storage=persistent",
    "Compress=yes",
    `SystemMaxUse=${retention.maxSizeMiB}M`,
    `RuntimeMaxUse=${Math.min(retention.maxSizeMiB, 256)}M`,
    `MaxRetentionSec=${retention.days}day`,
    "MaxFileSec=1day",
    "ForwardToSyslog=no",
    "",
  ].join("\n");
}

/**
 * Docker's log settings for daemon.json: the journald driver (container lines land in the bounded
 * journal, tagged with the container's name) and a bounded local cache, which `docker logs` and
 * CrowdSec's docker source read (dual logging).
 */
export function dockerLogOptions(input: Pick<LoggingInput, "containerCache">): {
  "log-driver": string;
  "log-opts": Record<string, string>;
} {
  return {
    "log-driver": "journald",
    "log-opts": {
      tag: "{{.Name}}",
      "cache-disabled": "false",
      "cache-max-size": `${input.containerCache.maxSizeMiB}m`,
      "cache-max-file": String(input.containerCache.maxFiles),
      "cache-compress": "true",
    },
  };
}

export const JOURNALD_DROP_IN = "/etc/systemd/journald.conf.d/90-mailstack.conf";

/** What the logging step installs, for the plan's files/ view. */
export function loggingFiles(input: LoggingInput): { path: string; mode: string; content: string }[] {
  return [
    { path: JOURNALD_DROP_IN, mode: "0644", content: journaldConf(input.retention) },
    ...(input.forward
      ? [
          {
            path: "/etc/rsyslog.conf",
            mode: "0644",
            content: rsyslogConf(input.forward, RSYSLOG_PATHS, input.pfsense),
          },
          { path: RSYSLOG_PATHS.caFile, mode: "0644", content: `${input.forward.caCertificate.trim()}\n` },
        ]
      : [{ path: "/etc/mailstack/logging-local-only", mode: "0644", content: `${input.localOnlyReason ?? ""}\n` }]),
  ];
}

/** The bring-up step: journald's bounds, rsyslog forwarding or its removal, checked by rsyslogd -N1. */
export function loggingScript(input: LoggingInput, mailcowDir: string): HostScript {
  return {
    name: "logging",
    files: loggingFiles(input),
    content: renderScript(
      "logging",
      {
        JOURNALD_DROP_IN,
        JOURNALD_CONF_B64: b64(journaldConf(input.retention)),
        FORWARD: input.forward !== undefined,
        RSYSLOG_CONF_B64: input.forward ? b64(rsyslogConf(input.forward, RSYSLOG_PATHS, input.pfsense)) : "",
        CA_FILE: RSYSLOG_PATHS.caFile,
        CA_PEM_B64: input.forward ? b64(`${input.forward.caCertificate.trim()}\n`) : "",
        COLLECTOR: input.forward ? `${input.forward.host}:${input.forward.port}` : "",
        LOCAL_ONLY_REASON: input.localOnlyReason?.replace(/\s+/g, " ") ?? "",
        MAILCOW_DIR: mailcowDir,
      },
      "host",
    ),
  };
}
