// A Pulumi dynamic provider for pfSense through the pfSense REST API package (pfrest v2). What it
// relies on was read in pfrest's source, repository pfrest/pfSense-pkg-RESTAPI at tag v2.10.0,
// files under pfSense-pkg-RESTAPI/files/usr/local/pkg/RESTAPI/ (cited as R/…), and in pfSense's
// src/etc/inc/filter.inc (RELENG_2_7_2):
//
// - Ids are positions in one list per kind (R/Core/Model.inc; the filter rules are one list
//   across all interfaces, config path filter/rule), so every object is found again before each
//   write: rules and port forwards by the marker in their description, aliases by their name
//   (unique and not editable, R/Models/FirewallAlias.inc) with the marker proving they are ours.
//   Objects without the marker are never touched.
// - Every request reads the whole config when it starts and writes all of it back (R/autoloader.inc
//   loads config.inc once; Model::write_config): two writes that overlap lose one. All writes of a
//   deployment to one pfSense therefore go one at a time (`exclusive`, shared by every copy of this
//   provider in the process: Pulumi runs resource operations concurrently, and the deletes of a
//   deployment may run with the provider an older deployment serialized).
// - Filter rule writes mark no subsystem dirty (R/Models/FirewallRule.inc sets none; FirewallAlias
//   marks `aliases`, PortForward `natconf`), so GET /firewall/apply says "applied" after a change
//   that touches only rules. The provider applies whenever its own writes changed something:
//   PfSenseApply after the creates and updates (every write leaves a new write id, the apply's
//   revision is derived from them), and each removal by itself.
// - POST /firewall/apply reloads in the background unless `async: false` (R/Core/Endpoint.inc
//   `$async = true`; R/Models/FirewallApply.inc apply(); R/Dispatchers/FirewallApplyDispatcher.inc
//   filter_configure_sync()), and its answer never carries a reload error. The provider applies
//   synchronously, then reads the system log (GET /api/v2/status/logs/system, R/Models/SystemLog.inc):
//   a ruleset pf refused ("There were error(s) loading the rules", filter.inc
//   filter_configure_sync, which then keeps the old ruleset and the dirty flags) or a rule of ours
//   pfSense left out ("Unresolvable … alias", filter.inc filter_generate_user_rule) fails the
//   apply with pfSense's own words.
// - `placement` is an index into that global list and a PATCH applies it too (Model::set_placement,
//   called by _create and _update). The provider places a rule relative to the rules of its own
//   interface (RulePlacement) and sends `placement` on an update or adoption only when the rule
//   is out of its place, so an update never moves a rule.
// - A DELETE or PATCH is addressed by position: after an answer that leaves open whether it
//   landed, the object is looked up again before the request is sent again (resendAfterLookup).
// - Prerequisites are checked on the first call to a pfSense (GET /api/v2/system/restapi/settings):
//   key authentication (pfrest ships with BasicAuth only and answers an X-API-Key with the same
//   401 as a wrong key, R/Core/Auth.inc attempt_multi_auth), interfaces represented by id
//   (R/Models/RESTAPISettings.inc), the API enabled and writable; an unknown endpoint is nginx's
//   HTML 404 (R/nginx.inc): "pfrest not installed or wrong version".
// Control parameters (apply, async, placement) go in the body of a POST or PATCH and in the query
// of a GET or DELETE (R/ContentHandlers/URLContentHandler.inc infers the types of query values).
// Self-contained: dynamic providers are serialized (no module-level Set or Map, see rest.ts).
import { createHash, randomUUID } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import { dispatchingProvider, handlers } from "./dispatch";
import { createOnce, endpointFrom, errorMessage, resendAfterLookup, rest, RestError, type ApiConnection } from "./rest";

export type PfSenseConnection = ApiConnection;

export type PfSenseKind = "alias" | "rule" | "port_forward";

const PATHS: Readonly<Record<PfSenseKind, { one: string; all: string }>> = {
  alias: { one: "/api/v2/firewall/alias", all: "/api/v2/firewall/aliases" },
  rule: { one: "/api/v2/firewall/rule", all: "/api/v2/firewall/rules" },
  port_forward: { one: "/api/v2/firewall/nat/port_forward", all: "/api/v2/firewall/nat/port_forwards" },
};

