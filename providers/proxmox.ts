// A Pulumi dynamic provider for the Proxmox VE API (https://<node>:8006/api2/json, API token in
// `Authorization: PVEAPIToken=<user@realm!tokenid>=<secret>`): the Proxmox Backup Server storage
// with the stack's own encryption key, and vzdump backup jobs. It replaces the bridged
// proxmoxve.storage.Pbs / backup.Job, whose Create panics after the object exists and whose PBS
// storage cannot be updated in place (see /work/notes/pbs-proxmox-860.md). Self-contained:
// dynamic providers are serialized.
//
// Upstream read (tags/commits as fetched):
// - pve-storage master 0c56bad8 (libpve-storage-perl 9.1.7): src/PVE/API2/Storage/Config.pm (read
//   :174-196, create :198-296, update :298-413, delete :415-466), src/PVE/Storage/PBSPlugin.pm
//   (options :63-80, sensitive properties :34-38, on_add_hook :506-547, on_update_hook :549-595,
//   on_delete_hook :597-605), src/PVE/Storage.pm storage_config :252-262.
// - pve-common master f665029: SectionConfig.pm check_config (fixed options cannot change) and
//   updateSchema (fixed keys left out), JSONSchema.pm (formats, "Parameter verification failed."),
//   Exception.pm (raise_perm_exc → 403 "Permission check failed (<path>, <privs>)").
// - pve-manager master 14a22df3 (9.2.11): PVE/API2/Backup.pm (create_job :244-357, read_job
//   :359-409, delete_job :411-479, update_job :481-653, permissions :38-91), PVE/HTTPServer.pm
//   auth_handler (any token failure → 401 "Authentication failed!") and rest_handler (die → 500
//   with the message, PVE::Exception → its code).
// - pve-http-server master 5c9e4ea7: Formatter/Standard.pm:14-51 (errors as {data: null, message,
//   errors}; `message` only since 9a2112e, older versions put it in the status line only),
//   AnyEvent.pm:293-330 (the status line's reason is the message's first line).
import * as pulumi from "@pulumi/pulumi";
import { pbsKeyFileFingerprint } from "../render/pbs-key";
import { dispatchingProvider, handlers } from "./dispatch";
import { createOnce, endpointFrom, rest, RestError, type ApiConnection, type RestResponse } from "./rest";

/** The PVE API: `endpoint` https://<node>:8006, `apiKey` the token `user@realm!tokenid=<secret>`. */
export type PveConnection = ApiConnection;

const API = "/api2/json";

/** What the dynamic provider host passes for a value not known yet (@pulumi/pulumi runtime/rpc.js unknownValue). */
const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
const known = (value: unknown) => value !== UNKNOWN && value !== undefined;

// ---- formats (pve-common JSONSchema.pm; cited per pattern) ---------------------------------

/** parse_id (JSONSchema.pm:292-305): the storage id of `pve-storage-id`. */
const STORAGE_ID = /^[a-z][a-z0-9\-_.]*[a-z0-9]$/i;
/** pve-configid (JSONSchema.pm:30, :254-262) for a new job; read/update/delete take at most 50 characters (pve-manager PVE/VZDump.pm:35-43). */
const JOB_ID = /^[a-z][a-z0-9_-]+$/i;
/** fingerprint-sha256 (JSONSchema.pm:169-175). */
const CERT_FINGERPRINT = /^([A-Fa-f0-9]{2}:){31}[A-Fa-f0-9]{2}$/;
/** pve_verify_node_name (JSONSchema.pm:347-355). */
const NODE_NAME = /^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?$/;
/** user@realm!tokenid (pve-access-control AccessControl.pm:280-287, Auth/Plugin.pm:34-35). */
const TOKEN_ID = /^[^\s:/]+@[A-Za-z][A-Za-z0-9.\-_]+![A-Za-z][A-Za-z0-9.\-_]+$/;
/** A PBS auth id: user@realm or a token user@realm!name (PBSPlugin.pm pbs_api_connect :720-732). */
const PBS_AUTH_ID = /^[^\s:/]+@[A-Za-z][A-Za-z0-9.\-_]+(![A-Za-z][A-Za-z0-9.\-_]+)?$/;
/** The keys of the prune-backups format (pve-storage Plugin.pm:88-124). */
const PRUNE_KEYS = ["keep-last", "keep-hourly", "keep-daily", "keep-weekly", "keep-monthly", "keep-yearly"];

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

