// Requests to the Proxmox VE API (https://<node>:8006/api2/json, API token in
// `Authorization: PVEAPIToken=<user@realm!tokenid>=<secret>`) and PVE's refusals explained.
// Upstream read: see providers/proxmox/provider.ts (pve-manager PVE/HTTPServer.pm, pve-http-server
// Formatter/Standard.pm and AnyEvent.pm, pve-common Exception.pm).
// Part of the serialized provider: no module-level Set or Map.
import { endpointFrom, rest, RestError, type ApiConnection, type RestResponse } from "../rest";

/** The PVE API: `endpoint` https://<node>:8006, `apiKey` the token `user@realm!tokenid=<secret>`. */
export type PveConnection = ApiConnection;

const API = "/api2/json";

// ---- talking to PVE -----------------------------------------------------------------------

/** PVE's error text: the body's message (or the status line's reason) and the per-parameter errors. */
function pveMessage(json: unknown, statusText: string): string | undefined {
  const body = (json && typeof json === "object" ? json : {}) as { message?: unknown; errors?: unknown };
  const message = (typeof body.message === "string" ? body.message.trim() : "") || statusText.trim();
  const errors =
    body.errors && typeof body.errors === "object"
      ? Object.entries(body.errors as Record<string, unknown>).map(
          ([key, value]) => `${key}: ${typeof value === "string" ? value.trim() : JSON.stringify(value)}`,
        )
      : [];
  // A stringified exception (e.g. in DELETE /cluster/backup/{id}) already carries its errors.
  const extra = errors.filter((error) => !message.includes(error));
  const all = [message.replace(/\s*\n\s*/g, "; "), extra.join("; ")].filter((part) => part !== "").join(" ");
  return all !== "" ? all : undefined;
}

/** Lock and quorum trouble: the API code did not run, so the request may be sent again. */
const TRANSIENT = /got lock request timeout|no quorum|cluster filesystem not online/;

/**
 * An answer of PVE's API formatter ({"data": …}) means the handler ran to its end: its error is
 * PVE's word (missing objects are HTTP 500 there), and on a create nothing was written (the config
 * file is written last, Config.pm:283 and Backup.pm:350).
 */
function finalAnswer(response: RestResponse): boolean {
  const json = response.json;
  if (!json || typeof json !== "object" || !("data" in json)) return false;
  return !TRANSIENT.test(pveMessage(json, response.statusText ?? "") ?? "");
}

/** user@realm!tokenid (pve-access-control AccessControl.pm:280-287, Auth/Plugin.pm:34-35). */
const TOKEN_ID = /^[^\s:/]+@[A-Za-z][A-Za-z0-9.\-_]+![A-Za-z][A-Za-z0-9.\-_]+$/;

/** The token's id (user@realm!name), never its secret; undefined when the token is malformed. */
export function tokenId(connection: PveConnection): string | undefined {
  const id = connection.apiKey.slice(0, Math.max(connection.apiKey.lastIndexOf("="), 0));
  return TOKEN_ID.test(id) ? id : undefined;
}

/** Roles that carry a privilege (pve-access-control AccessControl.pm $privgroups and the built-in roles). */
const ROLE_HINTS: Readonly<Record<string, string>> = {
  "Datastore.Allocate": "PVEDatastoreAdmin",
  "Sys.Audit": "PVEAuditor",
};