/**
 * Where the stack's rules of one interface sit among that interface's other rules (pfSense
 * evaluates each interface's rules in list order, first match wins; filter.inc filter_rules_generate).
 * - "last": after every other rule of the interface, so the admin's block and reject rules
 *   (blocklists, GeoIP) still apply to the traffic our pass rules let in (for a group of pass
 *   rules the most restrictive place: a pass further down never passes more), but above the
 *   block-everything rules an interface may end with (they would stop everything below them).
 * - "before-first-pass": directly above the first pass rule of the interface that is not the
 *   stack's (on the LAN: "Default allow LAN to any rule"), so our block rule stops the mail host
 *   before any broader allow, while the admin's block rules above it still apply to the host.
 */
export interface RulePlacement {
  /** The markers of the stack's rules on this rule's interface, in evaluation order (this one included). */
  readonly group: readonly string[];
  readonly anchor: "last" | "before-first-pass";
}

export interface PfSenseObjectInputs {
  readonly connection: PfSenseConnection;
  readonly kind: PfSenseKind;
  /** The first thing in spec.descr (pf logs show about 52 characters of it): identifies the object. */
  readonly marker: string;
  readonly spec: Readonly<Record<string, unknown>>;
  /** Filter rules only. */
  readonly placement?: RulePlacement;
}

export interface PfSenseObjectOutputs extends PfSenseObjectInputs {
  /** The object's list position when last seen (informational: never used to address it). */
  readonly position: number;
  /** False when a refresh found the rule out of its place: the next update puts it back. */
  readonly inPlace: boolean;
  /** New on every write to pfSense: what makes PfSenseApply run after it. */
  readonly writeId: string;
}

/** The apply's revision: changes whenever any of the objects was written. */
export function applyRevision(writeIds: readonly (string | undefined)[]): string {
  return createHash("sha256")
    .update(writeIds.map((id) => id ?? "").join("\n"))
    .digest("hex");
}

interface PfObject {
  readonly id: number;
  readonly descr?: string;
  readonly [field: string]: unknown;
}

/** nginx's fastcgi_read_timeout for /api/v2/ (R/nginx.inc): a synchronous reload answers within it. */
const APPLY_TIMEOUT_MS = 180_000;
/** System log lines read after an apply (GET /status/logs/system returns the last `limit`). */
const LOG_WINDOW = 200;
/** The menu of pfrest's settings (R/Forms/SystemRESTAPISettingsForm.inc, restapi.xml), named in the hints. */
const SETTINGS_MENU = "System > REST API > Settings";

// ---- errors ------------------------------------------------------------------------------

/** pfrest's envelope: {code, status, response_id, message, data}. */
function envelopeMessage(json: unknown): string | undefined {
  if (json && typeof json === "object" && "message" in json) {
    const { message, response_id: responseId } = json as { message?: unknown; response_id?: unknown };
    const id = typeof responseId === "string" && responseId ? ` (${responseId})` : "";
    return `${typeof message === "string" ? message : JSON.stringify(message)}${id}`;
  }
  return undefined;
}

/** The pfSense privilege a request needs besides page-all (R/Core/Endpoint.inc get_method_priv_name). */
export function privilegeFor(method: string, path: string): string {
  return `${path.replace(/^\//, "").replace(/[/_]/g, "-")}-${method.toLowerCase()}`;
}

/** What the operator does about an answer, in pfSense's menu terms (undefined: nothing to add). */
function hintFor(error: RestError, method: string, path: string, endpoint: string): string | undefined {
  const id = error.details.responseId;
  if (error.status === 404 && error.details.notJson)
    return (
      `pfrest not installed or wrong version: ${endpoint}${path} is not a pfrest v2 endpoint (the web server ` +
      `answered with its own 404 page). Install the pfSense REST API package v2 (pfSense-pkg-RESTAPI, mailstack ` +
      `is tested against v2.10.0) and check mailstack:pfsense.endpoint`
    );
  if (id === "AUTH_AUTHENTICATION_FAILED" || error.status === 401)
    return (
      `pfrest gives this answer for a wrong key and also for a right one while key authentication is off ` +
      `(pfrest ships with BasicAuth only): in ${SETTINGS_MENU}, Authentication Methods must include "Key" ` +
      `(auth_methods: KeyAuth), and mailstack:pfsenseApiKey must hold a key from System > REST API > Keys`
    );
  if (id === "AUTH_AUTHORIZATION_FAILED")
    return (
      `the API key's user lacks the privilege "${privilegeFor(method, path)}": give it that privilege (or ` +
      `"page-all") in System > User Manager`
    );
  if (id === "ENDPOINT_REST_API_IS_NOT_ENABLED") return `enable the API in ${SETTINGS_MENU} ("Enabled")`;
  if (id === "ENDPOINT_METHOD_NOT_ALLOWED_IN_READ_ONLY_MODE")
    return `turn off "Read Only" in ${SETTINGS_MENU} (read_only)`;
  if (id === "ENDPOINT_CLIENT_NOT_ALLOWED_BY_ACL")
    return "allow the host running Pulumi in System > REST API > Access List";
  if (id === "ENDPOINT_INTERFACE_NOT_ALLOWED")
    return `add the interface mailstack:pfsense.endpoint reaches to "Allowed Interfaces" in ${SETTINGS_MENU}`;
  return undefined;
}

