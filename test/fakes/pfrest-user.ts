// The fake pfrest's local users (POST/PATCH/DELETE /api/v2/user, GET /api/v2/users), rebuilt from
// pfrest's source and what pfSense does when a user is written.
// Upstream source: pfrest/pfSense-pkg-RESTAPI@v2.10.0
// pfSense-pkg-RESTAPI/files/usr/local/pkg/RESTAPI/Models/User.inc, Endpoints/UserEndpoint.inc,
// Endpoints/UsersEndpoint.inc, Fields/Base64Field.inc, Core/Field.inc, Core/Model.inc;
// pfsense/pfsense@9363ac5b src/etc/inc/auth.inc (local_user_set), src/etc/inc/priv/user.priv.inc.
// (file@tag: Models/User.inc@v2.10.0, Core/Field.inc@v2.10.0, auth.inc@9363ac5b)
//
// What it reproduces: config path system/user with the shipped admin (uid 0, scope system) first,
// ids are positions; uid from system/nextuid (2000 on a fresh pfSense), bumped on create; the
// password required on create and never shown (sensitive); name unique (FIELD_MUST_BE_UNIQUE), at
// most 32 characters of [a-zA-Z0-9.-_], not a name from /etc/passwd
// (USER_CANNOT_USE_RESERVED_USERNAME); every priv a known privilege (404 USER_PRIV_NOT_FOUND);
// a system user cannot be deleted. `always_apply`: each write runs local_user_set at once, which
// the fake records as the account pfSense makes: the login shell chosen from the privileges and
// the authorized_keys file, written verbatim from the base64-decoded field.
export type UserRecord = Record<string, unknown>;

type Refuse = (code: number, responseId: string, message: string) => never;

/** Names in pfSense's /etc/passwd (FreeBSD's base users plus pfSense's), reserved by User.inc. */
const RESERVED = ["root", "toor", "daemon", "operator", "bin", "tty", "kmem", "games", "news", "man", "sshd"];
RESERVED.push("smmsp", "mailnull", "bind", "unbound", "proxy", "_pflogd", "_dhcp", "uucp", "pop", "www", "nobody");

/** A part of $priv_list (priv.defs.inc, priv/user.priv.inc): the ones the tests name. */
export const KNOWN_PRIVILEGES = [
  "page-all",
  "user-shell-access",
  "user-copy-files",
  "user-copy-files-chroot",
  "user-ssh-tunnel",
  "user-ipsec-xauth-dialin",
  "page-diagnostics-backup-restore",
  "page-diagnostics-command",
];

const FIELDS = ["name", "password", "priv", "disabled", "descr", "expires", "cert", "authorizedkeys", "ipsecpsk"];

/** What local_user_set leaves on disk for a user. */
export interface Account {
  readonly shell: string;
  readonly locked: boolean;
  /** ~/.ssh/authorized_keys, absent when the field is empty (unlink_if_exists). */
  readonly authorizedKeys?: string;
}

/** auth.inc local_user_set: the shell by privilege, most privileged first. */
export function accountOf(user: UserRecord): Account {
  const priv = Array.isArray(user.priv) ? (user.priv as string[]) : [];
  const has = (name: string) => priv.includes(name);
  let shell = "/sbin/nologin";
  let locked = false;
  if (has("user-shell-access") || has("page-all")) shell = "/bin/tcsh";
  else if (has("user-copy-files-chroot")) shell = "/usr/local/sbin/scponlyc";
  else if (has("user-copy-files")) shell = "/usr/local/bin/scponly";
  else if (has("user-ssh-tunnel")) shell = "/usr/local/sbin/ssh_tunnel_shell";
  else if (!has("user-ipsec-xauth-dialin")) locked = true;
  if (user.disabled === true) {
    shell = "/sbin/nologin";
    locked = true;
  }
  const keys = typeof user.authorizedkeys === "string" ? Buffer.from(user.authorizedkeys, "base64").toString() : "";
  return { shell, locked, ...(keys ? { authorizedKeys: keys } : {}) };
}

/** The shipped admin user (system/user[0]). */
export const ADMIN_USER: UserRecord = {
  name: "admin",
  "bcrypt-hash": "$2y$10$shipped",
  uid: 0,
  scope: "system",
  priv: ["user-shell-access"],
  disabled: false,
  descr: "System Administrator",
  expires: "",
  cert: [],
  authorizedkeys: "",
  ipsecpsk: "",
};

/** R/Core/Model.inc to_representation: the password hidden, authorizedkeys decoded. */
function shown(user: UserRecord, id: number): UserRecord {
  const { "bcrypt-hash": _hash, authorizedkeys, ...rest } = user;
  return {
    id,
    ...rest,
    authorizedkeys: typeof authorizedkeys === "string" ? Buffer.from(authorizedkeys, "base64").toString() : "",
  };
}