/** The token's id (user@realm!name), never its secret; undefined when the token is malformed. */
function tokenId(connection: PveConnection): string | undefined {
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

type PveValue = string | number;
type PveBody = Readonly<Record<string, PveValue>>;

async function pve(
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

const storagePath = (id: string) => `/storage/${encodeURIComponent(id)}`;
const jobPath = (id: string) => `/cluster/backup/${encodeURIComponent(id)}`;

/** GET /storage/{id}; undefined when PVE has none ("storage '<id>' does not exist", HTTP 500). */
async function readStorage(connection: PveConnection, id: string): Promise<Record<string, unknown> | undefined> {
  try {
    return (await pve(connection, "GET", storagePath(id))) as Record<string, unknown>;
  } catch (error) {
    if (error instanceof RestError && error.message.includes(`storage '${id}' does not exist`)) return undefined;
    throw error;
  }
}

/** GET /cluster/backup/{id}; undefined when PVE has none (HTTP 400, errors.id "No such job '<id>'"). */
async function readJob(connection: PveConnection, id: string): Promise<Record<string, unknown> | undefined> {
  try {
    return (await pve(connection, "GET", jobPath(id))) as Record<string, unknown>;
  } catch (error) {
    if (error instanceof RestError && error.message.includes(`No such job '${id}'`)) return undefined;
    throw error;
  }
}

// ---- values -------------------------------------------------------------------------------

const text = (value: unknown): string | undefined =>
  typeof value === "string" ? value : typeof value === "number" ? String(value) : undefined;
const flag = (value: unknown, fallback: boolean) =>
  value === undefined || value === null ? fallback : value === true || value === 1 || value === "1";
const list = (value: unknown): string[] | undefined => {
  const items = (text(value) ?? "")
    .split(/[,;\s]+/)
    .map((item) => item.trim())
    .filter((item) => item !== "");
  return items.length > 0 ? items : undefined;
};
const sorted = <T>(items: readonly T[] | undefined, compare?: (a: T, b: T) => number) =>
  items && items.length > 0 ? [...items].sort(compare) : undefined;

/** prune-backups as keep-* counts: from a property string (storage) or an object (job GET, Backup.pm:158-173). */
function pruneOf(value: unknown): Record<string, number> | undefined {
  const entries: [string, unknown][] =
    value && typeof value === "object"
      ? Object.entries(value as Record<string, unknown>)
      : (list(value) ?? []).map((part) => {
          const [key = "", count] = part.split("=");
          return [key, count];
        });
  const counts = Object.fromEntries(
    entries.map(([key, count]) => [key, Number(count)] as const).sort(([a], [b]) => (a < b ? -1 : 1)),
  );
  return Object.keys(counts).length > 0 ? counts : undefined;
}
const pruneString = (prune: Readonly<Record<string, number>> | undefined) => {
  const counts = pruneOf(prune);
  return counts
    ? Object.entries(counts)
        .map(([key, count]) => `${key}=${count}`)
        .join(",")
    : undefined;
};

/** One managed field: its PVE name, how it is sent, read back and compared. */
interface Field<T> {
  readonly key: keyof T & string;
  readonly pve: string;
  /** The value PVE is sent (undefined: the field is deleted). */
  readonly encode: (value: unknown) => PveValue | undefined;
  /** The GET value as the input would be. */
  readonly observe: (raw: unknown) => unknown;
  /** Comparable form of an input or observed value. */
  readonly normalize?: (value: unknown) => unknown;
}

const plain = (value: unknown) => text(value);
const numbers = (value: unknown): number[] | undefined =>
  sorted(Array.isArray(value) ? value.map(Number) : list(value)?.map(Number), (a, b) => a - b);
const strings = (value: unknown): string[] | undefined =>
  sorted(Array.isArray(value) ? value.map(String) : list(value));

function field<T>(key: keyof T & string, pve: string, extra: Partial<Field<T>> = {}): Field<T> {
  return {
    key,
    pve,
    encode: (value) => (value === undefined || value === "" ? undefined : (value as PveValue)),
    observe: plain,
    ...extra,
  };
}

function same<T>(f: Field<T>, a: unknown, b: unknown): boolean {
  const normal = f.normalize ?? ((value: unknown) => (value === "" ? undefined : value));
  return JSON.stringify(normal(a) ?? null) === JSON.stringify(normal(b) ?? null);
}

function observed<T>(fields: readonly Field<T>[], raw: Record<string, unknown>): Partial<T> {
  return Object.fromEntries(fields.map((f) => [f.key, f.observe(raw[f.pve])])) as Partial<T>;
}

/**
 * The state a read returns, without the fields PVE does not have (undefined). The real engine's
 * dynamic provider host turns a read's props into a protobuf Struct, which refuses undefined
 * ("Unexpected struct type": @pulumi/pulumi v3.248.0 cmd/dynamic-provider/index.ts `read`,
 * google-protobuf struct_pb.js Value.fromJavaScript). Removing the key, rather than keeping the old
 * value, lets a field deleted on PVE show as drift.
 */
function withoutUndefined<T extends object>(state: T): T {
  return Object.fromEntries(Object.entries(state).filter(([, value]) => value !== undefined)) as T;
}

/** The PUT body that brings `current` to `wanted` (changed fields set, dropped ones deleted). */
function changes<T>(
  fields: readonly Field<T>[],
  current: Partial<T>,
  wanted: T,
): { set: Record<string, PveValue>; drop: string[] } {
  const set: Record<string, PveValue> = {};
  const drop: string[] = [];
  for (const f of fields) {
    if (same(f, current[f.key], wanted[f.key])) continue;
    const value = f.encode(wanted[f.key]);
    if (value === undefined) drop.push(f.pve);
    else set[f.pve] = value;
  }
  return { set, drop };
}

const putBody = (set: Record<string, PveValue>, drop: readonly string[]): Record<string, PveValue> => ({
  ...set,
  ...(drop.length > 0 ? { delete: drop.join(",") } : {}),
});

const sameConnection = (a: PveConnection, b: PveConnection) =>
  a.endpoint === b.endpoint && a.apiKey === b.apiKey && (a.caCertificate ?? "") === (b.caCertificate ?? "");

function checkConnection(connection: PveConnection, failures: pulumi.dynamic.CheckFailure[]): void {
  if (known(connection.endpoint) && !/^https:\/\/[^/\s]+/.test(connection.endpoint))
    failures.push({ property: "connection", reason: "the PVE endpoint must be https://<node>:8006" });
  if (known(connection.apiKey) && tokenId(connection) === undefined)
    failures.push({
      property: "connection",
      reason: "the API token must be user@realm!tokenid=<secret> (set mailstack:proxmoxApiToken)",
    });
}

function checkPrune(prune: unknown, failures: pulumi.dynamic.CheckFailure[]): void {
  if (!known(prune)) return;
  for (const [key, count] of Object.entries(prune as Record<string, unknown>)) {
    if (!PRUNE_KEYS.includes(key))
      failures.push({ property: "pruneBackups", reason: `${key} is not one of ${PRUNE_KEYS.join(", ")}` });
    else if (!Number.isInteger(count) || (count as number) < 0)
      failures.push({ property: "pruneBackups", reason: `${key} must be a whole number ≥ 0` });
  }
}

// ---- PBS storage --------------------------------------------------------------------------

export interface PbsStorageInputs {
  readonly connection: PveConnection;
  /** The storage id (cluster-wide, unique per stack). */
  readonly storage: string;
  readonly server: string;
  readonly port?: number;
  readonly datastore: string;
  /** PBS namespace (none: the datastore's root). */
  readonly namespace?: string;
  /** PBS user (user@realm) or API token (user@realm!name). */
  readonly username: string;
  /** The PBS password or token secret (secret). */
  readonly password: string;
  /** SHA-256 fingerprint of the PBS certificate (pinned by PVE). */
  readonly fingerprint: string;
  /** Nodes that may use the storage (none: all). */
  readonly nodes?: readonly string[];
  /** Retention for backups without a job of their own (keep-daily …). */
  readonly pruneBackups?: Readonly<Record<string, number>>;
  /** The PBS key file (render/pbs-key.ts, secret): PVE encrypts every backup with it. */
  readonly encryptionKey: string;
  /** Allow a changed encryptionKey (new backups then use the new key; old ones need the old key). */
  readonly allowKeyRotation?: boolean;
}

export interface PbsStorageOutputs extends PbsStorageInputs {
  /** The key fingerprint PVE has (storage.cfg `encryption-key`; "1" for a key without one, null for none). */
  readonly keyFingerprint: string | null;
  /** PVE's content types for the storage (ours: backup). */
  readonly content: string;
  /** Whether the storage is disabled in PVE. */
  readonly disabled: boolean;
}

/** Fields PVE's PBS plugin cannot change in place (`fixed`, PBSPlugin.pm:65-66), plus the id. */
const STORAGE_FIXED = ["storage", "server", "datastore"] as const;

/** The updatable fields (PBSPlugin.pm options :63-80 without fixed and sensitive ones). */
const STORAGE_FIELDS: readonly Field<PbsStorageInputs>[] = [
  field("port", "port", { observe: (raw) => (raw === undefined ? undefined : Number(raw)) }),
  field("namespace", "namespace"),
  field("username", "username"),
  field("fingerprint", "fingerprint", { normalize: (value) => text(value)?.toLowerCase() }),
  field("nodes", "nodes", {
    encode: (value) => strings(value)?.join(","),
    // PVE prints nodes in hash order (Plugin.pm encode_value): compare as sets.
    observe: strings,
    normalize: strings,
  }),
  field("pruneBackups", "prune-backups", {
    encode: (value) => pruneString(value as Record<string, number> | undefined),
    observe: pruneOf,
    normalize: pruneOf,
  }),
];

function observeStorage(raw: Record<string, unknown>) {
  const keyFingerprint = text(raw["encryption-key"]);
  return {
    ...observed(STORAGE_FIELDS, raw),
    server: text(raw.server) ?? "",
    datastore: text(raw.datastore) ?? "",
    keyFingerprint: keyFingerprint ?? null,
    content: text(raw.content) ?? "",
    disabled: flag(raw.disable, false),
  };
}

const keyFingerprintOf = (inputs: PbsStorageInputs) =>
  known(inputs.encryptionKey) ? pbsKeyFileFingerprint(inputs.encryptionKey) : undefined;

function storageOutputs(inputs: PbsStorageInputs): PbsStorageOutputs {
  return { ...inputs, keyFingerprint: pbsKeyFileFingerprint(inputs.encryptionKey), content: "backup", disabled: false };
}

/** The PUT that brings an existing storage to the inputs (password and key only when asked). */
function storageUpdate(
  current: Partial<PbsStorageOutputs>,
  wanted: PbsStorageInputs,
  options: { password: boolean; key: boolean },
): Record<string, PveValue> {
  const { set, drop } = changes(STORAGE_FIELDS, current, wanted);
  if (current.content !== "backup") set.content = "backup";
  if (current.disabled) drop.push("disable");
  // A password goes to /etc/pve/priv/storage/<id>.pw, a key to <id>.enc (on_update_hook :554-581).
  if (options.password) set.password = wanted.password;
  if (options.key) set["encryption-key"] = wanted.encryptionKey;
  return putBody(set, drop);
}

function keyRotationRefused(olds: Partial<PbsStorageInputs>, news: PbsStorageInputs): string | undefined {
  if (!known(olds.encryptionKey) || !known(news.encryptionKey) || news.allowKeyRotation === true) return undefined;
  const before = pbsKeyFileFingerprint(olds.encryptionKey as string);
  const after = pbsKeyFileFingerprint(news.encryptionKey);
  if (before === after) return undefined;
  return (
    `the PBS encryption key of storage ${news.storage} would change (${before.slice(0, 23)}… → ${after.slice(0, 23)}…):` +
    " backups made so far can then only be restored with the old key. Save the old key" +
    " (pulumi stack output --show-secrets), then set allowKeyRotation to rotate on purpose"
  );
}

export const pbsStorageProvider: pulumi.dynamic.ResourceProvider<PbsStorageInputs, PbsStorageOutputs> = {
  check(olds, news) {
    const failures: pulumi.dynamic.CheckFailure[] = [];
    checkConnection(news.connection, failures);
    if (known(news.storage) && !STORAGE_ID.test(news.storage))
      failures.push({
        property: "storage",
        reason: `"${news.storage}" is not a PVE storage id (a letter, then letters, digits, "-", "_" or ".", ending in a letter or digit)`,
      });
    if (known(news.fingerprint) && !CERT_FINGERPRINT.test(news.fingerprint))
      failures.push({
        property: "fingerprint",
        reason: "expected the PBS certificate's SHA-256 fingerprint (32 hex pairs joined by ':')",
      });
    if (known(news.username) && !PBS_AUTH_ID.test(news.username))
      failures.push({ property: "username", reason: "expected a PBS user (user@realm) or token (user@realm!name)" });
    if (known(news.password) && (news.password === "" || /[\r\n]/.test(news.password)))
      failures.push({
        property: "password",
        reason: "the PBS password must be one non-empty line (PVE stores its first line)",
      });
    if (
      known(news.port) &&
      (!Number.isInteger(news.port) || (news.port as number) < 1 || (news.port as number) > 65535)
    )
      failures.push({ property: "port", reason: "the PBS port must be 1…65535" });
    for (const node of known(news.nodes) ? (news.nodes ?? []) : [])
      if (known(node) && !NODE_NAME.test(node))
        failures.push({ property: "nodes", reason: `"${node}" is not a node name` });
    checkPrune(news.pruneBackups, failures);
    if (known(news.encryptionKey)) {
      try {
        pbsKeyFileFingerprint(news.encryptionKey);
        const refused = keyRotationRefused(olds, news);
        if (refused) failures.push({ property: "encryptionKey", reason: refused });
      } catch (error) {
        failures.push({ property: "encryptionKey", reason: (error as Error).message });
      }
    }
    return Promise.resolve({ inputs: news, failures });
  },

  async create(inputs) {
    const { connection, storage: id } = inputs;
    const fingerprint = pbsKeyFileFingerprint(inputs.encryptionKey);
    // Ours: a PBS storage with our key (left by a run that died after PVE created it).
    const ours = (raw: Record<string, unknown>) => raw.type === "pbs" && raw["encryption-key"] === fingerprint;
    const existing = await readStorage(connection, id);
    if (existing) {
      if (!ours(existing)) {
        const what =
          existing.type === "pbs" ? "a PBS storage with another encryption key" : `a ${text(existing.type)} storage`;
        throw new Error(
          `PVE already has a storage "${id}" that this stack did not create (${what}): set another` +
            " mailstack:backup.pbs.storageId, or remove it (`pvesm remove " +
            id +
            "`; the backups on the PBS stay) if it is a leftover",
        );
      }
      const current = observeStorage(existing);
      if (current.server !== inputs.server || current.datastore !== inputs.datastore) {
        throw new Error(
          `PVE's storage "${id}" has this stack's key but points at ${current.server}/${current.datastore}:` +
            " PVE cannot change server or datastore in place; remove it (`pvesm remove " +
            id +
            "`) and run `pulumi up` again",
        );
      }
      await pve(connection, "PUT", storagePath(id), storageUpdate(current, inputs, { password: true, key: false }));
      return { id, outs: storageOutputs(inputs) };
    }
    const body: Record<string, PveValue> = {
      type: "pbs",
      storage: id,
      server: inputs.server,
      datastore: inputs.datastore,
      content: "backup",
      password: inputs.password,
      "encryption-key": inputs.encryptionKey,
    };
    for (const f of STORAGE_FIELDS) {
      const value = f.encode(inputs[f.key]);
      if (value !== undefined) body[f.pve] = value;
    }
    await createOnce(
      () => pve(connection, "POST", "/storage", body).then(() => true),
      // The POST may have landed although its answer was lost: look before sending it again.
      async () => {
        const landed = await readStorage(connection, id);
        return landed && ours(landed) ? true : undefined;
      },
      connection.retries,
    );
    return { id, outs: storageOutputs(inputs) };
  },

  async read(id, props) {
    if (!props) throw new Error(`PVE storage ${id}: nothing to read without its connection`);
    const raw = await readStorage(props.connection, id);
    if (!raw) return {}; // gone: Pulumi drops it from the state
    if (raw.type !== "pbs") {
      throw new Error(
        `PVE storage "${id}" is now a ${text(raw.type)} storage, not PBS: someone replaced it; remove it or pick another storage id`,
      );
    }
    return { id, props: withoutUndefined({ ...props, ...observeStorage(raw) }) };
  },

  diff(_id, olds, news) {
    const replaces = STORAGE_FIXED.filter((key) => olds[key] !== news[key]);
    const fields = STORAGE_FIELDS.filter((f) => !same(f, olds[f.key], news[f.key])).map((f) => f.key);
    const wantedKey = keyFingerprintOf(news);
    const keyDrift =
      wantedKey === undefined || olds.keyFingerprint !== wantedKey || olds.encryptionKey !== news.encryptionKey;
    const changed =
      replaces.length > 0 ||
      fields.length > 0 ||
      keyDrift ||
      olds.password !== news.password ||
      olds.content !== "backup" ||
      olds.disabled ||
      olds.allowKeyRotation !== news.allowKeyRotation ||
      !sameConnection(olds.connection, news.connection);
    return Promise.resolve({
      changes: changed,
      replaces: [...replaces],
      // The same id cannot exist twice ("storage ID '<id>' already defined", Config.pm:256-258).
      deleteBeforeReplace: replaces.length > 0 && olds.storage === news.storage,
    });
  },

  async update(id, olds, news) {
    const refused = keyRotationRefused(olds, news);
    if (refused) throw new Error(refused);
    const wantedKey = pbsKeyFileFingerprint(news.encryptionKey);
    const body = storageUpdate(olds, news, {
      // A password change is a PUT (on_update_hook writes <id>.pw), never a new storage.
      password: olds.password !== news.password,
      // The key is sent only when it changed or PVE has another one (a drift put back).
      key: olds.keyFingerprint !== wantedKey || olds.encryptionKey !== news.encryptionKey,
    });
    if (Object.keys(body).length > 0) {
      try {
        await pve(news.connection, "PUT", storagePath(id), body);
      } catch (error) {
        if (error instanceof RestError && error.message.includes(`storage '${id}' does not exist`)) {
          throw new Error(`PVE storage "${id}" is gone; run \`pulumi refresh\`, then \`pulumi up\` creates it again`);
        }
        throw error;
      }
    }
    return { outs: storageOutputs(news) };
  },

  async delete(id, props) {
    // PVE deletes <id>.pw and <id>.enc with it (on_delete_hook); the backups on the PBS stay.
    if (!(await readStorage(props.connection, id))) return;
    try {
      await pve(props.connection, "DELETE", storagePath(id));
    } catch (error) {
      // Removed by someone else in the meantime.
      if (!(error instanceof RestError && error.message.includes(`storage '${id}' does not exist`))) throw error;
    }
  },
};

// ---- backup jobs --------------------------------------------------------------------------

export interface BackupJobInputs {
  readonly connection: PveConnection;
  /** The job id (cluster-wide, unique per stack; `id` is Pulumi's own). */
  readonly jobId: string;
  /** Proxmox calendar event, e.g. "*-*-* 02:00". */
  readonly schedule: string;
  /** The storage the backups go to. */
  readonly storage: string;
  readonly vmids: readonly number[];
  readonly mode: "snapshot" | "suspend" | "stop";
  readonly compress: "0" | "1" | "gzip" | "lzo" | "zstd";
  readonly pruneBackups?: Readonly<Record<string, number>>;
  /** Deprecated in PVE 8.1+ for the notification system, still honoured with notificationMode auto. */
  readonly mailNotification?: "always" | "failure";
  readonly mailTo?: readonly string[];
  readonly notificationMode?: "auto" | "legacy-sendmail" | "notification-system";
  readonly enabled: boolean;
  readonly repeatMissed: boolean;
  readonly notesTemplate?: string;
  /** PVE's job comment, and the mark of this stack's job: one with another comment is never adopted. */
  readonly comment: string;
}

export type BackupJobOutputs = BackupJobInputs;

const withDefault = (fallback: string) => (raw: unknown) => text(raw) ?? fallback;
const bit = (value: unknown) => (value ? 1 : 0);

/** The job's fields (pve-guest-common src/PVE/VZDump/Common.pm confdesc, Backup.pm create/update). */
const JOB_FIELDS: readonly Field<BackupJobInputs>[] = [
  field("schedule", "schedule"),
  field("storage", "storage"),
  field("vmids", "vmid", { encode: (value) => numbers(value)?.join(","), observe: numbers, normalize: numbers }),
  field("mode", "mode", { observe: withDefault("snapshot") }),
  field("compress", "compress", { observe: withDefault("0") }),
  field("pruneBackups", "prune-backups", {
    encode: (value) => pruneString(value as Record<string, number> | undefined),
    observe: pruneOf,
    normalize: pruneOf,
  }),
  field("mailNotification", "mailnotification"),
  field("mailTo", "mailto", { encode: (value) => strings(value)?.join(","), observe: strings, normalize: strings }),
  field("notificationMode", "notification-mode"),
  // enabled defaults to 1 (Backup.pm:329), repeat-missed to 0 (:138-144).
  field("enabled", "enabled", { encode: bit, observe: (raw) => flag(raw, true) }),
  field("repeatMissed", "repeat-missed", { encode: bit, observe: (raw) => flag(raw, false) }),
  field("notesTemplate", "notes-template"),
  field("comment", "comment"),
];

function jobBody(inputs: BackupJobInputs): Record<string, PveValue> {
  const body: Record<string, PveValue> = { id: inputs.jobId };
  for (const f of JOB_FIELDS) {
    const value = f.encode(inputs[f.key]);
    if (value !== undefined) body[f.pve] = value;
  }
  return body;
}

export const backupJobProvider: pulumi.dynamic.ResourceProvider<BackupJobInputs, BackupJobOutputs> = {
  check(_olds, news) {
    const failures: pulumi.dynamic.CheckFailure[] = [];
    checkConnection(news.connection, failures);
    if (known(news.jobId) && (!JOB_ID.test(news.jobId) || news.jobId.length > 50))
      failures.push({
        property: "jobId",
        reason: `"${news.jobId}" is not a backup job id (a letter, then letters, digits, "-" or "_"; at most 50 characters)`,
      });
    if (known(news.storage) && !STORAGE_ID.test(news.storage))
      failures.push({ property: "storage", reason: `"${news.storage}" is not a PVE storage id` });
    if (known(news.vmids)) {
      if (news.vmids.length === 0) failures.push({ property: "vmids", reason: "name at least one VM id" });
      for (const vmid of news.vmids)
        if (known(vmid) && !/^[1-9][0-9]{2,8}$/.test(String(vmid)))
          failures.push({ property: "vmids", reason: `${String(vmid)} is not a VM id (100…999999999)` });
    }
    if (known(news.schedule) && (news.schedule.trim() === "" || /[\r\n]/.test(news.schedule)))
      failures.push({ property: "schedule", reason: 'expected a Proxmox calendar event such as "*-*-* 02:00"' });
    for (const key of ["comment", "notesTemplate"] as const) {
      const value = news[key];
      if (known(value) && /[\r\n]/.test(value ?? ""))
        failures.push({ property: key, reason: "must be one line (PVE stores it in jobs.cfg)" });
    }
    if (known(news.comment) && (news.comment.trim() === "" || news.comment.length > 512))
      failures.push({ property: "comment", reason: "the comment marks the job as this stack's: 1…512 characters" });
    checkPrune(news.pruneBackups, failures);
    return Promise.resolve({ inputs: news, failures });
  },

  async create(inputs) {
    const { connection, jobId: id } = inputs;
    const ours = (raw: Record<string, unknown>) => raw.comment === inputs.comment;
    const existing = await readJob(connection, id);
    if (existing) {
      if (!ours(existing)) {
        throw new Error(
          `PVE already has a backup job "${id}" that this stack did not create (its comment is not "${inputs.comment}"):` +
            " delete it (Datacenter → Backup) if it is a leftover, or give this stack's job another id",
        );
      }
      const { set, drop } = changes(JOB_FIELDS, observed(JOB_FIELDS, existing), inputs);
      if (set["notes-template"] !== undefined) set.storage = inputs.storage;
      if (Object.keys(set).length > 0 || drop.length > 0) await pve(connection, "PUT", jobPath(id), putBody(set, drop));
      return { id, outs: inputs };
    }
    await createOnce(
      () => pve(connection, "POST", "/cluster/backup", jobBody(inputs)).then(() => true),
      async () => {
        const landed = await readJob(connection, id);
        return landed && ours(landed) ? true : undefined;
      },
      connection.retries,
    );
    return { id, outs: inputs };
  },

  async read(id, props) {
    if (!props) throw new Error(`PVE backup job ${id}: nothing to read without its connection`);
    const raw = await readJob(props.connection, id);
    if (!raw) return {};
    return { id, props: withoutUndefined({ ...props, ...observed(JOB_FIELDS, raw) }) };
  },

  diff(_id, olds, news) {
    const changed = JOB_FIELDS.some((f) => !same(f, olds[f.key], news[f.key]));
    return Promise.resolve({
      changes: changed || olds.jobId !== news.jobId || !sameConnection(olds.connection, news.connection),
      replaces: olds.jobId !== news.jobId ? ["jobId"] : [],
    });
  },

  async update(id, olds, news) {
    const { set, drop } = changes(JOB_FIELDS, olds, news);
    // notes-template `requires` storage in the same request (Common.pm confdesc; JSONSchema.pm check_object).
    if (set["notes-template"] !== undefined) set.storage = news.storage;
    if (Object.keys(set).length > 0 || drop.length > 0) {
      try {
        await pve(news.connection, "PUT", jobPath(id), putBody(set, drop));
      } catch (error) {
        if (error instanceof RestError && error.message.includes("no such vzdump job")) {
          throw new Error(
            `PVE backup job "${id}" is gone; run \`pulumi refresh\`, then \`pulumi up\` creates it again`,
          );
        }
        throw error;
      }
    }
    return { outs: news };
  },

  async delete(id, props) {
    if (!(await readJob(props.connection, id))) return;
    try {
      await pve(props.connection, "DELETE", jobPath(id));
    } catch (error) {
      // Removed by someone else in the meantime (a stringified 400 inside a 500, Backup.pm:450-475).
      if (!(error instanceof RestError && error.message.includes(`No such job '${id}'`))) throw error;
    }
  },
};

// ---- one provider for both ----------------------------------------------------------------

const HANDLERS = handlers({ pbsStorage: pbsStorageProvider, backupJob: backupJobProvider });

export const proxmoxProvider = dispatchingProvider((kind) => {
  const found = HANDLERS[kind as keyof typeof HANDLERS];
  if (!found) throw new Error(`proxmox provider: unknown kind ${String(kind)}`);
  return found;
});

// ---- resources ----------------------------------------------------------------------------

type Input<T> = pulumi.Input<T>;
type ConnectionInput = Input<{ endpoint: Input<string>; apiKey: Input<string>; caCertificate?: Input<string> }>;
type InputOf<V> = V extends readonly (infer E)[] ? Input<readonly Input<E>[]> : Input<V>;
type Inputs<T> = { [K in keyof T]: K extends "connection" ? ConnectionInput : InputOf<NonNullable<T[K]>> };

/** A Proxmox Backup Server storage in PVE, encrypted with the stack's key (render/pbs-key.ts). */
export class PvePbsStorage extends pulumi.dynamic.Resource {
  declare readonly storage: pulumi.Output<string>;
  /** Not secret: PVE shows it in storage.cfg, and a restore needs the key whose fingerprint it is. */
  declare readonly keyFingerprint: pulumi.Output<string>;

  constructor(name: string, args: Inputs<PbsStorageInputs>, opts?: pulumi.CustomResourceOptions) {
    super(
      proxmoxProvider,
      name,
      { ...args, kind: "pbsStorage", keyFingerprint: undefined, content: undefined, disabled: undefined },
      { ...opts, additionalSecretOutputs: ["connection", "password", "encryptionKey"] },
      "proxmox",
      "PbsStorage",
    );
  }
}

/** A vzdump backup job (Datacenter → Backup). */
export class PveBackupJob extends pulumi.dynamic.Resource {
  declare readonly enabled: pulumi.Output<boolean>;

  constructor(name: string, args: Inputs<BackupJobInputs>, opts?: pulumi.CustomResourceOptions) {
    super(
      proxmoxProvider,
      name,
      { ...args, kind: "backupJob" },
      { ...opts, additionalSecretOutputs: ["connection"] },
      "proxmox",
      "BackupJob",
    );
  }
}
