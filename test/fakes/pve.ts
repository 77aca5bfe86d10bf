// A fake Proxmox VE API on loopback for the storage and backup-job endpoints mailstack uses,
// following the upstream Perl code (commits as fetched; "Config.pm" = pve-storage
// src/PVE/API2/Storage/Config.pm):
// - pve-http-server 5c9e4ea7 (libpve-http-server-perl 6.0.5): the token is read from
//   `Authorization: PVEAPIToken=<tokenid>=<secret>` (Formatter.pm extract_auth_value); any auth
//   failure is HTTP 401 "Authentication failed!" with an empty body (AnyEvent.pm:1614-1646, no login
//   formatter for json); other errors are {"data": null, "message", "errors"?} with the message's
//   first line as the status line's reason (Formatter/Standard.pm:14-51, AnyEvent.pm:293-330); a GET
//   or DELETE with a body is 501 "Unexpected content for method" (AnyEvent.pm:1655-1660).
// - pve-manager 14a22df3 (9.2.11): PVE/HTTPServer.pm auth_handler → PVE::AccessControl::verify_token
//   (pve-access-control 5ccd07d, AccessControl.pm: user enabled, token exists, not expired, secret);
//   rest_handler: 501 "Method '<M> <uri>' not implemented", permissions before parameters, a plain
//   die is HTTP 500 with its text, a PVE::Exception keeps its code. PVE/API2/Backup.pm for the jobs.
// - pve-access-control RPCEnvironment.pm check/check_any → 403 "Permission check failed (<path>, <priv>)".
// - pve-storage 0c56bad8 (9.1.7): Config.pm read/create/update/delete, PBSPlugin.pm (options,
//   sensitive properties, on_add/on_update/on_delete hooks, activate_storage), Plugin.pm
//   (encode_value prints `nodes` in hash order), Storage.pm storage_config ("storage '<id>' does not
//   exist"), pve-common f665029 SectionConfig.pm check_config/check_value (fixed options, numbers
//   for booleans and integers), JSONSchema.pm (formats, "Parameter verification failed."),
//   Exception.pm (a stringified exception is "<code> <msg>" plus "<param>: <error>" lines).
// - pve-cluster 7091d92 Cluster.pm cfs_lock: an error of the locked code is re-raised as is;
//   Backup.pm's `die "$@"` after it stringifies a PVE::Exception into a plain 500.
// Simplified, and said where: ACLs are granted to the token directly (no user ACL intersection or
// groups); schemas cover PBS and the job options mailstack uses, plus a few foreign properties;
// calendar events are only checked for being non-empty; `encryption-key autogen` (which runs
// proxmox-backup-client) is not modelled; PBS's reason phrase for a failed login is assumed.
import { randomUUID } from "node:crypto";
import { FakeHttpsApi, type JsonReply, type LoggedRequest, type TestCertificate } from "./https";

export interface FakeToken {
  readonly secret: string;
  /** Epoch seconds after which the token is refused. */
  readonly expire?: number;
  readonly userEnabled?: boolean;
}

export interface AclEntry {
  readonly path: string;
  readonly privs: readonly string[];
  /** Default true (PVE's default for `pveum acl modify`). */
  readonly propagate?: boolean;
}

/** The PBS that PVE logs in to when a storage is created (PBSPlugin.pm activate_storage :844-861). */
export interface FakePbs {
  /** SHA-256 fingerprint of the PBS certificate. */
  certificateFingerprint: string;
  datastores: string[];
  /** PBS auth id (user@realm or user@realm!token) → password or token secret. */
  readonly users: Map<string, string>;
}

type Scalar = string | number;
type Section = Record<string, Scalar | string[] | Record<string, string>>;

/** A failed API call as PVE's rest_handler turns it into a response (status, message, errors). */
class PveError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly errors?: Record<string, string>,
  ) {
    super(message);
  }
}

const isPveError = (value: unknown): value is PveError => value instanceof PveError;
const die = (message: string, status = 500): PveError =>
  new PveError(status, message.endsWith("\n") ? message : `${message}\n`);
const paramError = (errors: Record<string, string>): PveError =>
  new PveError(400, "Parameter verification failed.\n", errors);
const permError = (what: string): PveError => new PveError(403, `Permission check failed (${what})\n`);
/** A PVE::Exception interpolated into a string (Exception.pm stringify): a plain error. */
const stringified = (error: PveError): PveError =>
  die(
    `${error.status} ${error.message}${Object.entries(error.errors ?? {})
      .map(([key, value]) => `${key}: ${value}\n`)
      .join("")}`,
  );
