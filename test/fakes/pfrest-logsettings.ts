// The fake pfrest's log settings (GET/PATCH /api/v2/status/logs/settings), rebuilt from pfrest's source.
// Upstream source: pfrest/pfSense-pkg-RESTAPI@v2.10.0
// pfSense-pkg-RESTAPI/files/usr/local/pkg/RESTAPI/Models/LogSettings.inc, Endpoints/StatusLogsSettingsEndpoint.inc,
// Core/Field.inc, Fields/InterfaceField.inc, Validators/IPAddressValidator.inc;
// pfsense/pfsense@9363ac5b src/etc/inc/syslog.inc.
// (file@tag: Models/LogSettings.inc@v2.10.0, StatusLogsSettingsEndpoint.inc@v2.10.0, syslog.inc@9363ac5b)
//
// What it reproduces: one object (many: false) with the model's defaults; a PATCH merges the fields
// sent into the stored ones, validates types (FIELD_INVALID_TYPE), choices (FIELD_INVALID_CHOICE),
// the remote servers (IP_ADDRESS_VALIDATOR_FAILED, …_INVALID_PORT_SUFFIX) and the source interface,
// and unsets every field whose conditions fail (Field.inc validate): the remote fields without
// enableremotelogging, the categories under logall. `always_apply`: each PATCH restarts syslogd
// (counted), and the filter is reloaded only when a filter-logging field changed.
import { isIP } from "node:net";

export type Settings = Record<string, unknown>;

const BOOLEAN_DEFAULTS: Readonly<Record<string, boolean>> = {
  reverseorder: false,
  nologdefaultblock: false,
  nologdefaultpass: false,
  nologbogons: false,
  nologprivatenets: false,
  nolognginx: false,
  rawfilter: false,
  disablelocallogging: false,
  logconfigchanges: false,
  enableremotelogging: false,
  logall: false,
};
/** Categories sent to the remote servers when logall is off (conditions: enableremotelogging, !logall). */
const CATEGORIES = [
  "filter",
  "dhcp",
  "auth",
  "portalauth",
  "vpn",
  "dpinger",
  "hostapd",
  "system",
  "resolver",
  "ppp",
  "routing",
  "ntpd",
];
const REMOTE = ["ipprotocol", "sourceip", "remoteserver", "remoteserver2", "remoteserver3", "logall"];
const FILTER_LOGGING = ["nologdefaultblock", "nologdefaultpass", "nologbogons", "nologprivatenets"];

export const LOG_SETTINGS_DEFAULTS: Readonly<Settings> = {
  format: "rfc3164",
  nentries: 500,
  filterdescriptions: 0,
  logfilesize: 512000,
  rotatecount: 5,
  logcompressiontype: "bzip2",
  ...BOOLEAN_DEFAULTS,
  ipprotocol: null,
  sourceip: null,
  remoteserver: null,
  remoteserver2: null,
  remoteserver3: null,
  ...Object.fromEntries(CATEGORIES.map((name) => [name, null])),
};

const CHOICES: Readonly<Record<string, readonly unknown[]>> = {
  format: ["rfc3164", "rfc5424"],
  ipprotocol: ["ipv4", "ipv6"],
  logcompressiontype: ["bzip2", "gzip", "xz", "zstd", "none"],
  filterdescriptions: [0, 1, 2],
};

type Refuse = (code: number, responseId: string, message: string) => never;

function isFqdn(value: string): boolean {
  return /^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(
    value,
  );
}

/** IPAddressValidator(allow_fqdn, allow_port): an IPv4, IPv6 or FQDN, an ADDR:PORT split at the first colon. */
function checkServer(name: string, value: string, refuse: Refuse): void {
  let address = value;
  if (value.includes(":")) {
    const [host = "", port = ""] = value.split(":");
    const number = Number(port);
    if (!/^\d+$/.test(port) || number < 1 || number > 65535)
      refuse(
        400,
        "IP_ADDRESS_VALIDATOR_INVALID_PORT_SUFFIX",
        `Field \`${name}\` contains an invalid port suffix \`${port}\`.`,
      );
    address = host;
  }
  if (isIP(address) === 0 && !isFqdn(address))
    refuse(
      400,
      "IP_ADDRESS_VALIDATOR_FAILED",
      `Field \`${name}\` must be a valid IPv4 address, IPv6 address, FQDN, received \`${value}\`.`,
    );
}

export interface LogSettingsResult {
  readonly shown: Settings;
  /** The settings to store (undefined: a GET, nothing written). */
  readonly next?: Settings;
  /** A filter-logging field changed: apply() spawns the firewall reload. */
  readonly filterReload: boolean;
}

/** One request to /api/v2/status/logs/settings against the stored settings. */
export function logSettingsRequest(
  stored: Settings | undefined,
  method: string,
  data: Settings,
  interfaceIds: readonly string[],
  refuse: Refuse,
): LogSettingsResult {
  const current = { ...LOG_SETTINGS_DEFAULTS, ...stored };
  if (method !== "PATCH") return { shown: current, filterReload: false };
  const { apply: _apply, ...fields } = data;
  for (const [name, value] of Object.entries(fields)) {
    if (!(name in LOG_SETTINGS_DEFAULTS)) continue; // pfrest ignores fields the model does not have
    const expected =
      name in BOOLEAN_DEFAULTS || CATEGORIES.includes(name)
        ? "boolean"
        : typeof LOG_SETTINGS_DEFAULTS[name] === "number"
          ? "number"
          : "string";
    if (value !== null && typeof value !== expected)
      refuse(
        400,
        "FIELD_INVALID_TYPE",
        `Field \`${name}\` must be of type \`${expected === "number" ? "integer" : expected}\``,
      );
  }
  const next: Settings = { ...current, ...fields };
  for (const key of Object.keys(next)) if (!(key in LOG_SETTINGS_DEFAULTS)) delete next[key];
  // Field.inc validate: a field whose conditions fail is unset, and not validated.
  if (next.enableremotelogging !== true) for (const name of [...REMOTE, ...CATEGORIES]) next[name] = null;
  else {
    next.ipprotocol ??= "ipv4";
    next.sourceip ??= "";
    next.logall ??= false;
    if (next.remoteserver === null) next.remoteserver2 = null;
    if (next.remoteserver2 === null) next.remoteserver3 = null;
    for (const name of CATEGORIES) next[name] = next.logall === true ? null : (next[name] ?? false);
  }
  for (const [name, choices] of Object.entries(CHOICES))
    if (next[name] !== null && !choices.includes(next[name]))
      refuse(400, "FIELD_INVALID_CHOICE", `Field \`${name}\` must be one of [${choices.join(", ")}]`);
  for (const name of ["remoteserver", "remoteserver2", "remoteserver3"])
    if (typeof next[name] === "string") checkServer(name, next[name], refuse);
  // InterfaceField(allow_localhost_interface, allow_custom: ['']).
  const sources = ["", "lo0", ...interfaceIds];
  if (next.sourceip !== null && !sources.includes(next.sourceip as string))
    refuse(400, "FIELD_INVALID_CHOICE", `Field \`sourceip\` must be one of [${sources.filter(Boolean).join(", ")}]`);
  const filterReload = FILTER_LOGGING.some((name) => next[name] !== current[name]);
  return { shown: next, next, filterReload };
}
