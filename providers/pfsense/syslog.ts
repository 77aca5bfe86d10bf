// pfSense's remote syslog pointed at the mail host, through pfrest's log settings. What it relies
// on was read in pfrest/pfSense-pkg-RESTAPI@v2.10.0, files under
// pfSense-pkg-RESTAPI/files/usr/local/pkg/RESTAPI/ (R/…), and pfsense/pfsense@9363ac5b
// src/etc/inc/syslog.inc:
//
// - GET and PATCH /api/v2/status/logs/settings (R/Endpoints/StatusLogsSettingsEndpoint.inc) edit one
//   object, config path `syslog` (R/Models/LogSettings.inc, many: false). `always_apply`: every PATCH
//   runs apply() at once, which restarts syslogd (system_syslogd_start) and reloads the filter only
//   when a filter-logging field (nologdefaultblock, …) changed; the provider never sends those, so
//   a PATCH reloads no firewall rules and marks nothing dirty.
// - The remote fields (ipprotocol, sourceip, remoteserver…, logall, filter, …) are conditional on
//   enableremotelogging and are unset when it is false (R/Core/Field.inc validate: "unset any
//   existing value" when the conditions are not met); `filter` and the other categories are
//   conditional on !logall.
// - pfSense writes each remote server as `<facility> @server[:port]` into its syslogd config
//   (syslog.inc system_syslogd_get_remote_servers): FreeBSD syslogd's `@` is plain UDP, no TCP, no
//   TLS, so the receiver is the mail host on the LAN, which forwards over TLS. `sourceip` is an
//   interface whose address syslogd binds (`-b`, system_syslogd_start), so the packets come from
//   pfSense's LAN address.
// - Surprise: pfrest's `ipprotocol` has no internal_name, so it is stored as syslog/ipprotocol while
//   pfSense reads syslog/ipproto; only the IPv6 case depends on it, and the provider sends IPv4.
//
// Owned settings: the remote-logging fields in `spec`. The values found before the first write are
// kept (`previous`) and written back on delete, so removing the feature leaves pfSense as it was.
// Writes go through the pfSense provider's one-writer gate (every pfrest request rewrites the
// whole config, see pfsense.ts), shared across provider copies in the process.
import * as pulumi from "@pulumi/pulumi";
import { exclusive } from "./apply";
import { call, type PfSenseConnection } from "./client";

export const LOG_SETTINGS_PATH = "/api/v2/status/logs/settings";

/** The fields the stack sets, and the only ones it restores. */
export const REMOTE_FIELDS = ["enableremotelogging", "ipprotocol", "sourceip", "remoteserver", "logall", "filter"];

export interface RemoteSyslogInputs {
  readonly connection: PfSenseConnection;
  /** The remote-logging fields as pfrest names them (REMOTE_FIELDS). */
  readonly spec: Readonly<Record<string, unknown>>;
}

export interface RemoteSyslogOutputs extends RemoteSyslogInputs {
  /** The remote-logging fields as they were before the stack's first write. */
  readonly previous: Readonly<Record<string, unknown>>;
}

/** The settings that send pfSense's firewall log (filterlog) to `server` from the LAN interface. */
export function remoteSyslogSpec(server: { address: string; port: number }, sourceInterface: string) {
  return {
    enableremotelogging: true,
    ipprotocol: "ipv4",
    sourceip: sourceInterface,
    remoteserver: `${server.address}:${server.port}`,
    logall: false,
    filter: true,
  };
}

/** Self-contained (dynamic providers are serialized): only `call` and `exclusive` from pfsense.ts. */
export const remoteSyslogProvider: pulumi.dynamic.ResourceProvider<RemoteSyslogInputs, RemoteSyslogOutputs> = {
  check(_olds, news) {
    const failures: pulumi.dynamic.CheckFailure[] = [];
    const unknown = Object.keys(news.spec).filter((key) => !REMOTE_FIELDS.includes(key));
    if (unknown.length > 0)
      failures.push({ property: "spec", reason: `not a remote-logging field: ${unknown.join(", ")}` });
    if (!/^https:\/\//.test(news.connection.endpoint))
      failures.push({ property: "connection", reason: "the endpoint must be https://" });
    return Promise.resolve({ inputs: news, failures });
  },

  create(inputs) {
    return exclusive(inputs.connection, async () => {
      const now = (await call(inputs.connection, "GET", LOG_SETTINGS_PATH)) as Record<string, unknown>;
      const previous = Object.fromEntries(REMOTE_FIELDS.map((key) => [key, now[key] ?? null]));
      await call(inputs.connection, "PATCH", LOG_SETTINGS_PATH, { body: { ...inputs.spec } });
      return { id: "remote-syslog", outs: { ...inputs, previous } };
    });
  },

  async read(id, props) {
    if (!props) throw new Error(`pfSense remote syslog ${id}: nothing to read without its connection`);
    const now = (await call(props.connection, "GET", LOG_SETTINGS_PATH)) as Record<string, unknown>;
    const spec = Object.fromEntries(Object.keys(props.spec).map((key) => [key, now[key] ?? null]));
    return { id, props: { ...props, spec } };
  },

  diff(_id, olds, news) {
    const keys = [...new Set([...Object.keys(olds.spec), ...Object.keys(news.spec)])];
    const changed = keys.some(
      (key) => JSON.stringify(olds.spec[key] ?? null) !== JSON.stringify(news.spec[key] ?? null),
    );
    return Promise.resolve({ changes: changed || olds.connection.endpoint !== news.connection.endpoint });
  },

  update(_id, olds, news) {
    return exclusive(news.connection, async () => {
      await call(news.connection, "PATCH", LOG_SETTINGS_PATH, { body: { ...news.spec } });
      return { outs: { ...news, previous: olds.previous } };
    });
  },

  async delete(_id, props) {
    await exclusive(props.connection, async () => {
      // Remote logging was off: turning it off unsets the other remote fields (Field.inc).
      const body =
        props.previous.enableremotelogging === true
          ? Object.fromEntries(Object.entries(props.previous).filter(([, value]) => value !== null))
          : { enableremotelogging: false };
      await call(props.connection, "PATCH", LOG_SETTINGS_PATH, { body });
    });
  },
};

type Connection = pulumi.Input<{
  endpoint: pulumi.Input<string>;
  apiKey: pulumi.Input<string>;
  caCertificate?: pulumi.Input<string>;
}>;

/** pfSense's remote syslog (the firewall log) sent to one server; the old settings come back on delete. */
export class PfSenseRemoteSyslog extends pulumi.dynamic.Resource {
  declare readonly spec: pulumi.Output<Record<string, unknown>>;

  constructor(
    name: string,
    args: { connection: Connection; spec: Record<string, unknown> },
    opts?: pulumi.CustomResourceOptions,
  ) {
    super(
      remoteSyslogProvider,
      name,
      { ...args, previous: undefined },
      { ...opts, additionalSecretOutputs: ["connection"] },
      "pfsense",
      "RemoteSyslog",
    );
  }
}
