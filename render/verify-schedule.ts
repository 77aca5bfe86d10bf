// Scheduled `verify` on a host that is not the mail VM (pure renderers): the settings file, the
// outputs it checks against, the wrapper, the systemd service and timer, and the install script
// that puts them in place. Shell lives in render/scripts/*.sh; this file only supplies values.
import { gzipSync, strToU8 } from "fflate";
import { createHash } from "node:crypto";
import { dirname } from "node:path";
import { fileSettings, type Unit } from "./backup";
import type { HostScript, InstalledFile } from "./host-scripts";
import { renderScript, scriptSource, shellQuote } from "./shell";

export interface VerifyHostInput {
  /** The SSH user the stack logs in as (the bundle is copied into its home). */
  readonly sshUser: string;
  /** systemd calendar expression, e.g. "hourly". */
  readonly schedule: string;
  /** node_exporter's textfile collector directory. */
  readonly textfileDirectory: string;
  /** A validating resolver HOST[:PORT]; the host's own when absent. */
  readonly resolver?: string;
}

export const VERIFY_PATHS = {
  bundle: "/usr/local/lib/mailstack-verify/mailstack-verify.js",
  wrapper: "/usr/local/bin/mailstack-verify",
  settings: "/etc/mailstack-verify/verify.env",
  outputs: "/etc/mailstack-verify/outputs.json",
  /** Relative to the SSH user's home: where the stack's SFTP copy of the packed bundle lands. */
  staged: ".mailstack-verify/mailstack-verify.js.gz.b64",
  /** Debian's root key (dns-root-data): verify validates the chain from it. */
  trustAnchor: "/usr/share/dns/root.key",
} as const;

export const PROMETHEUS_FILE_NAME = "mailstack_verify.prom";

/** The metrics file in node_exporter's textfile directory. */
const prometheusFile = (input: VerifyHostInput) =>
  `${input.textfileDirectory.replace(/\/$/, "")}/${PROMETHEUS_FILE_NAME}`;

const UNIT_DIR = "/etc/systemd/system";

export const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

/**
 * The bundle as it travels and sits in the stack state (the copy's source): gzip, then base64
 * (text, as a StringAsset must be), well under half the bundle. The packed text is the copy's
 * content and trigger, so it must be a function of the bundle alone. Node's own zlib is not: its
 * Chromium zlib hashes with CRC32C when the CPU has SSE4.2 or ARMv8 CRC and says its output then
 * differs from vanilla zlib (node v20 deps/zlib/contrib/optimizations/insert_string.h,
 * insert_string), so another machine or Node release could re-copy an unchanged bundle. fflate is
 * plain JavaScript pinned by the lockfile; with `mtime: 0` its header holds no time and always OS 3
 * (fflate 0.8.3 src/index.ts, gzh).
 */
export function packBundle(bundle: string): string {
  return Buffer.from(gzipSync(strToU8(bundle), { level: 9, mtime: 0 })).toString("base64");
}

function assignments(values: readonly (readonly [string, string])[]): string {
  return values.map(([name, value]) => `${name}=${shellQuote(value)}`).join("\n");
}

export interface VerifyPaths {
  readonly bundle: string;
  readonly outputs: string;
  readonly trustAnchor: string;
}

/** /etc/mailstack-verify/verify.env, read by the wrapper (tests point the paths elsewhere). */
export function verifySettings(input: VerifyHostInput, paths: VerifyPaths = VERIFY_PATHS): string {
  return `# mailstack: settings of mailstack-verify (rendered by the stack; changes are overwritten).
${assignments([
  ["VERIFY_NODE", "node"],
  ["VERIFY_BUNDLE", paths.bundle],
  ["VERIFY_OUTPUTS", paths.outputs],
  ["VERIFY_PROMETHEUS_FILE", prometheusFile(input)],
  ["VERIFY_RESOLVER", input.resolver ?? ""],
  ["VERIFY_TRUST_ANCHOR", paths.trustAnchor],
])}
`;
}

export function verifyUnits(input: VerifyHostInput, wrapper: string = VERIFY_PATHS.wrapper): Unit[] {
  return [
    {
      name: "mailstack-verify.service",
      content: `[Unit]
Description=mailstack: verify the deployed mail stack from outside
Documentation=file://${wrapper}
Wants=network-online.target
After=network-online.target

[Service]
Type=oneshot
ExecStart=${wrapper}
# 1 means a check failed: the metrics say which; only 2 (bad usage) and crashes fail the unit.
SuccessExitStatus=1
TimeoutStartSec=5min
Nice=10
ProtectSystem=strict
ReadWritePaths=${input.textfileDirectory}
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
NoNewPrivileges=yes
CapabilityBoundingSet=
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectControlGroups=yes
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK
LockPersonality=yes
SystemCallArchitectures=native
`,
    },
    {
      name: "mailstack-verify.timer",
      content: `[Unit]
Description=mailstack: scheduled verify of the deployed mail stack

[Timer]
OnCalendar=${input.schedule}
RandomizedDelaySec=5min
Persistent=true

[Install]
WantedBy=timers.target
`,
    },
  ];
}

/** Every file the verify host receives besides the bundle, with its mode. */
export function verifyFiles(input: VerifyHostInput, outputsJson: string): InstalledFile[] {
  return [
    { path: VERIFY_PATHS.wrapper, mode: "0755", content: scriptSource("mailstack-verify") },
    { path: VERIFY_PATHS.settings, mode: "0644", content: verifySettings(input) },
    {
      path: VERIFY_PATHS.outputs,
      mode: "0644",
      content: outputsJson.endsWith("\n") ? outputsJson : `${outputsJson}\n`,
    },
    ...verifyUnits(input).map((unit) => ({
      path: `${UNIT_DIR}/${unit.name}`,
      mode: "0644",
      content: unit.content,
    })),
  ];
}

/**
 * Installs Node.js (when missing), the copied bundle, the files and the timer; starts a first run.
 * Run with the argument `uninstall` it removes them instead (the Command's `delete`).
 * `packedSha256` is the SHA-256 of the packed bundle the stack copied (packBundle).
 */
export function verifyInstallScript(input: VerifyHostInput, outputsJson: string, packedSha256: string): HostScript {
  const files = verifyFiles(input, outputsJson);
  return {
    name: "verify-install",
    content: renderScript(
      "verify-install",
      {
        VERIFY_BUNDLE: VERIFY_PATHS.bundle,
        VERIFY_PACKED_SHA256: packedSha256,
        VERIFY_STAGED: VERIFY_PATHS.staged,
        VERIFY_SSH_USER: input.sshUser,
        VERIFY_TEXTFILE_DIR: input.textfileDirectory,
        VERIFY_TRUST_ANCHOR: VERIFY_PATHS.trustAnchor,
        VERIFY_WRAPPER: VERIFY_PATHS.wrapper,
        VERIFY_CONFIG_DIR: dirname(VERIFY_PATHS.settings),
        VERIFY_UNIT_DIR: UNIT_DIR,
        VERIFY_PROMETHEUS_FILE: prometheusFile(input),
        ...fileSettings(files),
      },
      "host",
    ),
    files,
  };
}