/** lock_storage_config's prefix (Storage.pm:242-250). */
const prefixed = (prefix: string, error: PveError): PveError =>
  error.status === 500 ? die(`${prefix}: ${error.message}`) : die(`${prefix}: ${stringified(error).message}`);

const STORAGE_ID = /^[a-z][a-z0-9\-_.]*[a-z0-9]$/i;
const CONFIG_ID = /^[a-z][a-z0-9_-]+$/i;
const NODE = /^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?$/;
const FINGERPRINT = /^([A-Fa-f0-9]{2}:){31}[A-Fa-f0-9]{2}$/;
const VMID = /^[1-9][0-9]{2,8}$/;
const PRUNE_KEYS = ["keep-all", "keep-last", "keep-hourly", "keep-daily", "keep-weekly", "keep-monthly", "keep-yearly"];
const STORAGE_TYPES = [
  "btrfs",
  "cephfs",
  "cifs",
  "dir",
  "esxi",
  "iscsi",
  "iscsidirect",
  "lvm",
  "lvmthin",
  "nfs",
  "pbs",
  "rbd",
  "zfs",
  "zfspool",
];

type Check = (value: unknown) => string | undefined;

const str = (value: unknown) =>
  typeof value === "number" ? String(value) : typeof value === "string" ? value : undefined;
const isBool = (value: unknown) => value === true || value === false || ["0", "1"].includes(str(value) ?? "");
const boolValue = (value: unknown) => (value === true || str(value) === "1" ? 1 : 0);

/** JSONSchema.pm check_type / check_prop, for the types used here. */
const types = {
  string:
    (more?: Check): Check =>
    (value) => {
      if (typeof value === "object" && value !== null) return "type check ('string') failed - got HASH";
      return more?.(value);
    },
  boolean: (): Check => (value) =>
    isBool(value) ? undefined : `type check ('boolean') failed - got '${String(value)}'`,
  integer:
    (min?: number, max?: number): Check =>
    (value) => {
      const text = str(value) ?? "";
      if (!/^[+-]?\d+$/.test(text)) return `type check ('integer') failed - got '${String(value)}'`;
      if (max !== undefined && Number(text) > max) return `value must have a maximum value of ${max}`;
      if (min !== undefined && Number(text) < min) return `value must have a minimum value of ${min}`;
      return undefined;
    },
  enumOf:
    (values: readonly string[]): Check =>
    (value) =>
      values.includes(str(value) ?? "")
        ? undefined
        : `value '${String(value)}' does not have a value in the enumeration '${values.join(", ")}'`,
};

const format = (test: (text: string) => string | undefined): Check =>
  types.string((value) => {
    const problem = test(str(value) ?? "");
    return problem ? `invalid format - ${problem}\n` : undefined;
  });
const storageIdFormat = format((id) =>
  id.length < 2
    ? `storage ID '${id}' cannot be shorter than 2 characters`
    : STORAGE_ID.test(id)
      ? undefined
      : `storage ID '${id}' contains illegal characters`,
);
const listOf = (one: (item: string) => string | undefined) =>
  format((text) =>
    text
      .split(/[;,\s]+/)
      .filter((item) => item !== "")
      .map(one)
      .find((problem) => problem),
  );
const nodeList = listOf((node) => (NODE.test(node) ? undefined : "value does not look like a valid node name"));
const vmidList = listOf((vmid) => (VMID.test(vmid) ? undefined : "value does not look like a valid VM ID"));
const mailList = listOf((mail) =>
  /^[^\s@]+(@[^\s@]+)?$/.test(mail) ? undefined : "value does not look like a valid email address or user name",
);
const contentList = listOf((content) => (/^[a-z]+$/.test(content) ? undefined : `invalid content type '${content}'`));
/** prune-backups (Plugin.pm:88-138): keep-* integers, keep-all alone. */
const pruneFormat = format((text) => {
  const parts = text.split(",").filter((part) => part.trim() !== "");
  for (const part of parts) {
    const [key = "", value = ""] = part.split("=");
    if (!PRUNE_KEYS.includes(key)) return `invalid key in comma-separated list property: ${key}`;
    if (!/^\d+$/.test(value)) return "format error";
  }
  return undefined;
});
const pattern = (regex: RegExp): Check =>
  types.string((value) => (regex.test(str(value) ?? "") ? undefined : "value does not match the regex pattern"));
const maxLength = (max: number): Check =>
  types.string((value) => ((str(value) ?? "").length > max ? `value may only be ${max} characters long` : undefined));