// ---- one pfSense, one writer ----------------------------------------------------------------

interface Gate {
  /** Settles when the last queued operation has finished. */
  tail: Promise<void>;
  /** Operations queued behind the one running. */
  waiting: number;
  /** A removal was written but not yet applied (the last operation in the queue applies it). */
  unapplied: boolean;
}

interface ProcessState {
  readonly gates: Record<string, Gate>;
  readonly checks: Record<string, Promise<void>>;
}

/**
 * State shared by every copy of this provider in the provider process: Pulumi loads the
 * serialized provider once per distinct text, and the deletes of a deployment run with the
 * provider stored in the state, which may be an older text than the one the updates use.
 */
function processState(): ProcessState {
  const global = globalThis as unknown as Record<symbol, ProcessState | undefined>;
  const key = Symbol.for("mailstack.pfsense.provider-state");
  const state = global[key] ?? { gates: {}, checks: {} };
  global[key] = state;
  return state;
}

function gateOf(connection: PfSenseConnection): Gate {
  const gates = processState().gates;
  const gate = gates[connection.endpoint] ?? { tail: Promise.resolve(), waiting: 0, unapplied: false };
  gates[connection.endpoint] = gate;
  return gate;
}

/**
 * Runs `work` when no other write to this pfSense is running, then applies a removal still
 * unapplied when nothing else is waiting (so a burst of deletes reloads the filter once).
 */
export async function exclusive<T>(connection: PfSenseConnection, work: (gate: Gate) => Promise<T>): Promise<T> {
  const gate = gateOf(connection);
  const before = gate.tail;
  let release!: () => void;
  gate.tail = new Promise<void>((resolve) => {
    release = resolve;
  });
  gate.waiting++;
  await before;
  gate.waiting--;
  try {
    let result: T;
    try {
      result = await work(gate);
    } catch (error) {
      if (gate.unapplied && gate.waiting === 0) {
        const applied = await applyConfirmed(connection, gate).then(
          () => undefined,
          (applyError: unknown) => errorMessage(applyError),
        );
        if (applied !== undefined) throw new Error(`${errorMessage(error)}; and applying: ${applied}`);
      }
      throw error;
    }
    if (gate.unapplied && gate.waiting === 0) await applyConfirmed(connection, gate);
    return result;
  } finally {
    release();
  }
}

// ---- requests -----------------------------------------------------------------------------

interface CallOptions {
  readonly query?: Record<string, string | number | boolean>;
  readonly body?: unknown;
  readonly idempotent?: boolean;
  readonly timeoutMs?: number;
}

async function send(
  connection: PfSenseConnection,
  method: "GET" | "POST" | "PATCH" | "DELETE",
  path: string,
  options: CallOptions = {},
): Promise<unknown> {
  let response;
  try {
    response = await rest(
      endpointFrom(connection),
      {
        method,
        path,
        ...(options.query ? { query: options.query } : {}),
        ...(options.body !== undefined ? { body: options.body } : {}),
        ...(options.idempotent !== undefined ? { idempotent: options.idempotent } : {}),
        ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
      },
      { "x-api-key": connection.apiKey },
      envelopeMessage,
    );
  } catch (error) {
    if (!(error instanceof RestError)) throw error;
    const hint = hintFor(error, method, path, connection.endpoint);
    if (hint === undefined) throw error;
    throw new RestError(`pfSense ${error.message}: ${hint}`, error.status, false, error.unsure, error.details);
  }
  const json = response.json as { data?: unknown } | undefined;
  if (!json || typeof json !== "object" || !("data" in json)) {
    throw new Error(
      `pfSense ${method} ${path}: the answer is not a pfrest envelope: pfrest not installed or wrong version (check mailstack:pfsense.endpoint)`,
    );
  }
  return json.data;
}

/**
 * What mailstack needs of pfrest, checked once per pfSense and key in a provider process (a
 * failed check too: a wrong key sent by every resource would count against pfSense's Login
 * Protection, R/Core/Auth.inc log_authentication).
 */
