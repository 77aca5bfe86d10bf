// A fake pfSense REST API on loopback, rebuilt from pfrest's source: repository
// pfrest/pfSense-pkg-RESTAPI, tag v2.10.0, code under pfSense-pkg-RESTAPI/files/usr/local/pkg/RESTAPI/
// (cited below as R/…), and pfSense's filter reload (pfsense/pfsense RELENG_2_7_2, src/etc/inc/).
// Upstream source: pfrest/pfSense-pkg-RESTAPI@v2.10.0
// pfSense-pkg-RESTAPI/files/usr/local/pkg/RESTAPI/Core/Endpoint.inc, Core/Model.inc, Core/Response.inc;
// pfsense/pfsense@RELENG_2_7_2 src/etc/inc/filter.inc.
// (file@tag: Core/Endpoint.inc@v2.10.0, Core/Model.inc@v2.10.0, filter.inc@RELENG_2_7_2)
//
// What it reproduces, because the provider depends on it:
// - Requests are answered by nginx first: an unknown path is nginx's HTML 404, not JSON
//   (R/nginx.inc `try_files $uri/index.php =404`).
// - Then, in R/Core/Endpoint.inc process_request: enabled (503), auth (401 AUTH_AUTHENTICATION_FAILED,
//   also for a right X-API-Key while KeyAuth is not among `auth_methods`, R/Core/Auth.inc
//   attempt_multi_auth, R/Auth/KeyAuth.inc), privileges (403, names from get_method_priv_name), method
//   (405), read-only mode, control parameters (`async` must be a boolean, `apply` must be `true`,
//   `placement`), all in the {code, status, response_id, message, data} envelope with pfrest's status
//   words and its quotes turned into backticks (R/Core/Response.inc).
// - Every request works on the config as it was when the request started and writes the whole of it
//   back (R/autoloader.inc loads config.inc once; R/Core/Model.inc write_config): two writes that
//   overlap lose one of them. `writeDelayMs` is the time between the read and the write (PHP's work).
// - Ids are positions in one list per kind; the filter rule list is one list across all interfaces
//   (config path filter/rule). `placement` moves an object as R/Core/Model.inc set_placement does,
//   and an index past the end is a 500 MODEL_FAILED_TO_SET_PLACEMENT.
// - Subsystems: alias writes mark `aliases`, port forward writes mark `natconf`, filter rule writes
//   mark nothing (R/Models/FirewallAlias.inc, PortForward.inc, FirewallRule.inc); only the GUI marks
//   `filter`. GET /firewall/apply reports exactly these (R/Models/FirewallApply.inc).
// - POST /firewall/apply reloads in the background unless `async: false` (R/Models/FirewallApply.inc
//   apply(), R/Dispatchers/FirewallApplyDispatcher.inc), so its answer normally still shows the
//   pending subsystems. A reload builds the ruleset pf runs (`applied`) from the config: a rule
//   naming a missing alias is left out with a notice (filter.inc filter_generate_user_rule "Unresolvable
//   source alias"), a ruleset pf refuses keeps the previous one and leaves the flags set with the
//   notice "There were error(s) loading the rules" (filter.inc filter_configure_sync); notices go to
//   the system log as "New alert found: …" (notices.inc file_notice), read through
//   GET /api/v2/status/logs/system (R/Models/SystemLog.inc, the last `limit` lines, oldest first).
// - Validation as the models and fields do it, with their response ids and messages
//   (R/Core/Field.inc, R/Fields/FilterAddressField.inc, PortField.inc, InterfaceField.inc,
//   R/Models/FirewallAlias.inc, R/Validators/FilterNameValidator.inc, LengthValidator.inc), and the
//   full representation of each object with its defaults, interfaces shown as
//   `represent_interfaces_as` says (R/Models/RESTAPISettings.inc; the shipped config says `id`,
//   R/../../share/pfSense-pkg-RESTAPI/info.xml, while the model's default is `descr`).
import { isIP } from "node:net";
import { FakeHttpsApi, type JsonReply, type LoggedRequest, type TestCertificate } from "./https";
import { logSettingsRequest, type Settings } from "./pfrest-logsettings";
import { accountOf, ADMIN_USER, userRequest, type Account, type UsersState } from "./pfrest-user";

export type Kind = "alias" | "rule" | "port_forward";
export type PfObject = Record<string, unknown>;
export type Subsystem = "aliases" | "natconf" | "filter" | "shaper";

/** The part of config.xml the fake keeps: one list per kind, objects in pfrest's representation. */
export interface PfConfig {
  alias: PfObject[];
  rule: PfObject[];
  port_forward: PfObject[];
  /** Config path `syslog` (test/fakes/pfrest-logsettings.ts); absent: the model's defaults. */
  syslog?: Settings;
  /** Config paths system/user and system/nextuid (test/fakes/pfrest-user.ts); absent: admin only. */
  users?: UsersState;
}

/** The ruleset pf runs: what the last successful filter reload built from the config. */
export interface AppliedRuleset {
  readonly aliases: readonly PfObject[];
  /** In config order (pfSense keeps it within each interface); rules it skipped are not here. */
  readonly rules: readonly PfObject[];
  readonly portForwards: readonly PfObject[];
}

export interface FakeInterface {
  readonly id: string;
  readonly descr: string;
  readonly if: string;
}

export interface PfRestSettings {
  enabled: boolean;
  read_only: boolean;
  represent_interfaces_as: "descr" | "id" | "if";
  auth_methods: string[];
}

const MODELS: Readonly<Record<Kind, { subsystem?: Subsystem; manyMinimum: number; verbose: string }>> = {
  alias: { subsystem: "aliases", manyMinimum: 0, verbose: "Firewall Alias" },
  rule: { manyMinimum: 1, verbose: "Firewall Rule" },
  port_forward: { subsystem: "natconf", manyMinimum: 0, verbose: "Port Forward" },
};