/** The storage create schema for the properties modelled (Plugin.pm propertyList + PBSPlugin/NFS/CIFS properties). */
const STORAGE_SCHEMA: Readonly<Record<string, Check>> = {
  type: types.enumOf(STORAGE_TYPES),
  storage: storageIdFormat,
  server: types.string(),
  datastore: types.string(),
  namespace: types.string(),
  port: types.integer(1, 65535),
  nodes: nodeList,
  disable: types.boolean(),
  content: contentList,
  username: types.string(),
  password: maxLength(256),
  "encryption-key": types.string(),
  "master-pubkey": types.string(),
  "prune-backups": pruneFormat,
  "max-protected-backups": types.integer(-1),
  fingerprint: pattern(FINGERPRINT),
  // Properties of other plugins: in the schema, refused by the PBS plugin's check_config.
  export: types.string(),
  path: types.string(),
  share: types.string(),
  pool: types.string(),
  subdir: types.string(),
  shared: types.boolean(),
};
/** PBSPlugin.pm options :63-80: optional unless marked; fixed ones only on create. */
const PBS_OPTIONS: Readonly<Record<string, { optional?: true; fixed?: true }>> = {
  server: { fixed: true },
  datastore: { fixed: true },
  namespace: { optional: true },
  port: { optional: true },
  nodes: { optional: true },
  disable: { optional: true },
  content: { optional: true },
  username: { optional: true },
  password: { optional: true },
  "encryption-key": { optional: true },
  "master-pubkey": { optional: true },
  "prune-backups": { optional: true },
  "max-protected-backups": { optional: true },
  fingerprint: { optional: true },
};
const PBS_SENSITIVE = ["encryption-key", "master-pubkey", "password"];
const NUMERIC = new Set(["port", "disable", "max-protected-backups", "shared"]);

/** The job options (pve-guest-common VZDump/Common.pm confdesc, Backup.pm create/update schemas). */
const JOB_SCHEMA: Readonly<Record<string, Check>> = {
  id: format((id) => (CONFIG_ID.test(id) ? undefined : `invalid configuration ID '${id}'`)),
  schedule: maxLength(128),
  starttime: pattern(/\d{1,2}:\d{1,2}/),
  dow: types.string(),
  enabled: types.boolean(),
  "repeat-missed": types.boolean(),
  comment: maxLength(512),
  vmid: vmidList,
  node: types.string(),
  all: types.boolean(),
  compress: types.enumOf(["0", "1", "gzip", "lzo", "zstd"]),
  mode: types.enumOf(["snapshot", "suspend", "stop"]),
  mailto: mailList,
  mailnotification: types.enumOf(["always", "failure"]),
  "notification-mode": types.enumOf(["auto", "legacy-sendmail", "notification-system"]),
  storage: storageIdFormat,
  "prune-backups": pruneFormat,
  "notes-template": maxLength(1024),
  protected: types.boolean(),
  remove: types.boolean(),
  pool: types.string(),
  exclude: vmidList,
  tmpdir: types.string(),
  dumpdir: types.string(),
  script: types.string(),
  bwlimit: types.integer(0),
  ionice: types.integer(0, 8),
  zstd: types.integer(),
};
const JOB_NUMERIC = new Set(["enabled", "repeat-missed", "all", "protected", "remove", "bwlimit", "ionice", "zstd"]);
const JOB_DELETABLE = new Set(["comment", "repeat-missed"]);

/** `requires` in the job schemas (Common.pm confdesc, Backup.pm dow), checked by JSONSchema.pm check_object :1339-1349. */
const REQUIRES: Readonly<Record<string, string>> = {
  "notes-template": "storage",
  protected: "storage",
  dow: "starttime",
};

function validate(
  params: Record<string, unknown>,
  schema: Readonly<Record<string, Check>>,
  extra: Readonly<Record<string, Check>> = {},
): PveError | undefined {
  const errors: Record<string, string> = {};
  for (const [key, value] of Object.entries(params)) {
    const requires = schema === JOB_SCHEMA ? REQUIRES[key] : undefined;
    if (requires && params[requires] === undefined) errors[requires] = `missing property required by '${key}'`;
    const check = extra[key] ?? schema[key];
    if (!check) {
      errors[key] = "property is not defined in schema and the schema does not allow additional properties";
      continue;
    }
    if (value === null || value === undefined) continue;
    const problem = check(value);
    if (problem) errors[key] = problem;
  }
  return Object.keys(errors).length > 0 ? paramError(errors) : undefined;
}

const splitList = (value: unknown) => (str(value) ?? "").split(/[;,\s]+/).filter((item) => item !== "");