function prerequisites(connection: PfSenseConnection): Promise<void> {
  const checks = processState().checks;
  const key = `${connection.endpoint} ${createHash("sha256").update(connection.apiKey).digest("hex")}`;
  const known = checks[key];
  if (known) return known;
  const check = (async () => {
    const settings = (await send(connection, "GET", "/api/v2/system/restapi/settings")) as Record<
      string,
      unknown
    > | null;
    const represent = settings?.represent_interfaces_as;
    if (represent !== "id")
      throw new Error(
        `pfrest represents interfaces as "${String(represent)}", but mailstack names them by their id ` +
          `(mailstack:pfsense.wanInterface, lanInterface: wan, lan): in ${SETTINGS_MENU}, set "Represent ` +
          `Interfaces As" to "Internal ID" (represent_interfaces_as: id)`,
      );
    if (settings?.read_only === true)
      throw new Error(`pfrest is in read-only mode: turn off "Read Only" in ${SETTINGS_MENU} (read_only)`);
  })();
  checks[key] = check;
  // A refusal (4xx) or wrong settings stay known; a failure that may pass (5xx, timeouts, no
  // connection, a garbled answer) is asked again by the next call.
  check.catch((error: unknown) => {
    const status = error instanceof RestError ? (error.status ?? 0) : 400;
    if (status < 400 || status >= 500) delete checks[key];
  });
  return check;
}

/** A request to pfrest, after the prerequisites were checked. */
export async function call(...args: Parameters<typeof send>): Promise<unknown> {
  await prerequisites(args[0]);
  return send(...args);
}

async function listOf(connection: PfSenseConnection, kind: PfSenseKind): Promise<PfObject[]> {
  const list = await call(connection, "GET", PATHS[kind].all);
  if (!Array.isArray(list)) throw new Error(`pfSense ${PATHS[kind].all}: expected a list`);
  return list as PfObject[];
}

const descrOf = (object: { descr?: unknown }) => (typeof object.descr === "string" ? object.descr : "");

/**
 * Our object of a kind (null when it is gone). Rules and port forwards are found by the marker;
 * two with one marker is an error. An alias is found by its name and must carry one of `markers`.
 */
export async function findOwn(
  connection: PfSenseConnection,
  kind: PfSenseKind,
  marker: string,
  options: { name?: string; markers?: readonly string[]; list?: readonly PfObject[] } = {},
): Promise<PfObject | null> {
  const list = options.list ?? (await listOf(connection, kind));
  if (kind === "alias" && options.name !== undefined) {
    const alias = list.find((object) => object.name === options.name);
    if (!alias) return null;
    if (!(options.markers ?? [marker]).some((m) => descrOf(alias).includes(m)))
      throw new Error(
        `pfSense already has an alias named ${options.name} that is not the stack's (its description lacks ${marker}): ` +
          `rename or delete it in Firewall > Aliases`,
      );
    return alias;
  }
  const own = list.filter((object) => descrOf(object).includes(marker));
  if (own.length > 1)
    throw new Error(`pfSense has ${own.length} ${kind} objects marked ${marker}; remove the duplicates by hand`);
  return own[0] ?? null;
}

function findSelf(connection: PfSenseConnection, inputs: PfSenseObjectInputs, list?: readonly PfObject[]) {
  return findOwn(connection, inputs.kind, inputs.marker, {
    ...(typeof inputs.spec.name === "string" ? { name: inputs.spec.name } : {}),
    ...(list ? { list } : {}),
  });
}

/** The object's current values of the fields we manage. */
function observedSpec(object: PfObject, spec: Readonly<Record<string, unknown>>): Record<string, unknown> {
  return Object.fromEntries(Object.keys(spec).map((key) => [key, object[key] ?? null]));
}

function sameValue(a: unknown, b: unknown): boolean {
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
}

function changedFields(olds: Readonly<Record<string, unknown>>, news: Readonly<Record<string, unknown>>): string[] {
  return [...new Set([...Object.keys(olds), ...Object.keys(news)])].filter((key) => !sameValue(olds[key], news[key]));
}

// ---- placement ----------------------------------------------------------------------------

function isPlacement(value: unknown): value is RulePlacement {
  return typeof value === "object" && value !== null && Array.isArray((value as RulePlacement).group);
}

function onInterface(rule: PfObject, name: string): boolean {
  return rule.floating !== true && Array.isArray(rule.interface) && (rule.interface as unknown[]).includes(name);
}

