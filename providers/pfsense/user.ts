// A local pfSense user through pfrest, for the mail host's download of config.xml. What it relies on
// was read in pfrest/pfSense-pkg-RESTAPI@v2.10.0, files under
// pfSense-pkg-RESTAPI/files/usr/local/pkg/RESTAPI/ (R/…), and pfsense/pfsense@9363ac5b src/etc/inc/:
//
// - POST, PATCH, DELETE /api/v2/user and GET /api/v2/users (R/Endpoints/UserEndpoint.inc,
//   UsersEndpoint.inc); config path system/user, ids are list positions (R/Models/User.inc, many).
//   `always_apply`: every write runs local_user_set/local_user_del at once (apply_create,
//   apply_update = del + set, apply_delete); nothing is left pending, no filter reload.
// - Fields: name (unique, at most 32 of [a-zA-Z0-9.-_], not a name in /etc/passwd), password
//   (required, `sensitive`: never shown in an answer, R/Core/Model.inc is_field_hidden), priv (list,
//   each a key of $priv_list), disabled, descr, expires, cert, authorizedkeys (Base64Field: plain
//   text in the API, base64 in config.xml), ipsecpsk; uid and scope are read-only.
// - auth.inc local_user_set: the login shell follows the privileges, most privileged first:
//   user-shell-access or page-all → /bin/tcsh, user-copy-files-chroot → scponlyc, user-copy-files
//   → /usr/local/bin/scponly, user-ssh-tunnel → ssh_tunnel_shell, else /sbin/nologin (locked). The
//   authorized keys are base64-decoded and written verbatim to /home/<name>/.ssh/authorized_keys,
//   so key options (command="…", restrict, from="…") reach sshd as the stack wrote them.
//
// Owned: the user named `name`, recognised by its description (`descr`, the marker); a user of that
// name with another description is the operator's and is never taken over. The password cannot be
// read back: it is sent on create and whenever its input changes.
import * as pulumi from "@pulumi/pulumi";
import { exclusive } from "./apply";
import { call, type PfSenseConnection } from "./client";
import { createOnce, resendAfterLookup } from "../rest";

export const USER_PATH = "/api/v2/user";
export const USERS_PATH = "/api/v2/users";

/** The fields the stack owns and compares (the password is write-only in pfrest). */
export const USER_FIELDS = ["name", "descr", "priv", "authorizedkeys", "disabled"] as const;

export interface PfSenseUserSpec {
  readonly name: string;
  /** The marker: the stack's user carries exactly this description. */
  readonly descr: string;
  readonly priv: readonly string[];
  /** authorized_keys as pfSense writes it (one line per key, options included). */
  readonly authorizedkeys: string;
  readonly disabled: boolean;
}

export interface PfSenseUserInputs {
  readonly connection: PfSenseConnection;
  readonly spec: PfSenseUserSpec;
  /** Never used to log in (the key is); pfrest requires one. Secret. */
  readonly password: string;
}

export interface PfSenseUserOutputs extends PfSenseUserInputs {
  /** The uid pfSense gave the user (R/Models/User.inc, system/nextuid). */
  readonly uid: number;
}

interface UserObject {
  readonly id: number;
  readonly name?: unknown;
  readonly descr?: unknown;
  readonly uid?: unknown;
  readonly [field: string]: unknown;
}

async function users(connection: PfSenseConnection): Promise<UserObject[]> {
  const list = await call(connection, "GET", USERS_PATH);
  if (!Array.isArray(list)) throw new Error(`pfSense ${USERS_PATH}: expected a list`);
  return list as UserObject[];
}

/**
 * The stack's user, or undefined; an operator's user of the same name is refused. `previous` is the
 * description the stack wrote before (an update may change it).
 */
async function findUser(
  connection: PfSenseConnection,
  spec: PfSenseUserSpec,
  previous?: string,
): Promise<UserObject | undefined> {
  const user = (await users(connection)).find((u) => u.name === spec.name);
  if (user && user.descr !== spec.descr && user.descr !== previous)
    throw new Error(
      `pfSense already has a user ${spec.name} that the stack did not create (its description is ` +
        `"${String(user.descr)}", the stack's is "${spec.descr}"): choose another mailstack:pfsense.configBackup.user, ` +
        `or remove that user in System > User Manager`,
    );
  return user;
}

/** The owned fields as pfSense shows them. */
function observed(user: UserObject): PfSenseUserSpec {
  return {
    name: String(user.name),
    descr: typeof user.descr === "string" ? user.descr : "",
    priv: Array.isArray(user.priv) ? (user.priv as unknown[]).map(String) : [],
    authorizedkeys: typeof user.authorizedkeys === "string" ? user.authorizedkeys : "",
    disabled: user.disabled === true,
  };
}

function changed(olds: PfSenseUserSpec, news: PfSenseUserSpec): (typeof USER_FIELDS)[number][] {
  return USER_FIELDS.filter((field) => JSON.stringify(olds[field]) !== JSON.stringify(news[field]));
}