export class FakePve {
  readonly api: FakeHttpsApi;
  /** storage.cfg sections, decoded as PVE holds them (nodes and content as lists). */
  readonly storages = new Map<string, Section>();
  /** Files under /etc/pve/priv (the .pw, .enc and .master.pem of each storage). */
  readonly files = new Map<string, string>();
  /** jobs.cfg vzdump sections. */
  readonly jobs = new Map<string, Section>();
  /** API tokens by id (user@realm!name). */
  readonly tokens = new Map<string, FakeToken>();
  /** What PVE grants each token. */
  readonly acl = new Map<string, AclEntry[]>();
  /** Why requests were refused with 401 (PVE logs it to syslog only). */
  readonly authLog: string[] = [];
  readonly pbs: FakePbs = {
    certificateFingerprint: "",
    datastores: [],
    users: new Map(),
  };
  /** This node's name (storage_check_enabled decides on it whether create logs in to the PBS). */
  nodeName = "pve";
  /** false: an older pve-http-server (before 9a2112e, "fix #6503") with the message in the status line only. */
  messageInBody = true;
  private digestCounter = 0;

  constructor(certificate: TestCertificate) {
    this.api = new FakeHttpsApi(certificate, (request) => this.handle(request));
  }

  /** Adds a token with the privileges on each path (a role's privileges, flattened). */
  addToken(id: string, secret: string, grants: readonly AclEntry[] = []): void {
    this.tokens.set(id, { secret });
    this.acl.set(id, [...grants]);
  }

  reset(): void {
    this.storages.clear();
    this.files.clear();
    this.jobs.clear();
    this.tokens.clear();
    this.acl.clear();
    this.authLog.length = 0;
    this.pbs.users.clear();
    this.pbs.datastores = [];
    this.pbs.certificateFingerprint = "";
    this.api.requests.length = 0;
    this.api.onRequest = undefined;
    this.api.clearFaults();
    this.messageInBody = true;
  }

  static passwordFile = (id: string) => `/etc/pve/priv/storage/${id}.pw`;
  static keyFile = (id: string) => `/etc/pve/priv/storage/${id}.enc`;
  static masterKeyFile = (id: string) => `/etc/pve/priv/storage/${id}.master.pem`;

  private get digest(): string {
    return `fake-digest-${this.digestCounter}`;
  }

  private handle(request: LoggedRequest): JsonReply {
    if (!request.path.startsWith("/api2/json/")) return { status: 501, statusText: "no such uri", body: "no such uri" };
    const relUri = request.path.slice("/api2/json".length);
    const tokenId = this.authenticate(request);
    if (tokenId === undefined) return { status: 401, statusText: "Authentication failed!", body: undefined };
    if ((request.method === "GET" || request.method === "DELETE") && request.body !== undefined) {
      return { status: 501, statusText: `Unexpected content for method '${request.method}'`, body: undefined };
    }
    const params = { ...request.query, ...(request.body as Record<string, unknown> | undefined) };
    try {
      const data = this.route(request.method, relUri, params, tokenId);
      return { status: 200, body: { data } };
    } catch (error) {
      if (!isPveError(error)) throw error;
      const body = {
        data: null,
        ...(this.messageInBody ? { message: error.message } : {}),
        ...(error.errors ? { errors: error.errors } : {}),
      };
      return { status: error.status, statusText: error.message.split("\n")[0] ?? "", body };
    }
  }

  /** The token's id, or undefined for a 401 (HTTPServer.pm auth_handler → verify_token). */
  private authenticate(request: LoggedRequest): string | undefined {
    const header = request.headers.authorization;
    const value = typeof header === "string" ? /(?:^|\s)PVEAPIToken(?:=| )([^;]*)/.exec(header)?.[1] : undefined;
    const refuse = (why: string) => {
      this.authLog.push(why);
      return undefined;
    };
    if (!value) return refuse("No ticket");
    const token = decodeURIComponent(value);
    const split = /^(.*)=(.*)$/.exec(token);
    if (!split) return refuse("no tokenid specified");
    const [, id = "", secret] = split;
    if (!/^[^\s:/]+@[A-Za-z][A-Za-z0-9.\-_]+![A-Za-z][A-Za-z0-9.\-_]+$/.test(id))
      return refuse(`'${id}' is not a valid token ID - not able to split into user and token parts`);
    const known = this.tokens.get(id);
    if (!known) return refuse(`no such token for '${id}'`);
    if (known.userEnabled === false) return refuse("user account disabled");
    if (known.expire !== undefined && known.expire < Date.now() / 1000) return refuse("token access expired");
    if (known.secret !== secret) return refuse("invalid token value!");
    return id;
  }