/** A rule's interface (the rule specs name exactly one). */
function interfaceOf(spec: Readonly<Record<string, unknown>>): string {
  return Array.isArray(spec.interface) ? String(spec.interface[0]) : String(spec.interface);
}

/**
 * A block or reject rule for everything (any source, destination, protocol and port): an
 * admin's explicit "block the rest" at the end of an interface, which pass rules must precede.
 */
function blocksEverything(rule: PfObject): boolean {
  return (
    (rule.type === "block" || rule.type === "reject") &&
    rule.source === "any" &&
    rule.destination === "any" &&
    (rule.protocol ?? null) === null
  );
}

/** Whether `at` (an index into `list`, which does not hold the rule) satisfies the group's anchor. */
function anchorHolds(list: readonly PfObject[], at: number, name: string, placement: RulePlacement): boolean {
  const foreign = (rule: PfObject) =>
    onInterface(rule, name) && !placement.group.some((m) => descrOf(rule).includes(m));
  if (placement.anchor === "last")
    return (
      !list
        .slice(at)
        .some(
          (rule) => foreign(rule) && (rule.type === "block" || rule.type === "reject") && !blocksEverything(rule),
        ) && !list.slice(0, at).some((rule) => foreign(rule) && blocksEverything(rule))
    );
  return !list.slice(0, at).some((rule) => foreign(rule) && rule.type === "pass");
}

/**
 * The index, in `list` without the rule, where the rule belongs: right after the stack's rule
 * before it in the group, else right before the one after it, else at the group's anchor ("last":
 * after the interface's rules, above a final block-everything rule; "before-first-pass": above the
 * first pass rule that is not the stack's). pfrest's `placement` means exactly this index on POST
 * and on PATCH (Model::set_placement takes the object out, then inserts it at `placement`).
 */
export function placementIndex(
  list: readonly PfObject[],
  marker: string,
  spec: Readonly<Record<string, unknown>>,
  placement: RulePlacement,
): number {
  const name = interfaceOf(spec);
  const me = placement.group.indexOf(marker);
  const indexOf = (markers: readonly string[]) =>
    markers.map((m) => list.findIndex((rule) => descrOf(rule).includes(m))).filter((index) => index >= 0);
  const before = indexOf(placement.group.slice(0, Math.max(me, 0)));
  const after = indexOf(placement.group.slice(me + 1));
  const neighbour = before.length > 0 ? Math.max(...before) + 1 : after.length > 0 ? Math.min(...after) : undefined;
  if (neighbour !== undefined && anchorHolds(list, neighbour, name, placement)) return neighbour;
  const ours = (rule: PfObject) => placement.group.some((m) => descrOf(rule).includes(m));
  const rules = list.map((rule, index) => ({ rule, index })).filter(({ rule }) => onInterface(rule, name));
  if (placement.anchor === "before-first-pass") {
    const pass = rules.find(({ rule }) => rule.type === "pass" && !ours(rule));
    if (pass) return pass.index;
  } else {
    // Above the block-everything rules the interface ends with.
    let end = rules.length;
    for (let last = rules[end - 1]; last && !ours(last.rule) && blocksEverything(last.rule); last = rules[end - 1])
      end--;
    const final = rules[end];
    if (final) return final.index;
  }
  const last = rules.at(-1);
  return last ? last.index + 1 : list.length;
}

/**
 * Whether the rule at `index` of `list` is where its placement wants it: its anchor holds and the
 * stack's rules of the group keep their order (or no other place would be better).
 */
export function inPlace(
  list: readonly PfObject[],
  index: number,
  marker: string,
  spec: Readonly<Record<string, unknown>>,
  placement: RulePlacement,
): boolean {
  const others = list.filter((_, i) => i !== index);
  const me = placement.group.indexOf(marker);
  const at = (m: string) => list.findIndex((rule) => descrOf(rule).includes(m));
  const holds =
    anchorHolds(others, index, interfaceOf(spec), placement) &&
    placement.group.slice(0, me).every((m) => at(m) < index) &&
    placement.group.slice(me + 1).every((m) => at(m) < 0 || at(m) > index);
  return holds || placementIndex(others, marker, spec, placement) === index;
}

// ---- applying -----------------------------------------------------------------------------

async function systemLog(connection: PfSenseConnection, limit: number): Promise<string[]> {
  const lines = await call(connection, "GET", "/api/v2/status/logs/system", { query: { limit } });
  if (!Array.isArray(lines)) throw new Error("pfSense /api/v2/status/logs/system: expected a list");
  return (lines as { text?: unknown }[]).map((line) => (typeof line.text === "string" ? line.text : ""));
}