export interface UsersState {
  users: UserRecord[];
  nextuid: number;
}

export interface UserResult {
  readonly data: unknown;
  /** The state to store (undefined: a GET, nothing written). */
  readonly next?: UsersState;
  /** The users local_user_set or local_user_del ran for. */
  readonly applied?: { readonly set?: UserRecord; readonly deleted?: string };
}

/** One request to /api/v2/user or /api/v2/users against system/user. */
export function userRequest(
  state: UsersState,
  many: boolean,
  method: string,
  data: UserRecord,
  refuse: Refuse,
): UserResult {
  const users = state.users.map((user) => ({ ...user }));
  if (many) {
    if (method !== "GET") return refuse(405, "ENDPOINT_METHOD_NOT_ALLOWED", "not served by the fake");
    return { data: users.map(shown) };
  }
  const position = (): number => {
    if (data.id === undefined) refuse(400, "MODEL_REQUIRES_ID", "Field `id` is required.");
    const id = Number(data.id);
    if (!Number.isInteger(id) || !users[id])
      refuse(404, "MODEL_OBJECT_NOT_FOUND", `Object with ID \`${JSON.stringify(data.id)}\` does not exist.`);
    return id;
  };
  if (method === "GET") {
    const id = position();
    return { data: shown(users[id] as UserRecord, id) };
  }
  if (method === "DELETE") {
    const id = position();
    const user = users[id] as UserRecord;
    if (user.scope !== "user")
      refuse(
        400,
        "USER_WITH_SYSTEM_SCOPE_CANNOT_BE_DELETED",
        `System user \`${String(user.name)}\` cannot be deleted.`,
      );
    users.splice(id, 1);
    return { data: shown(user, id), next: { ...state, users }, applied: { deleted: String(user.name) } };
  }
  const creating = method === "POST";
  const id = creating ? users.length : position();
  const before: UserRecord = creating
    ? { uid: state.nextuid, scope: "user", priv: [], disabled: false, descr: "", expires: "", cert: [] }
    : { ...(users[id] as UserRecord) };
  if (creating) Object.assign(before, { authorizedkeys: "", ipsecpsk: "" });
  const fields = Object.fromEntries(Object.entries(data).filter(([name]) => FIELDS.includes(name)));
  if (creating) {
    for (const name of ["name", "password"])
      if (fields[name] === undefined) refuse(400, "FIELD_IS_REQUIRED", `Field \`${name}\` is required.`);
  }
  const next: UserRecord = { ...before };
  for (const [name, value] of Object.entries(fields)) {
    if (name === "priv" || name === "cert") {
      if (!Array.isArray(value) || value.some((item) => typeof item !== "string"))
        refuse(400, "FIELD_INVALID_MANY_VALUE", `Field \`${name}\` must be of type \`array\``);
    } else if (name === "disabled") {
      if (typeof value !== "boolean") refuse(400, "FIELD_INVALID_TYPE", "Field `disabled` must be of type `boolean`");
    } else if (typeof value !== "string") {
      refuse(400, "FIELD_INVALID_TYPE", `Field \`${name}\` must be of type \`string\``);
    }
    if (name === "password") next["bcrypt-hash"] = `$2y$10$${Buffer.from(String(value)).toString("base64")}`;
    else if (name === "authorizedkeys") next.authorizedkeys = Buffer.from(String(value)).toString("base64");
    else next[name] = value;
  }
  const name = String(next.name);
  if (name.length > 32) refuse(400, "FIELD_EXCEEDS_MAXIMUM_LENGTH", "Field `name` exceeds the maximum length of 32");
  if (!/^[a-zA-Z0-9.\-_]+$/.test(name)) refuse(400, "REGEX_VALIDATOR_FAILED", "Value contains invalid characters.");
  if (RESERVED.includes(name) && name !== before.name)
    refuse(
      400,
      "USER_CANNOT_USE_RESERVED_USERNAME",
      `Field \`username\` cannot use system reserved username \`${name}\`.`,
    );
  const other = users.findIndex((user, index) => index !== id && user.name === name);
  if (other >= 0)
    refuse(
      400,
      "FIELD_MUST_BE_UNIQUE",
      `Field \`name\` must be unique. Value is in use by object with ID \`${other}\`.`,
    );
  for (const priv of next.priv as string[])
    if (!KNOWN_PRIVILEGES.includes(priv))
      refuse(404, "USER_PRIV_NOT_FOUND", `Field \`priv\` contains unknown privilege \`${priv}\``);
  users[id] = next;
  return {
    data: shown(next, id),
    next: { users, nextuid: creating ? state.nextuid + 1 : state.nextuid },
    applied: { set: next },
  };
}