  /** RPCEnvironment::check: the token must hold every privilege on the path (ACLs propagate down). */
  private check(tokenId: string, path: string, privs: readonly string[]): void {
    const held = new Set(
      (this.acl.get(tokenId) ?? [])
        .filter(
          (entry) =>
            entry.path === path ||
            (entry.propagate !== false && (entry.path === "/" || path.startsWith(`${entry.path}/`))),
        )
        .flatMap((entry) => entry.privs),
    );
    for (const priv of privs) if (!held.has(priv)) throw permError(`${path}, ${priv}`);
  }

  private route(method: string, relUri: string, params: Record<string, unknown>, tokenId: string): unknown {
    const storage = /^\/storage(?:\/([^/]+))?$/.exec(relUri);
    const job = /^\/cluster\/backup(?:\/([^/]+))?$/.exec(relUri);
    if (storage) {
      const id = storage[1] === undefined ? undefined : decodeURIComponent(storage[1]);
      if (id === undefined && method === "POST") return this.createStorage(params, tokenId);
      if (id !== undefined && method === "GET") return this.readStorage(id, tokenId);
      if (id !== undefined && method === "PUT") return this.updateStorage(id, params, tokenId);
      if (id !== undefined && method === "DELETE") return this.deleteStorage(id, tokenId);
    }
    if (job) {
      const id = job[1] === undefined ? undefined : decodeURIComponent(job[1]);
      if (id === undefined && method === "POST") return this.createJob(params, tokenId);
      if (id !== undefined && method === "GET") return this.readJob(id, tokenId);
      if (id !== undefined && method === "PUT") return this.updateJob(id, params, tokenId);
      if (id !== undefined && method === "DELETE") return this.deleteJob(id, tokenId);
    }
    throw new PveError(501, `Method '${method} ${relUri}' not implemented`);
  }

  // ---- storage (pve-storage Config.pm) ------------------------------------------------------

  /** Config.pm api_storage_config :26-41: the section as is, content and nodes printed. */
  private readStorage(id: string, tokenId: string): unknown {
    this.check(tokenId, `/storage/${id}`, ["Datastore.Allocate"]);
    const invalid = validate({ storage: id }, STORAGE_SCHEMA);
    if (invalid) throw invalid;
    const section = this.storages.get(id);
    if (!section) throw die(`storage '${id}' does not exist`);
    const { nodes, content, ...rest } = section;
    return {
      ...rest,
      storage: id,
      digest: this.digest,
      content: (content as string[] | undefined)?.join(",") || "none",
      // encode_value joins `keys %$value`: Perl hash order, here simply reversed.
      ...(nodes ? { nodes: [...(nodes as string[])].sort().reverse().join(",") } : {}),
    };
  }

  /** SectionConfig check_config for the PBS plugin (create: required options; update: no fixed ones). */
  private checkConfig(params: Record<string, unknown>, create: boolean): Section {
    const settings: Section = {};
    for (const [key, value] of Object.entries(params)) {
      const option = PBS_OPTIONS[key];
      if (!create && option?.fixed) throw die(`can't change value of fixed parameter '${key}'`);
      if (value === undefined || value === null) throw die(`got undefined value for option '${key}'`);
      if (!option) throw die(`unexpected property '${key}'`);
      const text = typeof value === "boolean" ? String(boolValue(value)) : (str(value) ?? "");
      if (/[\n\r]/.test(text)) throw die("property contains a line feed");
      if (key === "nodes") settings.nodes = [...new Set(splitList(text))];
      else if (key === "content") settings.content = [...new Set(splitList(text))];
      else settings[key] = NUMERIC.has(key) ? Number(text) : text;
    }
    if (create) {
      for (const [key, option] of Object.entries(PBS_OPTIONS))
        if (!option.optional && params[key] === undefined) throw die(`missing value for required option '${key}'`);
    }
    return settings;
  }

  /** Pulls the sensitive parameters out (pve-common Tools.pm extract_sensitive_params; deletes → null). */
  private static sensitive(params: Record<string, unknown>, deletes: readonly string[]): Record<string, string | null> {
    const found: Record<string, string | null> = {};
    for (const key of PBS_SENSITIVE) {
      if (deletes.includes(key)) found[key] = null;
      const value = params[key];
      delete params[key];
      if (value !== undefined && value !== null) found[key] = str(value) ?? JSON.stringify(value);
    }
    return found;
  }

  /** The key part of on_add_hook / on_update_hook (PBSPlugin.pm :517-533, :562-581). */
  private setKey(id: string, key: string, settings: Section): Record<string, string> {
    if (key === "autogen")
      throw die("fake PVE: encryption-key autogen (proxmox-backup-client key create) is not modelled");
    let decoded: unknown;
    try {
      decoded = JSON.parse(key);
    } catch {
      decoded = undefined;
    }
    if (!decoded || typeof decoded !== "object" || !("data" in decoded)) {
      throw die("Value does not seems like a valid, JSON formatted encryption key!");
    }
    this.files.set(FakePve.keyFile(id), `${key}\n`);
    const fingerprint = (decoded as { fingerprint?: unknown }).fingerprint;
    settings["encryption-key"] = typeof fingerprint === "string" && fingerprint !== "" ? fingerprint : 1;
    return { "encryption-key": key };
  }