/** The lines of `after` that follow the last lines of `before` (all of them when those are gone). */
function newLines(before: readonly string[], after: readonly string[]): string[] {
  const tail = before.slice(-3);
  if (tail.length === 0) return [...after];
  for (let end = after.length; end >= tail.length; end--) {
    if (tail.every((line, i) => after[end - tail.length + i] === line)) return after.slice(end);
  }
  return [...after];
}

/** What a reload said went wrong for the stack: pf refused the ruleset, or left one of our rules out. */
function reloadFailures(lines: readonly string[]): string[] {
  return lines
    .filter(
      (line) =>
        line.includes("There were error(s) loading the rules") ||
        (/(Unresolvable|Empty) (source|destination)( port)? alias/.test(line) && line.includes("[mailstack:")),
    )
    .map((line) => line.replace(/^.*New alert found: /, ""));
}

/**
 * Reloads pfSense's filter synchronously and confirms the ruleset was loaded: pfrest's answer
 * never says so (R/Models/FirewallApply.inc apply() spawns the reload, its result is dropped), so
 * the system log written meanwhile is read for pfSense's own notices, and the dirty flags must
 * be clear afterwards (filter.inc clears them only at the end of a successful reload).
 */
async function applyConfirmed(connection: PfSenseConnection, gate: Gate): Promise<void> {
  const before = await systemLog(connection, 10);
  const status = (await call(connection, "POST", "/api/v2/firewall/apply", {
    body: { async: false },
    idempotent: true,
    timeoutMs: Math.max(connection.timeoutMs ?? 0, APPLY_TIMEOUT_MS),
  })) as { applied?: unknown; pending_subsystems?: unknown } | null;
  const failures = reloadFailures(newLines(before, await systemLog(connection, LOG_WINDOW)));
  if (failures.length > 0)
    throw new Error(
      `pfSense did not load the new firewall rules: ${failures.join("; ")}. pfSense keeps enforcing the ` +
        `rules it had; fix the cause (Status > System Logs > System) and run \`pulumi up\` again`,
    );
  if (status?.applied !== true) {
    const pending = Array.isArray(status?.pending_subsystems) ? status.pending_subsystems.join(", ") : "?";
    throw new Error(
      `pfSense still reports unapplied changes (${pending}) after a synchronous filter reload: the reload ` +
        `failed or someone changed the firewall meanwhile; see Status > System Logs > System and run \`pulumi up\` again`,
    );
  }
  gate.unapplied = false;
}

// ---- the object provider -------------------------------------------------------------------

/** An alias that rules or port forwards still name: deleting it would make pfSense skip them. */
async function refuseIfReferenced(connection: PfSenseConnection, name: string): Promise<void> {
  const users: string[] = [];
  const names = (object: PfObject, fields: readonly string[]) =>
    fields.some((field) => typeof object[field] === "string" && String(object[field]).replace(/^!/, "") === name);
  for (const [kind, what] of [
    ["rule", "firewall rule"],
    ["port_forward", "port forward"],
  ] as const) {
    for (const object of await listOf(connection, kind))
      if (names(object, ["source", "destination", "source_port", "destination_port", "target", "local_port"]))
        users.push(`${what} ${object.id} "${descrOf(object)}"`);
  }
  for (const alias of await listOf(connection, "alias"))
    if (Array.isArray(alias.address) && (alias.address as unknown[]).includes(name))
      users.push(`alias ${String(alias.name)}`);
  if (users.length > 0)
    throw new Error(
      `pfSense alias ${name} is still used by ${users.join(", ")}: pfSense would leave those out of the ` +
        `ruleset once the alias is gone. Remove the references in pfSense first, then run \`pulumi up\` again`,
    );
}

/** The fields a PATCH sends to bring `object` to `spec` (an alias's address goes with its details). */
function patchFields(kind: PfSenseKind, object: PfObject, spec: Readonly<Record<string, unknown>>) {
  const fields: Record<string, unknown> = Object.fromEntries(
    changedFields(observedSpec(object, spec), spec).map((key) => [key, spec[key]]),
  );
  // FirewallAlias validate_detail: more details (e.g. added in the GUI) than addresses is refused.
  if (kind === "alias" && "address" in fields) fields.detail = [];
  return fields;
}