type Target = Kind | "apply" | "settings" | "log" | "logsettings" | "user";
/** The endpoints the fake serves (R/Endpoints/*.inc: url, many, request_method_options). */
const ENDPOINTS: Readonly<Record<string, { target: Target; many: boolean; methods: readonly string[] }>> = {
  "/api/v2/firewall/alias": { target: "alias", many: false, methods: ["GET", "POST", "PATCH", "DELETE"] },
  "/api/v2/firewall/aliases": { target: "alias", many: true, methods: ["GET", "PUT", "DELETE"] },
  "/api/v2/firewall/rule": { target: "rule", many: false, methods: ["GET", "POST", "PATCH", "DELETE"] },
  "/api/v2/firewall/rules": { target: "rule", many: true, methods: ["GET", "PUT", "DELETE"] },
  "/api/v2/firewall/nat/port_forward": {
    target: "port_forward",
    many: false,
    methods: ["GET", "POST", "PATCH", "DELETE"],
  },
  "/api/v2/firewall/nat/port_forwards": { target: "port_forward", many: true, methods: ["GET", "PUT", "DELETE"] },
  "/api/v2/firewall/apply": { target: "apply", many: false, methods: ["GET", "POST"] },
  "/api/v2/system/restapi/settings": { target: "settings", many: false, methods: ["GET", "PATCH"] },
  "/api/v2/status/logs/system": { target: "log", many: true, methods: ["GET"] },
  "/api/v2/status/logs/settings": { target: "logsettings", many: false, methods: ["GET", "PATCH"] },
  "/api/v2/user": { target: "user", many: false, methods: ["GET", "POST", "PATCH", "DELETE"] },
  "/api/v2/users": { target: "user", many: true, methods: ["GET", "DELETE"] },
};

/** R/Core/Response.inc HTTP_STATUS_MESSAGES (the ones pfrest answers with here). */
const STATUS_WORDS: Readonly<Record<number, string>> = {
  200: "ok",
  400: "bad request",
  401: "unauthorized",
  403: "forbidden",
  404: "not found",
  405: "method not allowed",
  409: "conflict",
  415: "unsupported media type",
  500: "internal server error",
  503: "service unavailable",
};

/** nginx's own 404 page: what an unknown /api/v2/ path answers (R/nginx.inc). */
export const NGINX_404 =
  "<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n<center><h1>404 Not Found</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";