/** PATCHes the user to `spec` (and the password, when given); returns its uid. */
async function writeUser(inputs: PfSenseUserInputs, password?: string, previous?: string): Promise<number | undefined> {
  const { connection, spec } = inputs;
  return resendAfterLookup(async () => {
    const user = await findUser(connection, spec, previous);
    if (!user) return undefined;
    const fields = changed(observed(user), spec).filter((field) => field !== "name");
    if (fields.length > 0 || password !== undefined)
      await call(connection, "PATCH", USER_PATH, {
        body: {
          id: user.id,
          ...Object.fromEntries(fields.map((field) => [field, spec[field]])),
          ...(password !== undefined ? { password } : {}),
        },
        idempotent: false,
      });
    return Number(user.uid);
  }, connection.retries);
}

/** Self-contained (dynamic providers are serialized): only `call`, `exclusive` and ../rest. */
export const pfSenseUserProvider: pulumi.dynamic.ResourceProvider<PfSenseUserInputs, PfSenseUserOutputs> = {
  check(_olds, news) {
    const failures: pulumi.dynamic.CheckFailure[] = [];
    if (!/^[a-zA-Z0-9.\-_]{1,32}$/.test(news.spec.name))
      failures.push({ property: "spec", reason: "name: at most 32 of a-z, A-Z, 0-9, '.', '-', '_'" });
    if (!news.spec.descr) failures.push({ property: "spec", reason: "descr (the marker) must not be empty" });
    if (news.spec.priv.some((priv) => priv === "page-all" || priv === "user-shell-access"))
      failures.push({ property: "spec", reason: "priv: a shell or page-all is more than this user may have" });
    if (!news.password) failures.push({ property: "password", reason: "pfrest requires a password" });
    if (!/^https:\/\//.test(news.connection.endpoint))
      failures.push({ property: "connection", reason: "the endpoint must be https://" });
    return Promise.resolve({ inputs: news, failures });
  },

  create(inputs) {
    return exclusive(inputs.connection, async () => {
      const { connection, spec, password } = inputs;
      // A user with our marker is ours (left by an interrupted run): bring it to the spec.
      const existing = await findUser(connection, spec);
      const uid = existing
        ? await writeUser(inputs, password)
        : await createOnce(
            async () => {
              const created = (await call(connection, "POST", USER_PATH, {
                body: { ...spec, priv: [...spec.priv], password },
              })) as UserObject;
              return Number(created.uid);
            },
            async () => ((await findUser(connection, spec)) ? writeUser(inputs, password) : undefined),
            connection.retries,
          );
      if (uid === undefined) throw new Error(`pfSense user ${spec.name} vanished while it was being created`);
      return { id: spec.name, outs: { ...inputs, uid } };
    });
  },

  async read(id, props) {
    if (!props) throw new Error(`pfSense user ${id}: nothing to read without its connection`);
    const user = (await users(props.connection)).find((u) => u.name === props.spec.name);
    if (!user || user.descr !== props.spec.descr) return {}; // gone (or no longer ours)
    return { id, props: { ...props, spec: observed(user), uid: Number(user.uid) } };
  },

  diff(_id, olds, news) {
    const fields = changed(olds.spec, news.spec);
    return Promise.resolve({
      changes:
        fields.length > 0 || olds.password !== news.password || olds.connection.endpoint !== news.connection.endpoint,
      // pfSense keeps a user's home, keys and uid by name: another name is another user.
      replaces: fields.includes("name") ? ["spec.name"] : [],
      deleteBeforeReplace: false,
    });
  },

  update(_id, olds, news) {
    return exclusive(news.connection, async () => {
      const password = olds.password !== news.password ? news.password : undefined;
      const uid = await writeUser(news, password, olds.spec.descr);
      if (uid === undefined)
        throw new Error(`pfSense user ${news.spec.name} is gone; run \`pulumi refresh\` to create it again`);
      return { outs: { ...news, uid } };
    });
  },

  async delete(_id, props) {
    await exclusive(props.connection, async () => {
      await resendAfterLookup(async () => {
        const user = (await users(props.connection)).find(
          (u) => u.name === props.spec.name && u.descr === props.spec.descr,
        );
        if (!user) return;
        await call(props.connection, "DELETE", USER_PATH, { query: { id: user.id }, idempotent: false });
      }, props.connection.retries);
    });
  },
};

type Connection = pulumi.Input<{
  endpoint: pulumi.Input<string>;
  apiKey: pulumi.Input<string>;
  caCertificate?: pulumi.Input<string>;
}>;

/** A local pfSense user owned by the stack (its description is the marker). */
export class PfSenseUser extends pulumi.dynamic.Resource {
  declare readonly uid: pulumi.Output<number>;
  declare readonly spec: pulumi.Output<PfSenseUserSpec>;

  constructor(
    name: string,
    args: { connection: Connection; spec: pulumi.Input<PfSenseUserSpec>; password: pulumi.Input<string> },
    opts?: pulumi.CustomResourceOptions,
  ) {
    super(
      pfSenseUserProvider,
      name,
      { ...args, uid: undefined },
      { ...opts, additionalSecretOutputs: ["connection", "password"] },
      "pfsense",
      "User",
    );
  }
}