async function writeObject(
  inputs: PfSenseObjectInputs,
  markers?: readonly string[],
): Promise<{ position: number; wrote: boolean }> {
  const { connection, kind, spec, marker, placement } = inputs;
  let wrote = false;
  const position = await resendAfterLookup(async () => {
    const list = await listOf(connection, kind);
    const object = await findOwn(connection, kind, marker, {
      ...(typeof spec.name === "string" ? { name: spec.name } : {}),
      ...(markers ? { markers } : {}),
      list,
    });
    if (!object) return undefined;
    const fields = patchFields(kind, object, spec);
    const move =
      kind === "rule" && isPlacement(placement) && !inPlace(list, object.id, marker, spec, placement)
        ? {
            placement: placementIndex(
              list.filter((rule) => rule !== object),
              marker,
              spec,
              placement,
            ),
          }
        : {};
    if (Object.keys(fields).length === 0 && !("placement" in move)) return object.id;
    wrote = true;
    const written = (await call(connection, "PATCH", PATHS[kind].one, {
      body: { ...fields, id: object.id, apply: false, ...move },
      idempotent: false,
    })) as PfObject;
    return written.id;
  }, connection.retries);
  if (position === undefined)
    throw new Error(`pfSense ${kind} ${marker} is gone; run \`pulumi refresh\` to recreate it`);
  return { position, wrote };
}