  private deleteSecrets(id: string): void {
    this.files.delete(FakePve.passwordFile(id));
    this.files.delete(FakePve.keyFile(id));
    this.files.delete(FakePve.masterKeyFile(id));
  }

  /** PBSPlugin.pm activate_storage :844-861 with pbs_api_connect :720-760 (PVE::APIClient::LWP). */
  private activate(id: string, settings: Section): void {
    const nodes = settings.nodes as string[] | undefined;
    if (settings.disable === 1 || (nodes && !nodes.includes(this.nodeName))) return; // storage_check_enabled
    const pin = str(settings.fingerprint);
    if (!pin || pin.toUpperCase() !== this.pbs.certificateFingerprint.toUpperCase()) {
      // verify_cert_callback → manual_verify_fingerprint (pve-apiclient LWP.pm:243-248).
      throw die(
        `${id}: error fetching datastores - fingerprint '${this.pbs.certificateFingerprint.toUpperCase()}' not verified, abort!`,
      );
    }
    const password = (this.files.get(FakePve.passwordFile(id)) ?? "").split("\n")[0];
    const user = str(settings.username) ?? "root@pam";
    if (this.pbs.users.get(user) !== password) {
      // login → raise($response->status_line) (LWP.pm:219-221); PBS's reason phrase assumed.
      throw die(`${id}: error fetching datastores - 401 Unauthorized`);
    }
    const datastore = str(settings.datastore);
    if (!this.pbs.datastores.includes(datastore ?? ""))
      throw die(`${id}: Cannot find datastore '${datastore}', check permissions and existence!`);
  }

  /** Config.pm create :198-296. */
  private createStorage(input: Record<string, unknown>, tokenId: string): unknown {
    this.check(tokenId, "/storage", ["Datastore.Allocate"]);
    const params = { ...input };
    const invalid = validate(params, STORAGE_SCHEMA);
    if (invalid) throw invalid;
    const missing = ["type", "storage"].find((key) => params[key] === undefined);
    if (missing) throw paramError({ [missing]: "property is missing and it is not optional" });
    const type = str(params.type) ?? "";
    const id = str(params.storage) ?? "";
    delete params.type;
    delete params.storage;
    if (!params.nodes) delete params.nodes;
    if (type !== "pbs") throw die(`fake PVE: storage type '${type}' is not modelled`);
    const sensitive = FakePve.sensitive(params, []);
    const settings = this.checkConfig(params, true);
    try {
      if (this.storages.has(id)) throw die(`storage ID '${id}' already defined`);
      // on_add_hook :506-547
      let returned: Record<string, string> = {};
      if (sensitive.password) this.files.set(FakePve.passwordFile(id), `${sensitive.password}\n`);
      else this.files.delete(FakePve.passwordFile(id));
      if (sensitive["encryption-key"]) returned = this.setKey(id, sensitive["encryption-key"], settings);
      else this.files.delete(FakePve.keyFile(id));
      if (sensitive["master-pubkey"]) {
        if (settings["encryption-key"] === undefined)
          throw die("'master-pubkey' can only be used together with 'encryption-key'");
        this.files.set(FakePve.masterKeyFile(id), Buffer.from(sensitive["master-pubkey"], "base64").toString("utf8"));
        settings["master-pubkey"] = 1;
      } else this.files.delete(FakePve.masterKeyFile(id));
      try {
        this.activate(id, { ...settings, type });
      } catch (error) {
        this.deleteSecrets(id); // on_delete_hook on a failed activation (:277-281)
        throw error;
      }
      this.storages.set(id, { type, ...settings });
      this.digestCounter++;
      return { storage: id, type, config: returned };
    } catch (error) {
      throw isPveError(error) ? prefixed("create storage failed", error) : error;
    }
  }