/** The error with the fix for the common cases; keeps the flags createOnce needs. */
function explained(error: unknown, connection: PveConnection): unknown {
  if (!(error instanceof RestError)) return error;
  const id = tokenId(connection) ?? "<user@realm!tokenid>";
  let hint = "";
  if (error.status === 401) {
    hint =
      ` — PVE refused the API token (unknown or expired token, wrong secret, or a disabled user; PVE says` +
      ` which only in its syslog): set mailstack:proxmoxApiToken to "${id}=<secret>" of a valid token` +
      ` (pveum user token list <user@realm>)`;
  } else if (/Permission check failed \(/.test(error.message)) {
    // A 403, or one stringified into a 500 inside a config lock (Backup.pm update_job :599).
    const [, path, privileges] = /Permission check failed \(([^,)]+), ([^)]+)\)/.exec(error.message) ?? [];
    if (path && privileges) {
      const privs = privileges.split("|");
      // Storage create/update/delete check /storage itself, and PVE drops the ACLs of a removed
      // storage (Config.pm:462): grant on /storage.
      const grantOn = path.startsWith("/storage") && privs.includes("Datastore.Allocate") ? "/storage" : path;
      const roles = privs.map((priv) => ROLE_HINTS[priv]).filter((role) => role !== undefined);
      const role = roles[0] ?? `<a role with ${privs.join(" or ")}>`;
      hint =
        ` — the token lacks ${privs.join(" or ")} on ${path}: grant it, e.g.` +
        ` \`pveum acl modify ${grantOn} --tokens '${id}' --roles ${role}\`` +
        (privs.includes("Sys.Modify")
          ? ` (only Administrator has Sys.Modify built in: \`pveum role add MailstackBackup --privs Sys.Audit,Sys.Modify,Datastore.Allocate\`, granted on / with --propagate 0)`
          : "") +
        `; with privilege separation the token's user needs it too`;
    }
  } else if (/fingerprint '[^']*' not verified/.test(error.message)) {
    hint =
      " — the PBS certificate does not match mailstack:backup.pbs.fingerprint (on the PBS: proxmox-backup-manager cert info)";
  } else if (/Cannot find datastore/.test(error.message)) {
    hint =
      " — check mailstack:backup.pbs.datastore, and that the PBS user may use it (DatastoreBackup on /datastore/<name>)";
  } else if (/error fetching datastores/.test(error.message)) {
    hint = " — PVE could not log in to the PBS: check mailstack:backup.pbs.server, username and the pbsPassword secret";
  }
  return hint ? new RestError(`${error.message}${hint}`, error.status, error.retryable, error.unsure) : error;
}

export type PveValue = string | number;
type PveBody = Readonly<Record<string, PveValue>>;

export async function pve(
  connection: PveConnection,
  method: "GET" | "POST" | "PUT" | "DELETE",
  path: string,
  body?: PveBody,
): Promise<unknown> {
  try {
    const response = await rest(
      endpointFrom(connection),
      { method, path: `${API}${path}`, ...(body !== undefined ? { body } : {}), final: finalAnswer },
      { authorization: `PVEAPIToken=${connection.apiKey}` },
      pveMessage,
    );
    const json = response.json;
    if (!json || typeof json !== "object" || !("data" in json)) {
      throw new RestError(`PVE ${method} ${path}: the answer is not PVE's {"data": …}`, response.status);
    }
    return json.data;
  } catch (error) {
    throw explained(error, connection);
  }
}

export const storagePath = (id: string) => `/storage/${encodeURIComponent(id)}`;
export const jobPath = (id: string) => `/cluster/backup/${encodeURIComponent(id)}`;

/** GET /storage/{id}; undefined when PVE has none ("storage '<id>' does not exist", HTTP 500). */
export async function readStorage(connection: PveConnection, id: string): Promise<Record<string, unknown> | undefined> {
  try {
    return (await pve(connection, "GET", storagePath(id))) as Record<string, unknown>;
  } catch (error) {
    if (error instanceof RestError && error.message.includes(`storage '${id}' does not exist`)) return undefined;
    throw error;
  }
}

/** GET /cluster/backup/{id}; undefined when PVE has none (HTTP 400, errors.id "No such job '<id>'"). */
export async function readJob(connection: PveConnection, id: string): Promise<Record<string, unknown> | undefined> {
  try {
    return (await pve(connection, "GET", jobPath(id))) as Record<string, unknown>;
  } catch (error) {
    if (error instanceof RestError && error.message.includes(`No such job '${id}'`)) return undefined;
    throw error;
  }
}