export const pfSenseObjectProvider: pulumi.dynamic.ResourceProvider<PfSenseObjectInputs, PfSenseObjectOutputs> = {
  check(_olds, news) {
    const failures: pulumi.dynamic.CheckFailure[] = [];
    if (!(news.kind in PATHS)) failures.push({ property: "kind", reason: `unknown kind ${String(news.kind)}` });
    if (!news.marker || typeof news.spec.descr !== "string" || !news.spec.descr.startsWith(news.marker))
      failures.push({
        property: "spec",
        reason: "spec.descr must start with the marker (pf logs show its first 52 characters)",
      });
    if (news.placement && !(isPlacement(news.placement) && news.placement.group.includes(news.marker)))
      failures.push({ property: "placement", reason: "placement.group must hold the rule's own marker" });
    if (!/^https:\/\//.test(news.connection.endpoint))
      failures.push({ property: "connection", reason: "the endpoint must be https://" });
    return Promise.resolve({ inputs: news, failures });
  },

  create(inputs) {
    const { connection, kind, marker, spec, placement } = inputs;
    return exclusive(connection, async () => {
      let list: PfObject[] | undefined = await listOf(connection, kind);
      const existing = await findSelf(connection, inputs, list);
      // An object with our marker is ours (left by an interrupted run): bring it to the spec, in place.
      const position = existing
        ? (await writeObject(inputs)).position
        : await createOnce(
            async () => {
              // The list just read, or a fresh one when the POST is sent again.
              const now = list ?? (await listOf(connection, kind));
              list = undefined;
              const at =
                kind === "rule" && isPlacement(placement)
                  ? { placement: placementIndex(now, marker, spec, placement) }
                  : {};
              const created = (await call(connection, "POST", PATHS[kind].one, {
                body: { ...spec, apply: false, ...at },
              })) as PfObject;
              return created.id;
            },
            async () => {
              // The POST may have landed although its answer was lost: look before sending it again.
              const landed = await findSelf(connection, inputs);
              return landed ? (await writeObject(inputs)).position : undefined;
            },
            connection.retries,
          );
      return { id: marker, outs: { ...inputs, position, inPlace: true, writeId: randomUUID() } };
    });
  },

  async read(id, props) {
    if (!props) throw new Error(`pfSense object ${id}: nothing to read without its connection`);
    const list = await listOf(props.connection, props.kind);
    const object = await findSelf(props.connection, props, list);
    if (!object) return {}; // gone: Pulumi drops it from the state
    // (A state written before placements were groups holds a number here: nothing to check then.)
    const placed =
      props.kind === "rule" && isPlacement(props.placement)
        ? inPlace(list, list.indexOf(object), props.marker, props.spec, props.placement)
        : true;
    return { id, props: { ...props, spec: observedSpec(object, props.spec), position: object.id, inPlace: placed } };
  },

  diff(_id, olds, news) {
    const changes = changedFields(olds.spec, news.spec);
    // Only an alias's name cannot change in place (R/Models/FirewallAlias.inc: `name` is not
    // editable, `type` is). A rule or port forward is known by its marker: a new one is a new object.
    const replaces = changes.filter((field) => news.kind === "alias" && field === "name").map((f) => `spec.${f}`);
    if (olds.kind !== news.kind) replaces.push("kind");
    if (olds.marker !== news.marker && news.kind !== "alias") replaces.push("marker");
    const connectionChanged = olds.connection.endpoint !== news.connection.endpoint;
    return Promise.resolve({
      changes: changes.length > 0 || replaces.length > 0 || connectionChanged || olds.inPlace === false,
      replaces,
      // The replacement is created first: alias names are unique, so the new one never collides,
      // and the rules move to it before the old alias goes (pfSense skips rules whose alias is gone).
      deleteBeforeReplace: false,
      stables: ["marker"],
    });
  },

  async update(_id, olds, news) {
    return exclusive(news.connection, async () => {
      // An alias is known by its name: a new marker (a renamed stack) is written into its description.
      const { position, wrote } = await writeObject(news, [olds.marker, news.marker]);
      return { outs: { ...news, position, inPlace: true, writeId: wrote ? randomUUID() : olds.writeId } };
    });
  },

  async delete(_id, props) {
    await exclusive(props.connection, async (gate) => {
      const { connection, kind } = props;
      await resendAfterLookup(async () => {
        const object = await findSelf(connection, props);
        if (!object) return;
        if (kind === "alias") await refuseIfReferenced(connection, String(object.name));
        // A removal is not followed by PfSenseApply (deletes run last): apply it when the queue is empty.
        gate.unapplied = true;
        await call(connection, "DELETE", PATHS[kind].one, {
          query: { id: object.id, apply: false },
          idempotent: false,
        });
      }, connection.retries);
    });
  },
};

export interface PfSenseApplyInputs {
  readonly connection: PfSenseConnection;
  /** applyRevision() of the objects' write ids: the apply runs once after any of them is written. */
  readonly revision: string;
}

export const pfSenseApplyProvider: pulumi.dynamic.ResourceProvider<
  PfSenseApplyInputs,
  PfSenseApplyInputs & { applied: boolean }
> = {
  async create(inputs) {
    await exclusive(inputs.connection, (gate) => applyConfirmed(inputs.connection, gate));
    return { id: "apply", outs: { ...inputs, applied: true } };
  },
  diff(_id, olds, news) {
    return Promise.resolve({
      changes: olds.revision !== news.revision || olds.connection.endpoint !== news.connection.endpoint,
    });
  },
  async update(_id, _olds, news) {
    await exclusive(news.connection, (gate) => applyConfirmed(news.connection, gate));
    return { outs: { ...news, applied: true } };
  },
  // Deleted before the objects it depends on; their removals apply themselves.
  delete: () => Promise.resolve(),
};

// One provider object for the objects and the apply (serialized once per deployment).
const HANDLERS = handlers({ object: pfSenseObjectProvider, apply: pfSenseApplyProvider });
export const pfSenseProvider = dispatchingProvider((kind) => (kind === "apply" ? HANDLERS.apply : HANDLERS.object));

type Connection = pulumi.Input<{
  endpoint: pulumi.Input<string>;
  apiKey: pulumi.Input<string>;
  caCertificate?: pulumi.Input<string>;
}>;

const TYPES: Readonly<Record<PfSenseKind, string>> = {
  alias: "FirewallAlias",
  rule: "FirewallRule",
  port_forward: "PortForward",
};

/** One pfSense object (alias, filter rule or port forward) owned through its marker. */
export class PfSenseObject extends pulumi.dynamic.Resource {
  declare readonly position: pulumi.Output<number>;
  declare readonly spec: pulumi.Output<Record<string, unknown>>;
  declare readonly writeId: pulumi.Output<string>;

  constructor(
    name: string,
    args: {
      connection: Connection;
      kind: PfSenseKind;
      marker: string;
      spec: Record<string, unknown>;
      placement?: RulePlacement;
    },
    opts?: pulumi.CustomResourceOptions,
  ) {
    super(
      pfSenseProvider,
      name,
      { ...args, position: undefined, inPlace: undefined, writeId: undefined },
      { ...opts, additionalSecretOutputs: ["connection"] },
      "pfsense",
      TYPES[args.kind],
    );
  }
}

/** Applies the objects' changes once, after all of them, and confirms pfSense loaded the rules. */
export class PfSenseApply extends pulumi.dynamic.Resource {
  declare readonly applied: pulumi.Output<boolean>;

  constructor(
    name: string,
    args: { connection: Connection; revision: pulumi.Input<string> },
    opts?: pulumi.CustomResourceOptions,
  ) {
    super(
      pfSenseProvider,
      name,
      { ...args, kind: "apply", applied: undefined },
      { ...opts, additionalSecretOutputs: ["connection"] },
      "pfsense",
      "Apply",
    );
  }
}