  /** Config.pm update :298-413 with PBSPlugin on_update_hook :549-595. */
  private updateStorage(id: string, input: Record<string, unknown>, tokenId: string): unknown {
    this.check(tokenId, "/storage", ["Datastore.Allocate"]);
    const params = { ...input };
    delete params.storage;
    // updateSchema: fixed-everywhere keys (datastore) and `type` are left out; `server` stays (ESXi).
    const { type: _type, datastore: _datastore, ...updatable } = STORAGE_SCHEMA;
    const invalid = validate(params, updatable, { digest: types.string(), delete: types.string() });
    if (invalid) throw invalid;
    const digest = str(params.digest);
    const deletes = splitList(params.delete);
    delete params.digest;
    delete params.delete;
    try {
      if (digest !== undefined && digest !== this.digest)
        throw die("detected modified configuration - file changed by other user? Try again.");
      const section = this.storages.get(id);
      if (!section) throw die(`storage '${id}' does not exist`);
      const sensitive = FakePve.sensitive(params, deletes);
      const settings = this.checkConfig(params, false);
      for (const key of deletes) {
        const option = PBS_OPTIONS[key];
        if (!option) throw die(`no such option '${key}'`);
        if (!option.optional) throw die(`unable to delete required option '${key}'`);
        if (option.fixed) throw die(`unable to delete fixed option '${key}'`);
        if (settings[key] !== undefined) throw die(`cannot set and delete property '${key}' at the same time!`);
      }
      let returned: Record<string, string> = {};
      if ("password" in sensitive) {
        const password = sensitive.password;
        if (password !== null && password !== undefined) this.files.set(FakePve.passwordFile(id), `${password}\n`);
        else this.files.delete(FakePve.passwordFile(id));
      }
      if ("encryption-key" in sensitive) {
        const key = sensitive["encryption-key"];
        if (key !== null && key !== undefined) returned = this.setKey(id, key, settings);
        else this.files.delete(FakePve.keyFile(id));
      }
      if ("master-pubkey" in sensitive) {
        const master = sensitive["master-pubkey"];
        if (master !== null && master !== undefined) {
          this.files.set(FakePve.masterKeyFile(id), Buffer.from(master, "base64").toString("utf8"));
          settings["master-pubkey"] = 1;
        } else this.files.delete(FakePve.masterKeyFile(id));
      }
      for (const key of deletes) delete section[key];
      Object.assign(section, settings);
      this.digestCounter++;
      return { storage: id, type: section.type, config: returned };
    } catch (error) {
      throw isPveError(error) ? prefixed("update storage failed", error) : error;
    }
  }

  /** Config.pm delete :415-466: on_delete_hook removes the secrets, then the storage's ACLs go too. */
  private deleteStorage(id: string, tokenId: string): unknown {
    this.check(tokenId, "/storage", ["Datastore.Allocate"]);
    try {
      if (!this.storages.has(id)) throw die(`storage '${id}' does not exist`);
      this.deleteSecrets(id);
      this.storages.delete(id);
      this.digestCounter++;
    } catch (error) {
      throw isPveError(error) ? prefixed("delete storage failed", error) : error;
    }
    // PVE::AccessControl::remove_storage_access (Config.pm:462).
    for (const [token, entries] of this.acl)
      this.acl.set(
        token,
        entries.filter((entry) => entry.path !== `/storage/${id}`),
      );
    return null;
  }

  // ---- backup jobs (pve-manager PVE/API2/Backup.pm) --------------------------------------------

  /** assert_param_permission_common (:39-56). */
  private jobParamPermissions(tokenId: string, params: Record<string, unknown>): void {
    for (const key of ["tmpdir", "dumpdir", "script", "job-id"])
      if (key in params) throw paramError({ [key]: "Only root may set this option." });
    if (["bwlimit", "ionice", "performance"].some((key) => params[key] !== undefined))
      this.check(tokenId, "/", ["Sys.Modify"]);
  }

  /** $schedule_param_check (:106-121). */
  private static schedule(params: Record<string, unknown>, required: boolean): void {
    if (params.schedule !== undefined) {
      if (params.starttime !== undefined)
        throw paramError({ starttime: "'starttime' and 'schedule' cannot both be set" });
    } else if (params.starttime === undefined) {
      if (required) throw paramError({ schedule: "neither 'starttime' nor 'schedule' were set" });
    } else {
      const dow = splitList(params.dow).join(",");
      params.schedule =
        dow && dow !== "mon,tue,wed,thu,fri,sat,sun" ? `${dow} ${str(params.starttime)}` : str(params.starttime);
    }
    delete params.starttime;
    delete params.dow;
  }

  /** PVE::VZDump::verify_vzdump_parameters (pve-manager PVE/VZDump.pm). */
  private static verifyJob(params: Record<string, unknown>, checkMissing: boolean): void {
    for (const key of ["all", "exclude", "pool"])
      if (params[key] && params.vmid) throw paramError({ [key]: "option conflicts with option 'vmid'" });
    if (params.exclude !== undefined && !params.pool) params.all = 1;
    if (checkMissing && !(params.all || params.stop || params.pool) && !params.vmid)
      throw paramError({ vmid: "property is missing" });
  }

