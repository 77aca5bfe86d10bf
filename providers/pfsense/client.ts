// pfSense REST API package (pfrest v2) requests: the envelope, the operator's hints for pfrest's
// refusals and the prerequisites checked once per pfSense. Read in pfrest's source, repository
// pfrest/pfSense-pkg-RESTAPI at tag v2.10.0, files under pfSense-pkg-RESTAPI/files/usr/local/pkg/RESTAPI/
// (cited as R/…):
//
// - Prerequisites are checked on the first call to a pfSense (GET /api/v2/system/restapi/settings):
//   key authentication (pfrest ships with BasicAuth only and answers an X-API-Key with the same
//   401 as a wrong key, R/Core/Auth.inc attempt_multi_auth), interfaces represented by id
//   (R/Models/RESTAPISettings.inc), the API enabled and writable; an unknown endpoint is nginx's
//   HTML 404 (R/nginx.inc): "pfrest not installed or wrong version".
// - Control parameters (apply, async, placement) go in the body of a POST or PATCH and in the query
//   of a GET or DELETE (R/ContentHandlers/URLContentHandler.inc infers the types of query values).
// Part of the serialized provider (providers/pfsense/provider.ts): no module-level Set or Map.
import { createHash } from "node:crypto";
import { endpointFrom, rest, RestError, type ApiConnection } from "../rest";

export type PfSenseConnection = ApiConnection;

export type PfSenseKind = "alias" | "rule" | "port_forward";

export const PATHS: Readonly<Record<PfSenseKind, { one: string; all: string }>> = {
  alias: { one: "/api/v2/firewall/alias", all: "/api/v2/firewall/aliases" },
  rule: { one: "/api/v2/firewall/rule", all: "/api/v2/firewall/rules" },
  port_forward: { one: "/api/v2/firewall/nat/port_forward", all: "/api/v2/firewall/nat/port_forwards" },
};

export interface PfObject {
  readonly id: number;
  readonly descr?: string;
  readonly [field: string]: unknown;
}

/** The menu of pfrest's settings (R/Forms/SystemRESTAPISettingsForm.inc, restapi.xml), named in the hints. */
export const SETTINGS_MENU = "System > REST API > Settings";

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

export interface Gate {
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
export function processState(): ProcessState {
  const global = globalThis as unknown as Record<symbol, ProcessState | undefined>;
  const key = Symbol.for("mailstack.pfsense.provider-state");
  const state = global[key] ?? { gates: {}, checks: {} };
  global[key] = state;
  return state;
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

export async function listOf(connection: PfSenseConnection, kind: PfSenseKind): Promise<PfObject[]> {
  const list = await call(connection, "GET", PATHS[kind].all);
  if (!Array.isArray(list)) throw new Error(`pfSense ${PATHS[kind].all}: expected a list`);
  return list as PfObject[];
}

export const descrOf = (object: { descr?: unknown }) => (typeof object.descr === "string" ? object.descr : "");