/** A pfrest answer: R/Core/Response.inc to_representation (quotes become backticks). */
export function envelope(code: number, responseId: string, message: string, data: unknown = []): JsonReply {
  return {
    status: code,
    body: {
      code,
      status: STATUS_WORDS[code] ?? "unknown",
      response_id: responseId.toUpperCase(),
      message: message.replace(/["']/g, "`"),
      data,
    },
  };
}

/** A pfrest error (a Response thrown inside a request). */
class Refusal extends Error {
  constructor(readonly reply: JsonReply) {
    super(String((reply.body as { message?: unknown }).message));
  }
}
const refuse = (code: number, responseId: string, message: string): never => {
  throw new Refusal(envelope(code, responseId, message));
};

const clone = <T>(value: T): T => structuredClone(value);

/** The filter rules a fresh pfSense has (Firewall > Rules > LAN: the two default allow rules). */
export const DEFAULT_LAN_RULES: readonly PfObject[] = [
  {
    type: "pass",
    interface: ["lan"],
    ipprotocol: "inet",
    source: "lan",
    destination: "any",
    descr: "Default allow LAN to any rule",
  },
  {
    type: "pass",
    interface: ["lan"],
    ipprotocol: "inet6",
    source: "lan",
    destination: "any",
    descr: "Default allow LAN IPv6 to any rule",
  },
];
const PORT_PROTOCOLS = ["tcp", "udp", "tcp/udp"];

// pfSense util.inc is_port / is_portrange / is_port_or_range.
const isPort = (value: string) => /^\d+$/.test(value) && Number(value) >= 1 && Number(value) <= 65535;
const isPortRange = (value: string) => {
  const parts = value.split(":");
  return parts.length === 2 && parts.every(isPort);
};
const isSubnet = (value: string) => {
  const [address, bits, ...rest] = value.split("/");
  if (rest.length > 0 || bits === undefined || !/^\d+$/.test(bits)) return false;
  const family = isIP(address ?? "");
  return family !== 0 && Number(bits) <= (family === 4 ? 32 : 128);
};
const isFqdn = (value: string) =>
  /^(?=.{1,253}$)([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,}$/.test(value);

/** R/ContentHandlers/URLContentHandler.inc infer_type. */
function inferType(value: string): unknown {
  if (value === "true") return true;
  if (value === "false") return false;
  if (value === "null") return null;
  if (/^\d+$/.test(value)) return Number(value);
  return value;
}

interface RequestContext {
  readonly request: LoggedRequest;
  readonly data: PfObject;
  readonly async: boolean;
  readonly username: string;
}

export class FakePfRest {
  readonly api: FakeHttpsApi;
  /** config.xml as the next request will read it. */
  config: PfConfig = { alias: [], rule: [], port_forward: [] };
  /** The ruleset pf runs (the last successful reload). */
  applied: AppliedRuleset = { aliases: [], rules: [], portForwards: [] };
  readonly dirty = new Set<Subsystem>();
  readonly systemLog: string[] = [];
  settings: PfRestSettings = {
    enabled: true,
    read_only: false,
    represent_interfaces_as: "id",
    auth_methods: ["BasicAuth", "KeyAuth"],
  };
  interfaces: FakeInterface[] = [
    { id: "wan", descr: "WAN", if: "vtnet0" },
    { id: "lan", descr: "LAN", if: "vtnet1" },
  ];
  /** pfSense privileges of the key's user (page-all, or api-v2-…-<method> names). */
  privileges: string[] = ["page-all"];
  /** Time between a request reading the config and writing it back. */
  writeDelayMs = 0;
  /** Writes wait (between their read and their write) until this many are waiting: overlap made certain. */
  private barrier: { count: number; atMostMs?: number; waiting: (() => void)[] } | undefined;
  /** Time a background (async) reload takes to start. */
  backgroundReloadMs = 10;
  /** Filter reloads that finished, successful or not. */
  reloads = 0;
  /** The next reload(s) fail as pf refusing the ruleset, with this error. */
  failingReloads: string[] = [];
  private backgroundReloads = 0;
  /** syslogd restarts (LogSettings apply() system_syslogd_start, once per PATCH). */
  syslogdRestarts = 0;
  /** The accounts local_user_set made (login shell, authorized_keys), by user name. */
  readonly accounts = new Map<string, Account>();
  private pid = 41000;

  constructor(
    certificate: TestCertificate,
    readonly apiKey: string,
  ) {
    this.api = new FakeHttpsApi(certificate, (request) => this.serve(request), {
      serverError: (status) =>
        status === 500
          ? envelope(
              500,
              "ENDPOINT_RECEIVED_UNEXPECTED_ERROR",
              "Call to a member function to_internal() on null\n#0 /usr/local/pkg/RESTAPI/Core/Model.inc(1520)",
            )
          : envelope(
              503,
              "MODEL_WRITE_CONFIG_LOCKED",
              "Failed to write to the configuration file after multiple attempts.",
            ),
    });
  }

  /**
   * Back to a fresh pfSense with pfrest installed and set up as the README says: the two default
   * LAN allow rules, nothing pending.
   */
  reset(): void {
    this.config = { alias: [], rule: [], port_forward: [] };
    this.seed("rule", { ...DEFAULT_LAN_RULES[0] });
    this.seed("rule", { ...DEFAULT_LAN_RULES[1] });
    this.dirty.clear();
    this.systemLog.length = 0;
    this.settings = {
      enabled: true,
      read_only: false,
      represent_interfaces_as: "id",
      auth_methods: ["BasicAuth", "KeyAuth"],
    };
    this.privileges = ["page-all"];
    this.writeDelayMs = 0;
    this.barrier = undefined;
    this.failingReloads = [];
    this.reloads = 0;
    this.syslogdRestarts = 0;
    this.accounts.clear();
    this.api.requests.length = 0;
    this.api.clearFaults();
  }

  // ---- what happens on pfSense outside the API -------------------------------------------

  /** Objects that are part of pfSense's config and running (the defaults, an admin's earlier work). */
  seed(kind: Kind, object: PfObject, placement?: number): void {
    const list = this.config[kind];
    list.splice(placement ?? list.length, 0, this.complete(kind, object));
    this.applied = this.build(this.config).ruleset;
  }

  /** An admin's edit in the GUI: written to the config and pending (the GUI marks `filter` for rules). */
  guiEdit(kind: Kind, position: number, changes: PfObject): void {
    const object = this.config[kind][position];
    if (!object) throw new Error(`no ${kind} at ${position}`);
    Object.assign(object, changes);
    this.dirty.add(kind === "rule" ? "filter" : (MODELS[kind].subsystem ?? "filter"));
  }

  guiAdd(kind: Kind, object: PfObject, placement?: number): void {
    const list = this.config[kind];
    list.splice(placement ?? list.length, 0, this.complete(kind, object));
    this.dirty.add(kind === "rule" ? "filter" : (MODELS[kind].subsystem ?? "filter"));
  }

  /** The GUI's "Apply Changes": a synchronous filter reload. */
  guiApply(): void {
    this.reload("/firewall_rules.php");
  }

  /** Another line in the system log (any daemon). */
  logLine(text: string): void {
    this.systemLog.push(`${this.stamp()} pfSense ${text}`);
  }

  /** Our object of a kind, by its marker, in the config. */
  find(kind: Kind, marker: string): { position: number; object: PfObject } | undefined {
    const position = this.config[kind].findIndex((o) => typeof o.descr === "string" && o.descr.includes(marker));
    const object = this.config[kind][position];
    return object ? { position, object } : undefined;
  }

  /** The filter rules of one interface in the order pfSense evaluates them (config order). */
  rulesOf(interfaceId: string, from: readonly PfObject[] = this.config.rule): PfObject[] {
    return from.filter((rule) => !rule.floating && (rule.interface as string[]).includes(interfaceId));
  }

  // ---- the filter reload (pfSense filter_configure_sync) ------------------------------------

  private build(config: PfConfig): { ruleset: AppliedRuleset; notices: string[] } {
    const aliases = new Map(config.alias.map((alias) => [String(alias.name), alias]));
    const notices: string[] = [];
    const resolves = (value: unknown, type: "address" | "port") => {
      if (typeof value !== "string") return true;
      const name = value.replace(/^!/, "");
      if (type === "port") return isPort(name) || isPortRange(name) || aliases.get(name)?.type === "port";
      return (
        !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name) || this.isInterfaceAddress(name) || aliases.has(name) || name === "any"
      );
    };
    const rules = config.rule.filter((rule) => {
      // filter.inc filter_generate_user_rule: a rule with an alias that does not resolve is
      // commented out of the ruleset, with a notice.
      for (const [field, label] of [
        ["source", "source"],
        ["destination", "destination"],
      ] as const) {
        if (!resolves(rule[field], "address")) {
          notices.push(`Unresolvable ${label} alias '${String(rule[field])}' for rule '${String(rule.descr)}'`);
          return false;
        }
      }
      for (const [field, label] of [
        ["source_port", "source port"],
        ["destination_port", "destination port"],
      ] as const) {
        if (!resolves(rule[field], "port")) {
          notices.push(`Unresolvable ${label} alias '${String(rule[field])}' for rule '${String(rule.descr)}'`);
          return false;
        }
      }
      return true;
    });
    const portForwards = config.port_forward.filter((forward) => {
      const ok = ["destination_port", "local_port"].every((field) => resolves(forward[field], "port"));
      if (!ok) notices.push(`Unresolvable alias in port forward '${String(forward.descr)}'`);
      return ok;
    });
    return { ruleset: clone({ aliases: config.alias, rules, portForwards }), notices };
  }

  private reload(script: string): void {
    this.reloads++;
    const failure = this.failingReloads.shift();
    const alert = (notice: string) =>
      this.systemLog.push(`${this.stamp()} pfSense php-fpm[${this.pid++}]: ${script}: New alert found: ${notice}`);
    if (failure !== undefined) {
      // filter.inc: pfctl refuses rules.debug; the previous ruleset stays, the flags stay set.
      alert(
        `There were error(s) loading the rules: /tmp/rules.debug:42: ${failure} - The line in question reads [42]: pass in quick on $LAN inet from <ms_host> to any`,
      );
      return;
    }
    const { ruleset, notices } = this.build(this.config);
    for (const notice of notices) alert(notice);
    this.applied = ruleset;
    // filter.inc clear_filter_subsystems_dirty(): aliases, filter, natconf, shaper.
    this.dirty.clear();
  }

  private spawnReload(async: boolean, script: string): void {
    // R/Core/Dispatcher.inc spawn_process: at most 10 queued, then 503.
    if (this.backgroundReloads >= 10)
      refuse(
        503,
        "DISPATCHER_TOO_MANY_QUEUED_PROCESSES",
        "Dispatcher allows for a maximum of `10` processes to be queued at once, try again after `300` seconds.",
      );
    if (!async) {
      this.reload(script);
      return;
    }
    this.backgroundReloads++;
    setTimeout(() => {
      this.backgroundReloads--;
      this.reload("/usr/local/pkg/RESTAPI/.resources/scripts/manage.php");
    }, this.backgroundReloadMs).unref();
  }

  /**
   * The next `count` writes each wait, between reading and writing the config, until all of them
   * have read it (then all write): an overlap made certain. With `atMostMs`, a write waits no
   * longer than that for the others (a client that never overlaps its writes is not stuck).
   */
  holdWrites(count: number, atMostMs?: number): void {
    this.barrier = { count, waiting: [], ...(atMostMs !== undefined ? { atMostMs } : {}) };
  }

  /** Waits until background reloads have run (what a test does instead of sleeping). */
  async settle(): Promise<void> {
    while (this.backgroundReloads > 0) await new Promise((resolve) => setTimeout(resolve, this.backgroundReloadMs));
  }

  private stamp(): string {
    const date = new Date();
    const month = date.toLocaleString("en-US", { month: "short", timeZone: "UTC" });
    return `${month} ${String(date.getUTCDate()).padStart(2, " ")} ${date.toISOString().slice(11, 19)}`;
  }

  // ---- the request ------------------------------------------------------------------------

  private async serve(request: LoggedRequest): Promise<JsonReply> {
    const endpoint = ENDPOINTS[request.path];
    if (!endpoint) return { status: 404, body: undefined, text: NGINX_404 };
    try {
      const context = this.admit(request, endpoint);
      // The config as this request's PHP process read it at its start (config.inc parse_config).
      const working = clone(this.config);
      const { reply, wrote } = this.dispatch(endpoint.target, endpoint.many, context, working);
      if (wrote) {
        if (this.writeDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.writeDelayMs));
        const barrier = this.barrier;
        if (barrier) {
          await new Promise<void>((resolve) => {
            barrier.waiting.push(resolve);
            const release = () => {
              if (this.barrier === barrier) this.barrier = undefined;
              for (const go of barrier.waiting.splice(0)) go();
            };
            if (barrier.waiting.length >= barrier.count) release();
            else if (barrier.atMostMs !== undefined) setTimeout(release, barrier.atMostMs).unref();
          });
        }
        // write_config(): the whole config as this request sees it.
        this.config = working;
        for (const subsystem of wrote.dirty) this.dirty.add(subsystem);
        for (const subsystem of wrote.clean) this.dirty.delete(subsystem);
        if (wrote.reload) this.spawnReload(context.async, request.path);
      }
      return reply;
    } catch (error) {
      if (error instanceof Refusal) return error.reply;
      throw error;
    }
  }

  /** Endpoint.inc process_request up to the model call: enabled, auth, method, request data. */
  private admit(request: LoggedRequest, endpoint: { methods: readonly string[] }): RequestContext {
    if (!this.settings.enabled)
      refuse(503, "ENDPOINT_REST_API_IS_NOT_ENABLED", "The REST API is currently not enabled.");
    const key = request.headers["x-api-key"];
    // Auth.inc attempt_multi_auth: only the configured classes are asked whether they are requested.
    const keyAuth = this.settings.auth_methods.includes("KeyAuth") && typeof key === "string" && key !== "";
    if (!keyAuth || key !== this.apiKey) refuse(401, "AUTH_AUTHENTICATION_FAILED", "Authentication failed.");
    const privilege = `${request.path.slice(1).replace(/[/_]/g, "-")}-${request.method.toLowerCase()}`;
    if (!this.privileges.includes("page-all") && !this.privileges.includes(privilege))
      refuse(
        403,
        "AUTH_AUTHORIZATION_FAILED",
        "Authorization failed. You do not have sufficient privileges to access this resource.",
      );
    if (!endpoint.methods.includes(request.method))
      refuse(
        405,
        "ENDPOINT_METHOD_NOT_ALLOWED",
        `Resource at ${request.path} does not support the requested HTTP method '${request.method}'`,
      );
    if (this.settings.read_only && request.method !== "GET")
      refuse(
        405,
        "ENDPOINT_METHOD_NOT_ALLOWED_IN_READ_ONLY_MODE",
        `Resource at ${request.path} cannot support the requested HTTP method \`${request.method}\` because the REST API is currently in read-only mode.`,
      );
    // GET and DELETE without a content type read the query (URLContentHandler), the others JSON.
    const fromQuery = request.method === "GET" || request.method === "DELETE";
    let data: PfObject;
    if (fromQuery) {
      data = Object.fromEntries(Object.entries(request.query).map(([k, v]) => [k, inferType(v)]));
    } else if (request.body === undefined) {
      data = {};
    } else if (typeof request.body === "object" && request.body !== null) {
      data = request.body as PfObject;
    } else {
      return refuse(400, "JSON_CONTENT_HANDLER_COULD_NOT_DECODE_JSON", "Could not decode JSON request data.");
    }
    let async = true; // Endpoint.inc `public bool $async = true`
    if ("async" in data) {
      if (typeof data.async !== "boolean")
        refuse(400, "ENDPOINT_ASYNC_FIELD_INVALID_TYPE", "Field `async` must be of type `boolean`.");
      async = data.async as boolean;
      const { async: _async, ...rest } = data;
      data = rest;
    }
    return { request, data, async, username: "mailstack" };
  }

  private dispatch(
    target: Target,
    many: boolean,
    context: RequestContext,
    working: PfConfig,
  ): { reply: JsonReply; wrote?: { dirty: Subsystem[]; clean: Subsystem[]; reload: boolean } } {
    const { request, data } = context;
    if (target === "settings") {
      if (request.method === "PATCH") Object.assign(this.settings, data);
      return {
        reply: envelope(200, "SUCCESS", "", {
          ...this.settings,
          keep_backup: true,
          login_protection: true,
          log_successful_auth: false,
          hateoas: false,
          allowed_interfaces: [],
          jwt_exp: 3600,
          ha_sync: false,
        }),
      };
    }
    if (target === "logsettings") {
      const ids = this.interfaces.map((i) => i.id);
      const { shown, next, filterReload } = logSettingsRequest(working.syslog, request.method, data, ids, refuse);
      if (!next) return { reply: envelope(200, "SUCCESS", "", shown) };
      working.syslog = next;
      this.syslogdRestarts++;
      return { reply: envelope(200, "SUCCESS", "", shown), wrote: { dirty: [], clean: [], reload: filterReload } };
    }
    if (target === "user") {
      const state = working.users ?? { users: [{ ...ADMIN_USER }], nextuid: 2000 };
      const result = userRequest(state, many, request.method, data, refuse);
      if (!result.next) return { reply: envelope(200, "SUCCESS", "", result.data) };
      working.users = result.next;
      // always_apply: local_user_set / local_user_del run within the request.
      if (result.applied?.deleted) this.accounts.delete(result.applied.deleted);
      if (result.applied?.set) this.accounts.set(String(result.applied.set.name), accountOf(result.applied.set));
      return { reply: envelope(200, "SUCCESS", "", result.data), wrote: { dirty: [], clean: [], reload: false } };
    }
    if (target === "log") {
      const limit = typeof data.limit === "number" && data.limit > 0 ? data.limit : this.systemLog.length;
      const lines = this.systemLog.slice(-limit);
      return {
        reply: envelope(
          200,
          "SUCCESS",
          "",
          lines.map((text, id) => ({ id, text })),
        ),
      };
    }
    if (target === "apply") {
      const status = () => ({ applied: this.dirty.size === 0, pending_subsystems: this.order([...this.dirty]) });
      if (request.method === "GET") return { reply: envelope(200, "SUCCESS", "", status()) };
      // FirewallApply: always_apply, an empty _create, apply() spawns the dispatcher, then reads the flags.
      this.spawnReload(context.async, request.path);
      return { reply: envelope(200, "SUCCESS", "", status()) };
    }
    const kind = target;
    const list = working[kind];
    const show = (object: PfObject, id: number) => this.represent(kind, object, id);
    const model = MODELS[kind];
    const dirty = model.subsystem ? [model.subsystem] : [];
    const applyNow = data.apply === true;
    const wrote = { dirty: applyNow ? [] : dirty, clean: applyNow ? dirty : [], reload: applyNow };

    if (many) {
      if (request.method === "GET") {
        const { limit, offset, ...query } = data;
        const found = this.query(kind, list, query).map(({ object, id }) => show(object, id));
        const start = typeof offset === "number" ? offset : 0;
        const end = typeof limit === "number" && limit > 0 ? start + limit : undefined;
        return { reply: envelope(200, "SUCCESS", "", found.slice(start, end)) };
      }
      if (request.method === "DELETE") {
        // ModelSet delete_many: needs a query; unknown fields are ignored; deleted in reverse order.
        const { all, limit: _limit, offset: _offset, ...query } = data;
        if (all !== true && Object.keys(query).length === 0)
          refuse(
            400,
            "MODEL_DELETE_MANY_REQUIRES_QUERY_PARAMS",
            "At least one query parameter is required to delete many objects.",
          );
        const found = all === true ? list.map((object, id) => ({ object, id })) : this.query(kind, list, query);
        if (list.length - found.length < model.manyMinimum) this.refuseMinimum(model.manyMinimum);
        const shown = found.map(({ object, id }) => show(object, id));
        for (const { id } of [...found].reverse()) list.splice(id, 1);
        return { reply: envelope(200, "SUCCESS", "", shown), wrote: { dirty, clean: [], reload: false } };
      }
      // PUT: replace_all (never applies, Endpoint.inc put()).
      const objects = request.body;
      if (!Array.isArray(objects))
        refuse(
          400,
          "ENDPOINT_REQUEST_DATA_MUST_BE_INDEXED_ARRAY",
          "PUT requests to `many` endpoints must contain an indexed array of objects to replace.",
        );
      if ((objects as unknown[]).length < model.manyMinimum)
        refuse(400, "MODEL_REPLACE_ALL_MINIMUM_NOT_MET", `At least \`${model.manyMinimum}\` objects are required.`);
      list.length = 0;
      for (const object of objects as PfObject[]) list.push(this.validated(kind, object, working, undefined));
      return {
        reply: envelope(
          200,
          "SUCCESS",
          "",
          list.map((object, id) => show(object, id)),
        ),
        wrote: { dirty, clean: [], reload: false },
      };
    }

    const needId = () => {
      const id = data.id;
      if (id === undefined || id === null || id === "") refuse(400, "MODEL_REQUIRES_ID", "Field 'id' is required.");
      const index = typeof id === "number" ? id : Number.NaN;
      if (!Number.isInteger(index) || !list[index])
        refuse(404, "MODEL_OBJECT_NOT_FOUND", `Object with ID '${String(id)}' does not exist.`);
      return index;
    };
    switch (request.method) {
      case "GET": {
        const id = needId();
        return { reply: envelope(200, "SUCCESS", "", show(list[id] as PfObject, id)) };
      }
      case "POST": {
        const { id: _id, apply: _apply, placement, ...fields } = data;
        const object = this.validated(kind, fields, working, undefined);
        list.push(object);
        const id = this.place(list, list.length - 1, placement);
        return { reply: envelope(200, "SUCCESS", "", show(object, id)), wrote };
      }
      case "PATCH": {
        const id = needId();
        const { id: _id, apply: _apply, placement, ...fields } = data;
        const current = list[id] as PfObject;
        const object = this.validated(
          kind,
          { ...this.represent(kind, current, id, false), ...fields },
          working,
          current,
        );
        list[id] = object;
        const at = this.place(list, id, placement);
        return { reply: envelope(200, "SUCCESS", "", show(object, at)), wrote };
      }
      case "DELETE": {
        const id = needId();
        if (list.length - 1 < model.manyMinimum) this.refuseMinimum(model.manyMinimum);
        const [object] = list.splice(id, 1);
        return { reply: envelope(200, "SUCCESS", "", show(object as PfObject, id)), wrote };
      }
      default:
        return refuse(
          405,
          "ENDPOINT_METHOD_NOT_ALLOWED",
          `Resource at ${request.path} does not support the requested HTTP method '${request.method}'`,
        );
    }
  }

  private refuseMinimum(minimum: number): never {
    return refuse(
      403,
      "MODEL_MANY_MINIMUM_REACHED",
      `Object deletion denied. Deleting this object would result in the number of existing objects being less than the required minimum of \`${minimum}\`.`,
    );
  }

  /** Model.inc set_placement: the object at `from` moves to `placement` (clamped, then checked). */
  private place(list: PfObject[], from: number, placement: unknown): number {
    if (placement === undefined || placement === null) return from;
    if (typeof placement !== "number" || !Number.isInteger(placement) || placement < 0) return from;
    const to = Math.min(placement, list.length);
    const [object] = list.splice(from, 1);
    list.splice(to, 0, object as PfObject);
    if (list[to] !== object) {
      // array_splice past the end appends: the object is not where it was asked to go.
      list.splice(list.indexOf(object as PfObject), 1);
      list.splice(from, 0, object as PfObject);
      refuse(500, "MODEL_FAILED_TO_SET_PLACEMENT", "Failed to set placement for Model object.");
    }
    return to;
  }

  /** ModelSet query: `field=value` and `field__<filter>=value`; unknown fields are ignored. */
  private query(kind: Kind, list: PfObject[], query: PfObject): { object: PfObject; id: number }[] {
    return list
      .map((object, id) => ({ object, id }))
      .filter(({ object, id }) => {
        const shown = this.represent(kind, object, id);
        return Object.entries(query).every(([key, expected]) => {
          const [field = "", filter = "exact"] = key.split("__");
          if (!(field in shown)) return true;
          const value = shown[field];
          switch (filter) {
            case "contains":
              return Array.isArray(value) ? value.includes(expected) : String(value).includes(String(expected));
            case "startswith":
              return String(value).startsWith(String(expected));
            case "except":
              return value !== expected;
            default:
              return JSON.stringify(value) === JSON.stringify(expected);
          }
        });
      });
  }

  private order(subsystems: Subsystem[]): Subsystem[] {
    const all: Subsystem[] = ["aliases", "natconf", "filter", "shaper"];
    return all.filter((s) => subsystems.includes(s));
  }

  // ---- representation and validation -------------------------------------------------------

  private isInterfaceAddress(name: string): boolean {
    return this.interfaces.some((i) => i.id === name.replace(/:ip$/, ""));
  }

  private showInterface(id: string): string {
    const found = this.interfaces.find((i) => i.id === id);
    if (!found) return id;
    if (this.settings.represent_interfaces_as === "id") return found.id;
    if (this.settings.represent_interfaces_as === "if") return found.if;
    return found.descr || found.id.toUpperCase();
  }

  /** InterfaceField: the represented value back to the interface id (undefined: not a choice). */
  private interfaceId(value: string): string | undefined {
    const key = this.settings.represent_interfaces_as;
    return this.interfaces.find(
      (i) => (key === "id" ? i.id : key === "if" ? i.if : i.descr || i.id.toUpperCase()) === value,
    )?.id;
  }

  private interfaceChoices(): string {
    return this.interfaces.map((i) => this.showInterface(i.id)).join(", ");
  }

  /** A stored address (interface ids) as pfrest shows it. */
  private showAddress(value: unknown): unknown {
    if (typeof value !== "string") return value;
    const inverted = value.startsWith("!") ? "!" : "";
    const bare = value.replace(/^!/, "");
    const ip = bare.endsWith(":ip");
    const name = ip ? bare.slice(0, -3) : bare;
    if (!this.interfaces.some((i) => i.id === name)) return value;
    return `${inverted}${this.showInterface(name)}${ip ? ":ip" : ""}`;
  }

  private represent(kind: Kind, object: PfObject, id: number, withId = true): PfObject {
    const shown: PfObject = withId ? { id, ...object } : { ...object };
    if (kind === "rule") shown.interface = (object.interface as string[]).map((i) => this.showInterface(i));
    if (kind === "port_forward") shown.interface = this.showInterface(String(object.interface));
    if (kind !== "alias") {
      shown.source = this.showAddress(object.source);
      shown.destination = this.showAddress(object.destination);
    }
    if (kind === "port_forward") shown.target = this.showAddress(object.target);
    return shown;
  }

  /** A stored object with every field pfrest keeps (defaults filled in). */
  private complete(kind: Kind, object: PfObject): PfObject {
    const now = Math.floor(Date.now() / 1000);
    const by = "admin@10.3.0.10 (Local Database)";
    if (kind === "alias") return { name: "", type: "host", descr: "", address: [], detail: [], ...object };
    if (kind === "rule")
      return {
        type: "pass",
        interface: ["lan"],
        ipprotocol: "inet",
        protocol: null,
        icmptype: null,
        source: "any",
        source_port: null,
        destination: "any",
        destination_port: null,
        descr: "",
        disabled: false,
        log: false,
        dscp: null,
        tag: "",
        statetype: "keep state",
        tcp_flags_any: false,
        tcp_flags_out_of: null,
        tcp_flags_set: null,
        gateway: null,
        sched: null,
        dnpipe: null,
        pdnpipe: null,
        defaultqueue: null,
        ackqueue: null,
        floating: false,
        quick: false,
        direction: "any",
        tracker: now,
        associated_rule_id: null,
        created_time: now,
        created_by: by,
        updated_time: now,
        updated_by: by,
        ...object,
      };
    return {
      interface: "wan",
      ipprotocol: "inet",
      protocol: "tcp",
      source: "any",
      source_port: null,
      destination: "wan:ip",
      destination_port: null,
      target: "",
      local_port: null,
      disabled: false,
      nordr: false,
      nosync: false,
      descr: "",
      natreflection: null,
      associated_rule_id: "",
      created_time: now,
      created_by: by,
      updated_time: now,
      updated_by: by,
      ...object,
    };
  }

  /**
   * Validates a create (`current` undefined) or the merged object of an update, in the order the
   * fields are declared, and returns what is stored (interfaces as ids).
   */
  private validated(kind: Kind, input: PfObject, working: PfConfig, current: PfObject | undefined): PfObject {
    const base = current ? clone(current) : this.complete(kind, {});
    const fields = { ...input };
    const required = (name: string) => {
      if (fields[name] === undefined || fields[name] === null)
        refuse(400, "FIELD_IS_REQUIRED", `Field \`${name}\` is required.`);
    };
    const choice = (name: string, choices: readonly (string | null)[]) => {
      if (fields[name] !== undefined && !choices.includes(fields[name] as string))
        refuse(400, "FIELD_INVALID_CHOICE", `Field \`${name}\` must be one of [${choices.filter(Boolean).join(", ")}]`);
    };
    const string = (name: string, nullable: boolean) => {
      const value = fields[name];
      if (value === undefined || (nullable && value === null)) return;
      if (typeof value !== "string") refuse(400, "FIELD_INVALID_TYPE", `Field \`${name}\` must be of type \`string\``);
    };
    const notEditable = (name: string) => {
      if (current && fields[name] !== undefined && JSON.stringify(fields[name]) !== JSON.stringify(current[name]))
        refuse(
          400,
          "FIELD_VALUE_CHANGED_WHEN_NOT_EDITABLE",
          `Field \`${name}\` is not editable but the requested value \`${JSON.stringify(fields[name])}\` differs from its current value \`${JSON.stringify(current[name])}\`.`,
        );
    };
    const aliases = working.alias;
    const address = (name: string, value: unknown, options: { interfaces: boolean }): unknown => {
      string(name, false);
      let text = String(value);
      const inverted = text.startsWith("!");
      if (inverted) {
        text = text.slice(1);
        if (text === "any")
          refuse(
            400,
            "FILTER_RULE_ADDRESS_FIELD_WITH_INVERT_ANY",
            `Field \`${name}\` cannot use invert prefix (!) with value \`any\`.`,
          );
      }
      if (isIP(text) || isSubnet(text)) return value;
      if (aliases.some((a) => a.name === text && a.type !== "port")) return value;
      if (["any", "(self)", "l2tp", "pppoe"].includes(text)) return value;
      const bare = text.endsWith(":ip") ? text.slice(0, -3) : text;
      const id = options.interfaces ? this.interfaceId(bare) : undefined;
      if (id) return `${inverted ? "!" : ""}${id}${text.endsWith(":ip") ? ":ip" : ""}`;
      return refuse(
        400,
        "FILTER_ADDRESS_FIELD_INVALID",
        `Field \`${name}\` value \`${text}\` is invalid. Valid options are: an existing interface, an IP address, a subnet CIDR, an existing alias, \`any\`, \`(self)\`, \`l2tp\`, \`pppoe\``,
      );
    };
    const port = (name: string, options: { range: boolean }) => {
      const value = fields[name];
      if (value === undefined || value === null) return;
      string(name, true);
      const text = value as string;
      if (aliases.some((a) => a.name === text && a.type === "port")) return;
      if (options.range && isPortRange(text)) return;
      if (isPort(text)) return;
      refuse(
        400,
        "PORT_FIELD_INVALID",
        `Field \`${name}\` contains invalid port value \`${text}\`. Valid options are: a TCP/UDP port number, ${options.range ? "a TCP/UDP port range separated by `:`, " : ""}an existing port type firewall alias`,
      );
    };

    /** source and destination (FilterAddressField), and their ports when the protocol has ports. */
    const endpoints = () => {
      required("source");
      const source = address("source", fields.source, { interfaces: true });
      required("destination");
      const destination = address("destination", fields.destination, { interfaces: true });
      // PortField conditions: protocol tcp, udp or tcp/udp.
      const ports = PORT_PROTOCOLS.includes(String(fields.protocol));
      if (ports) {
        port("source_port", { range: true });
        port("destination_port", { range: true });
      }
      return { source, destination, ports };
    };

    if (kind === "alias") {
      required("name");
      const name = String(fields.name);
      notEditable("name");
      const other = aliases.findIndex((a) => a.name === name && a !== current);
      if (other >= 0)
        refuse(
          400,
          "FIELD_MUST_BE_UNIQUE",
          `Field 'name' must be unique. Value is in use by object with ID '${other}'.`,
        );
      if (name.length > 31)
        refuse(400, "LENGTH_VALIDATOR_MAXIMUM_CONSTRAINT", "Field 'name' exceeds the maximum character length of 31.");
      if (!/^[A-Za-z0-9_]+$/.test(name))
        refuse(
          400,
          "FILTER_NAME_VALIDATOR_INVALID_CHARACTERS",
          `Field 'name' cannot be '${name}' because it contains invalid characters. Only alphanumeric characters and underscores are allowed.`,
        );
      if (/^\d+$/.test(name))
        refuse(
          400,
          "FILTER_NAME_VALIDATOR_CANNOT_BE_NUMERICAL",
          `Field 'name' cannot be '${name}' because it is entirely numerical.`,
        );
      if (this.interfaces.some((i) => i.id === name))
        refuse(
          400,
          "FILTER_NAME_VALIDATOR_NAME_IN_USE_BY_INTERFACE",
          `Field 'name' cannot be '${name}' because it is in use by an existing interface.`,
        );
      // pfSense is_validaliasname(): service and protocol names, `port`, `pass`.
      if (["port", "pass", "smtp", "http", "https", "imap", "pop3", "ssh", "tcp", "udp", "icmp"].includes(name))
        refuse(400, "INVALID_FIREWALL_ALIAS_NAME", `Invalid firewall alias name '${name}'.`);
      required("type");
      choice("type", ["host", "network", "port"]);
      const type = String(fields.type);
      const addresses = (fields.address ?? []) as unknown;
      if (!Array.isArray(addresses))
        refuse(400, "FIELD_INVALID_MANY_VALUE", "Field `address` must be of type `array`.");
      for (const entry of addresses as unknown[]) {
        const text = String(entry);
        const alias = aliases.find((a) => a.name === text && a !== current);
        if (type === "port" && !isPort(text) && !isPortRange(text) && alias?.type !== "port")
          refuse(
            400,
            "INVALID_PORT_ALIAS_ADDRESS",
            `Port alias 'address' value '${text}' is not a valid port, range, or alias.`,
          );
        if (type === "host" && !isIP(text) && !isFqdn(text) && !(alias && alias.type !== "port"))
          refuse(
            400,
            "INVALID_HOST_ALIAS_ADDRESS",
            `Host alias 'address' value '${text}' is not a valid IP, FQDN, or alias.`,
          );
        if (type === "network" && !isSubnet(text) && !isFqdn(text) && !(alias && alias.type !== "port"))
          refuse(
            400,
            "INVALID_NETWORK_ALIAS_ADDRESS",
            `Network alias 'address' value '${text}' is not a valid CIDR, FQDN, or alias.`,
          );
      }
      // FirewallAlias validate_detail: more details than addresses is an error; fewer are padded.
      const details = [...((fields.detail ?? []) as string[])];
      if (details.length > (addresses as unknown[]).length)
        refuse(400, "TOO_MANY_ALIAS_DETAILS", "Aliases cannot contain more 'detail' items than 'address' items.");
      if (details.length > 0)
        while (details.length < (addresses as unknown[]).length)
          details.push(`Entry added ${new Date().toUTCString()}`);
      string("descr", false);
      return {
        ...base,
        name,
        type,
        descr: fields.descr ?? base.descr,
        address: [...(addresses as unknown[])],
        detail: details,
      };
    }

    if (kind === "rule") {
      required("type");
      choice("type", ["pass", "block", "reject"]);
      required("interface");
      if (!Array.isArray(fields.interface))
        refuse(400, "FIELD_INVALID_MANY_VALUE", "Field `interface` must be of type `array`.");
      const interfaces = (fields.interface as unknown[]).map((value) => {
        const id = typeof value === "string" ? (value === "any" ? "any" : this.interfaceId(value)) : undefined;
        if (!id) refuse(400, "FIELD_INVALID_CHOICE", `Field \`interface\` must be one of [${this.interfaceChoices()}]`);
        return id as string;
      });
      notEditable("floating");
      const floating = fields.floating === true;
      if (!floating && interfaces.length > 1)
        refuse(
          400,
          "FIREWALL_RULE_MULTIPLE_INTERFACE_WITHOUT_FLOATING",
          "Field `interface` cannot contain more than one value unless `floating` is enabled.",
        );
      required("ipprotocol");
      choice("ipprotocol", ["inet", "inet6", "inet46"]);
      choice("protocol", [
        null,
        "tcp",
        "udp",
        "tcp/udp",
        "icmp",
        "esp",
        "ah",
        "gre",
        "ipv6",
        "igmp",
        "pim",
        "ospf",
        "carp",
        "pfsync",
      ]);
      const { source, destination, ports } = endpoints();
      choice("statetype", ["keep state", "sloppy state", "synproxy state", "none"]);
      notEditable("tracker");
      string("descr", false);
      return {
        ...base,
        ...fields,
        interface: interfaces,
        source,
        destination,
        protocol: fields.protocol ?? null,
        // PortField conditions: only with tcp, udp or tcp/udp.
        source_port: ports ? (fields.source_port ?? null) : null,
        destination_port: ports ? (fields.destination_port ?? null) : null,
        log: fields.log === true,
        disabled: fields.disabled === true,
        floating,
        tracker: base.tracker,
        updated_time: Math.floor(Date.now() / 1000),
        updated_by: `${"mailstack"}@127.0.0.1 (API)`,
        ...(current ? {} : { created_by: "mailstack@127.0.0.1 (API)" }),
      };
    }

    // port_forward
    required("interface");
    if (typeof fields.interface !== "string")
      refuse(400, "FIELD_INVALID_TYPE", "Field `interface` must be of type `string`");
    const interfaceId = this.interfaceId(String(fields.interface));
    if (!interfaceId)
      refuse(400, "FIELD_INVALID_CHOICE", `Field \`interface\` must be one of [${this.interfaceChoices()}]`);
    choice("ipprotocol", ["inet", "inet6", "inet46"]);
    required("protocol");
    choice("protocol", ["any", "tcp", "udp", "tcp/udp", "icmp", "esp", "ah", "gre", "ipv6", "igmp", "pim", "ospf"]);
    const { source, destination, ports } = endpoints();
    required("target");
    const target = address("target", fields.target, { interfaces: true });
    if (ports) {
      required("local_port");
      port("local_port", { range: false });
    }
    choice("natreflection", [null, "enable", "disable", "purenat"]);
    string("descr", false);
    return {
      ...base,
      ...fields,
      interface: interfaceId,
      source,
      destination,
      target,
      natreflection: fields.natreflection ?? null,
      updated_time: Math.floor(Date.now() / 1000),
      updated_by: "mailstack@127.0.0.1 (API)",
    };
  }
}