  /** JobBase check_config: one line each, booleans and integers as numbers, prune-backups parsed. */
  private static jobSettings(params: Record<string, unknown>): Section {
    const settings: Section = {};
    for (const [key, value] of Object.entries(params)) {
      if (value === undefined || value === null) continue;
      const text = typeof value === "boolean" ? String(boolValue(value)) : (str(value) ?? "");
      if (/[\n\r]/.test(text)) throw die("property contains a line feed");
      if (key === "prune-backups") {
        // decode_value → parse_property_string: the values stay strings.
        settings[key] = Object.fromEntries(
          text
            .split(",")
            .filter((part) => part !== "")
            .map((part) => part.split("=") as [string, string]),
        );
      } else settings[key] = JOB_NUMERIC.has(key) ? Number(typeof value === "boolean" ? boolValue(value) : text) : text;
    }
    return settings;
  }

  /** create_job :244-357. */
  private createJob(input: Record<string, unknown>, tokenId: string): unknown {
    this.check(tokenId, "/", ["Sys.Modify"]);
    const params = { ...input };
    const invalid = validate(params, JOB_SCHEMA);
    if (invalid) throw invalid;
    this.jobParamPermissions(tokenId, params);
    this.check(tokenId, `/storage/${str(params.storage) ?? "local"}`, ["Datastore.Allocate"]);
    FakePve.schedule(params, true);
    if (params.enabled === undefined) params.enabled = 1;
    const id = str(params.id) ?? randomUUID();
    delete params.id;
    // Inside cfs_lock_file('jobs.cfg'): an exception comes out stringified (`die "$@"`).
    try {
      if (this.jobs.has(id)) throw die(`Job '${id}' already exists`);
      FakePve.verifyJob(params, true);
      this.jobs.set(id, { type: "vzdump", ...FakePve.jobSettings(params) });
    } catch (error) {
      throw isPveError(error) && error.status !== 500 ? stringified(error) : error;
    }
    return null;
  }

  /** read_job :359-409. */
  private readJob(id: string, tokenId: string): unknown {
    this.check(tokenId, "/", ["Sys.Audit"]);
    if (!/^\S+$/.test(id) || id.length > 50) throw paramError({ id: "value does not match the regex pattern" });
    const job = this.jobs.get(id);
    if (!job || job.type !== "vzdump") throw paramError({ id: `No such job '${id}'` });
    return { ...job, id };
  }

  /** update_job :481-653. */
  private updateJob(id: string, input: Record<string, unknown>, tokenId: string): unknown {
    this.check(tokenId, "/", ["Sys.Modify"]);
    const params = { ...input };
    delete params.id;
    const invalid = validate(params, JOB_SCHEMA, { delete: types.string() });
    if (invalid) throw invalid;
    const deletes = splitList(params.delete);
    delete params.delete;
    this.jobParamPermissions(tokenId, params);
    if (params.storage !== undefined) this.check(tokenId, `/storage/${str(params.storage)}`, ["Datastore.Allocate"]);
    else if (deletes.includes("storage")) this.check(tokenId, "/storage/local", ["Datastore.Allocate"]);
    FakePve.schedule(params, false);
    try {
      if (Object.keys(params).length === 0 && deletes.length === 0) throw die("no options specified");
      FakePve.verifyJob(params, false);
      const settings = FakePve.jobSettings(params);
      const job = this.jobs.get(id);
      if (!job || job.type !== "vzdump") throw die("no such vzdump job");
      this.check(tokenId, `/storage/${str(job.storage) ?? "local"}`, ["Datastore.Allocate"]);
      const next: Section = { ...job };
      for (const key of deletes) {
        if (!(key in JOB_SCHEMA) && !JOB_DELETABLE.has(key)) throw paramError({ delete: `unknown option '${key}'` });
        delete next[key];
      }
      Object.assign(next, settings);
      if (next.exclude !== undefined && next.pool === undefined) next.all = 1;
      if (params.vmid !== undefined) {
        delete next.all;
        delete next.exclude;
        delete next.pool;
      }
      FakePve.verifyJob(next, true);
      this.jobs.set(id, next);
    } catch (error) {
      throw isPveError(error) && error.status !== 500 ? stringified(error) : error;
    }
    return null;
  }

  /** delete_job :411-479 (the "No such job" exception comes out stringified, as HTTP 500). */
  private deleteJob(id: string, tokenId: string): unknown {
    this.check(tokenId, "/", ["Sys.Modify"]);
    if (!this.jobs.has(id)) throw stringified(paramError({ id: `No such job '${id}'` }));
    this.jobs.delete(id);
    return null;
  }
}
